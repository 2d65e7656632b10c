/* JWS compact serialization (RFC 7515) as Plaid's webhook JWTs use it: split header.payload.sig,
 * decode each part with strict base64url and read the few claims we need. Parsing only: signature
 * checking and policy (which alg is allowed, how old iat may be) live in mlc_plaid_webhook. */
#ifndef MLC_JWT_H
#define MLC_JWT_H
#include <stddef.h>
#include <stdint.h>

#define MLC_JWT_MAX_LEN 4096   /* whole token; Plaid's are about 500 bytes */
#define MLC_JWT_JSON_MAX 1024  /* decoded header or payload JSON */
#define MLC_JWT_SIG_MAX 512    /* decoded signature bytes (ES256 needs 64) */
#define MLC_JWT_KID_MAX 128    /* Plaid's key ids are UUIDs (36 characters) */

struct mlc_jwt {
    /* header, filled by mlc_jwt_split */
    char alg[16];
    char kid[MLC_JWT_KID_MAX + 1];
    char typ[16];
    uint8_t sig[MLC_JWT_SIG_MAX];
    size_t sig_len;
    const char *signing_input;     /* "header.payload": points into the caller's token */
    size_t signing_input_len;
    const char *payload_b64;       /* into the token as well */
    size_t payload_b64_len;
    /* payload claims, filled by mlc_jwt_parse_payload */
    int has_iat;
    int64_t iat;                   /* seconds since the epoch */
    char body_sha256[65];          /* request_body_sha256: 64 hex digits, "" when absent */
};

/* Splits token[0..len) into its three parts, decodes the header JSON (alg required, kid and typ
 * optional; a "crit" header is refused since we implement no extensions) and the signature bytes
 * (may be empty). The payload is NOT read, so a caller can reject the alg before anything else.
 * MLC_ERR_TOO_BIG past the size caps, MLC_ERR_DATA for anything malformed. The token must stay
 * alive while jwt is used. */
int mlc_jwt_split(const char *token, size_t len, struct mlc_jwt *jwt);

/* Decodes the payload JSON: iat (integer seconds) and request_body_sha256 (64 hex digits) when
 * present; either missing is left unset, a present but wrongly typed claim is MLC_ERR_DATA. */
int mlc_jwt_parse_payload(struct mlc_jwt *jwt);
#endif
