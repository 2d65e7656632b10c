/* base64url (RFC 4648 section 5) as JOSE uses it: no padding, strict alphabet, canonical trailing
 * bits, output bounded by the caller's buffer. Pure: no I/O, no allocation. */
#ifndef MLC_B64_H
#define MLC_B64_H
#include <stddef.h>
#include <stdint.h>

/* Decoded size of n base64url characters (an upper bound when n is not a valid length). */
#define MLC_B64URL_DECODED_MAX(n) (((n) / 4) * 3 + 2)
/* Encoded size of n bytes, without a NUL. */
#define MLC_B64URL_ENCODED_LEN(n) (((n) / 3) * 4 + ((n) % 3 ? (n) % 3 + 1 : 0))

/* Decodes in[0..len) into out (cap bytes). MLC_ERR_DATA for '=' padding, characters outside
 * A-Z a-z 0-9 - _, a length of 4k+1, or non-zero unused trailing bits (so every byte string has
 * exactly one accepted encoding); MLC_ERR_TOO_BIG if out is too small. *out_len gets the size. */
int mlc_b64url_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *out_len);

/* Encodes data into out (cap bytes, NUL-terminated). Returns the length or MLC_ERR_TOO_BIG. */
int mlc_b64url_encode(const uint8_t *data, size_t len, char *out, size_t cap);
#endif
