/* libFuzzer target for the OData answer parser, the /Date()/ parser, the __next host check and
 * the filter/URL builder fed outside text: no crash, no read past the input, no leak, and what is
 * accepted keeps the documented bounds. Seeds: tests/fuzz/corpus/fuzz_odata/. */
#include "mlc_alloc.h"
#include "mlc_err.h"
#include "mlc_odata.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
    const char *body = (const char *)data;

    struct mlc_odata_page p;
    int rc = mlc_odata_page_parse(&p, body, size);
    check(rc == MLC_OK || rc == MLC_ERR_DATA || rc == MLC_ERR_TOO_BIG || rc == MLC_ERR_NOMEM);
    if (rc == MLC_OK) {
        size_t n = 0;
        for (const cJSON *r; (r = mlc_odata_page_next(&p)) != NULL; n++) {
            check(cJSON_IsObject(r));
            for (const cJSON *f = r->child; f; f = f->next) {
                int64_t ms;
                int off;
                if (cJSON_IsString(f) && mlc_odata_parse_date(f->valuestring, &ms, &off) == MLC_OK)
                    check(off >= -14 * 60 - 59 && off <= 14 * 60 + 59);
            }
        }
        check(n == p.n_rows);
        if (p.next) {
            check(strlen(p.next) <= MLC_ODATA_NEXT_MAX);
            if (mlc_odata_next_check("https://start.exactonline.nl", p.next) == MLC_OK)
                check(strncmp(p.next, "https://", 8) == 0);
        }
    } else {
        check(p.root == NULL);
    }
    mlc_odata_page_free(&p);

    /* the same bytes as a string value, a next link and a date */
    char *text = mlc_strndup(body, size < 7000 ? size : 7000);
    if (text) {
        struct mlc_odata_filter f;
        mlc_odata_filter_init(&f);
        mlc_odata_filter_string(&f, MLC_ODATA_AND, "Description", MLC_ODATA_EQ, text);
        mlc_odata_filter_guid(&f, MLC_ODATA_OR, "EntryID", MLC_ODATA_EQ, text);
        const char *ft = mlc_odata_filter_text(&f);
        struct mlc_odata_query q = { .base = "https://start.exactonline.nl", .division = 1,
                                     .service = "financialtransaction", .entity = "BankEntryLines",
                                     .select = "ID", .filter = ft, .top = 5 };
        char url[MLC_ODATA_URL_MAX + 1];
        rc = mlc_odata_build_url(&q, url, sizeof(url));
        if (rc == MLC_OK) {
            check(strlen(url) <= MLC_ODATA_URL_MAX);
            for (const char *u = url; *u; u++) /* encoded: nothing that ends or splits the URL */
                check(*u > 0x20 && *u < 0x7f && *u != '#' && *u != ' ');
            check(strchr(strchr(url, '?') + 1, '?') == NULL);
        }
        mlc_odata_filter_free(&f);
        (void)mlc_odata_next_check("https://start.exactonline.nl", text);
        int64_t ms;
        (void)mlc_odata_parse_date(text, &ms, NULL);
        mlc_free(text);
    }
    check(mlc_alloc_current() == base);
    return 0;
}
