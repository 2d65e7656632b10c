/* libFuzzer target for Exact webhook verification. Input starting with 'S' is treated as a Content
 * text that gets signed with the test secret and wrapped in a body, so the fuzzer also reaches the
 * code behind the signature check; other input is a raw body. Checks: no crash or leak, unsigned
 * input is never accepted, accepted events keep their field rules. Seeds:
 * tests/fuzz/corpus/fuzz_exact_webhook/. */
#include "mlc_alloc.h"
#include "mlc_err.h"
#include "mlc_exact_webhook.h"
#include "mlc_odata.h"

#include <cjson/cJSON.h>
#include <mbedtls/md.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char SECRET[] = "fuzz-webhook-secret";

static void check(int ok)
{
    if (!ok)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int hooked;
    if (!hooked) {
        cJSON_Hooks h = { .malloc_fn = mlc_malloc, .free_fn = mlc_free };
        cJSON_InitHooks(&h);
        hooked = 1;
    }
    size_t base = mlc_alloc_current();
    struct mlc_webhook_event ev;
    enum mlc_webhook_result r;
    int signed_input = size > 0 && data[0] == 'S';
    if (signed_input) {
        size_t clen = size - 1;
        if (clen > MLC_WEBHOOK_BODY_MAX)
            return 0;
        unsigned char mac[32];
        check(mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), SECRET, sizeof(SECRET) - 1,
                              data + 1, clen, mac) == 0);
        char *body = malloc(clen + 128);
        check(body != NULL);
        size_t o = (size_t)sprintf(body, "{\"Content\":");
        memcpy(body + o, data + 1, clen);
        o += clen;
        o += (size_t)sprintf(body + o, ",\"HashCode\":\"");
        for (int i = 0; i < 32; i++)
            o += (size_t)sprintf(body + o, "%02X", mac[i]);
        o += (size_t)sprintf(body + o, "\"}");
        r = mlc_exact_webhook_verify(body, o, SECRET, sizeof(SECRET) - 1, &ev);
        free(body);
    } else {
        r = mlc_exact_webhook_verify((const char *)data, size, SECRET, sizeof(SECRET) - 1, &ev);
        const char *c, *h;
        size_t cl, hl;
        if (mlc_exact_webhook_split((const char *)data, size, &c, &cl, &h, &hl) == MLC_OK) {
            check(c >= (const char *)data && c + cl <= (const char *)data + size);
            check(h >= (const char *)data && h + hl <= (const char *)data + size);
            check(cl >= 2 && c[0] == '{' && c[cl - 1] == '}');
        }
        /* a raw body would need a 2^-256 guess of the HMAC to pass */
        check(r != MLC_WEBHOOK_OK);
    }
    check(r <= MLC_WEBHOOK_NO_SECRET);
    if (r == MLC_WEBHOOK_OK) {
        check(ev.topic[0] && ev.action[0] && ev.division >= 1);
        check(mlc_odata_guid_valid(ev.key));
        check(ev.endpoint[0] == '\0' || strncmp(ev.endpoint, "/api/v1/", 8) == 0);
        check(strstr(ev.endpoint, "..") == NULL);
    } else {
        check(ev.topic[0] == '\0' && ev.key[0] == '\0');
    }
    check(mlc_alloc_current() == base);
    return 0;
}
