#include "mlc_test_util.h"
#include "mlc_alloc.h"
#include "mlc_b64.h"
#include "mlc_err.h"
#include "mlc_jwt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* RFC 7515 appendix A.3 (ES256): an independent token to read. */
static const char rfc7515_a3[] =
    "eyJhbGciOiJFUzI1NiJ9."
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ."
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

static int dec(const char *in, uint8_t *out, size_t cap, size_t *n)
{
    return mlc_b64url_decode(in, strlen(in), out, cap, n);
}

static void base64url_round_trips_rfc4648_vectors(void **state)
{
    (void)state;
    /* RFC 4648 section 10 vectors, without padding */
    static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
    static const char *const enc[] = { "", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy" };
    for (size_t k = 0; k < 7; k++) {
        char e[16];
        uint8_t d[16];
        size_t n = 99;
        assert_int_equal(mlc_b64url_encode((const uint8_t *)plain[k], strlen(plain[k]), e, sizeof(e)),
                         (int)strlen(enc[k]));
        assert_string_equal(e, enc[k]);
        assert_int_equal(dec(enc[k], d, sizeof(d), &n), MLC_OK);
        assert_int_equal(n, strlen(plain[k]));
        assert_memory_equal(d, plain[k], n);
    }
    /* the url-safe characters, both ways */
    uint8_t bytes[] = { 0xfb, 0xff, 0xbf };
    char e[8];
    assert_int_equal(mlc_b64url_encode(bytes, 3, e, sizeof(e)), 4);
    assert_string_equal(e, "-_-_");
}

static void base64url_is_strict_and_bounded(void **state)
{
    (void)state;
    uint8_t d[8];
    size_t n;
    assert_int_equal(dec("Zg==", d, sizeof(d), &n), MLC_ERR_DATA);     /* padding */
    assert_int_equal(dec("Zm9v+A", d, sizeof(d), &n), MLC_ERR_DATA);   /* standard alphabet */
    assert_int_equal(dec("Zm9v/A", d, sizeof(d), &n), MLC_ERR_DATA);
    assert_int_equal(dec("Zm 9v", d, sizeof(d), &n), MLC_ERR_DATA);    /* whitespace */
    assert_int_equal(dec("Zm9vY", d, sizeof(d), &n), MLC_ERR_DATA);    /* 4k+1 characters */
    assert_int_equal(dec("Zh", d, sizeof(d), &n), MLC_ERR_DATA);       /* non-zero spare bits */
    assert_int_equal(dec("Zm9", d, sizeof(d), &n), MLC_ERR_DATA);
    /* output never overruns: 6 bytes into a 5-byte buffer is refused, 5 fit exactly */
    assert_int_equal(dec("Zm9vYmFy", d, 5, &n), MLC_ERR_TOO_BIG);
    assert_int_equal(dec("Zm9vYmE", d, 5, &n), MLC_OK);
    assert_int_equal(n, 5);
    char e[4];
    assert_int_equal(mlc_b64url_encode((const uint8_t *)"foo", 3, e, sizeof(e)), MLC_ERR_TOO_BIG);
}

static void splits_rfc7515_es256_token(void **state)
{
    (void)state;
    struct mlc_jwt jwt;
    assert_int_equal(mlc_jwt_split(rfc7515_a3, strlen(rfc7515_a3), &jwt), MLC_OK);
    assert_string_equal(jwt.alg, "ES256");
    assert_string_equal(jwt.kid, "");
    assert_int_equal(jwt.sig_len, 64);
    assert_int_equal(jwt.sig[0], 0x0e);
    assert_int_equal(jwt.sig[63], 0xd5);
    assert_ptr_equal(jwt.signing_input, rfc7515_a3);
    assert_int_equal(jwt.signing_input_len, strrchr(rfc7515_a3, '.') - rfc7515_a3);
    /* no iat, no request_body_sha256: read fine, just unset */
    assert_int_equal(mlc_jwt_parse_payload(&jwt), MLC_OK);
    assert_int_equal(jwt.has_iat, 0);
    assert_string_equal(jwt.body_sha256, "");
}

/* Builds header.payload.sig from JSON texts (sig given as raw text, already base64url). */
static char *mk(const char *hdr, const char *payload, const char *sig)
{
    char h[2048], p[2048];
    assert_true(mlc_b64url_encode((const uint8_t *)hdr, strlen(hdr), h, sizeof(h)) >= 0);
    assert_true(mlc_b64url_encode((const uint8_t *)payload, strlen(payload), p, sizeof(p)) >= 0);
    size_t n = strlen(h) + strlen(p) + strlen(sig) + 3;
    char *t = malloc(n);
    assert_non_null(t);
    snprintf(t, n, "%s.%s.%s", h, p, sig);
    return t;
}

static void reads_plaid_claims(void **state)
{
    (void)state;
    char *t = mk("{\"alg\":\"ES256\",\"kid\":\"6c5516e1-92dc-479e-a8ff-5a51992e0001\",\"typ\":\"JWT\"}",
                 "{\"iat\":1764079200,\"request_body_sha256\":"
                 "\"ab55083022ce19a95eabcb3cff9ce31432dec1304d1859fc481bc5fb53cc5d72\"}", "");
    struct mlc_jwt jwt;
    assert_int_equal(mlc_jwt_split(t, strlen(t), &jwt), MLC_OK);
    assert_string_equal(jwt.kid, "6c5516e1-92dc-479e-a8ff-5a51992e0001");
    assert_string_equal(jwt.typ, "JWT");
    assert_int_equal(jwt.sig_len, 0);
    assert_int_equal(mlc_jwt_parse_payload(&jwt), MLC_OK);
    assert_int_equal(jwt.iat, 1764079200);
    assert_string_equal(jwt.body_sha256, "ab55083022ce19a95eabcb3cff9ce31432dec1304d1859fc481bc5fb53cc5d72");
    free(t);
}

static void refuses_malformed_tokens(void **state)
{
    (void)state;
    struct mlc_jwt jwt;
    static const char *const bad[] = {
        "", "abc", "eyJhbGciOiJFUzI1NiJ9.e30", "eyJhbGciOiJFUzI1NiJ9.e30.AA.AA", ".e30.", "eyJhbGciOiJFUzI1NiJ9..",
        "eyJhbGciOiJFUzI1NiJ9.e30.A*", "eyJhbGciOiJFUzI1NiJ9=.e30.", "bm90IGpzb24.e30.",
        "W10.e30.", /* header [] is not an object */
    };
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++)
        if (mlc_jwt_split(bad[k], strlen(bad[k]), &jwt) == MLC_OK)
            fail_msg("accepted \"%s\"", bad[k]);
    char *t;
    t = mk("{\"kid\":\"k\"}", "{}", "");                           /* no alg */
    assert_int_equal(mlc_jwt_split(t, strlen(t), &jwt), MLC_ERR_DATA);
    free(t);
    t = mk("{\"alg\":5}", "{}", "");                               /* alg not a string */
    assert_int_equal(mlc_jwt_split(t, strlen(t), &jwt), MLC_ERR_DATA);
    free(t);
    t = mk("{\"alg\":\"ES256\",\"crit\":[\"b64\"]}", "{}", "");    /* extension we do not know */
    assert_int_equal(mlc_jwt_split(t, strlen(t), &jwt), MLC_ERR_DATA);
    free(t);
    char kid[300];
    memset(kid, 'k', sizeof(kid));
    kid[sizeof(kid) - 1] = '\0';
    char hdr[400];
    snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\",\"kid\":\"%s\"}", kid);
    t = mk(hdr, "{}", "");                                          /* kid longer than the cap */
    assert_int_equal(mlc_jwt_split(t, strlen(t), &jwt), MLC_ERR_DATA);
    free(t);
    /* payload claims of the wrong type or shape */
    static const char *const bad_payload[] = {
        "{\"iat\":\"1764079200\"}", "{\"iat\":1.5}", "{\"iat\":-1}", "{\"iat\":1e300}",
        "{\"request_body_sha256\":\"abc\"}", "{\"request_body_sha256\":7}",
        "{\"request_body_sha256\":\"zz55083022ce19a95eabcb3cff9ce31432dec1304d1859fc481bc5fb53cc5d72\"}",
        "[]", "not json",
    };
    for (size_t k = 0; k < sizeof(bad_payload) / sizeof(bad_payload[0]); k++) {
        t = mk("{\"alg\":\"ES256\"}", bad_payload[k], "");
        assert_int_equal(mlc_jwt_split(t, strlen(t), &jwt), MLC_OK);
        if (mlc_jwt_parse_payload(&jwt) == MLC_OK)
            fail_msg("accepted payload %s", bad_payload[k]);
        free(t);
    }
    /* a huge token is refused by size before any decoding */
    size_t big = MLC_JWT_MAX_LEN + 1;
    char *h = malloc(big + 1);
    assert_non_null(h);
    memset(h, 'A', big);
    h[10] = '.';
    h[20] = '.';
    h[big] = '\0';
    assert_int_equal(mlc_jwt_split(h, big, &jwt), MLC_ERR_TOO_BIG);
    free(h);
}

static void parsing_leaks_nothing(void **state)
{
    (void)state;
    assert_int_equal(mlc_alloc_install_hooks(), MLC_OK);
    size_t base = mlc_alloc_current();
    struct mlc_jwt jwt;
    for (long fail = 1; fail < 20; fail++) {
        mlc_alloc_fail_after(fail); /* every allocation failing in turn must be clean */
        if (mlc_jwt_split(rfc7515_a3, strlen(rfc7515_a3), &jwt) == MLC_OK)
            (void)mlc_jwt_parse_payload(&jwt);
        assert_int_equal(mlc_alloc_current(), base);
    }
    mlc_alloc_fail_after(0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(base64url_round_trips_rfc4648_vectors),
        cmocka_unit_test(base64url_is_strict_and_bounded),
        cmocka_unit_test(splits_rfc7515_es256_token),
        cmocka_unit_test(reads_plaid_claims),
        cmocka_unit_test(refuses_malformed_tokens),
        cmocka_unit_test(parsing_leaks_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
