/* libFuzzer target: Plaid error bodies -> parse, classify and describe; the one-line description
 * must stay one line of valid UTF-8 within its buffer. */
#include "mlc_alloc.h"
#include "mlc_err.h"
#include "mlc_plaid_error.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    mlc_alloc_install_hooks();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mlc_plaid_error e;
    size_t base = mlc_alloc_current();
    int rc = mlc_plaid_error_parse((const char *)data, size, &e);
    int http = size ? 400 + data[0] % 200 : 0;
    enum mlc_plaid_class c = mlc_plaid_error_classify(rc == MLC_OK ? &e : NULL, http);
    if (c > MLC_PLAID_BUG)
        abort();
    char line[256];
    size_t n = mlc_plaid_error_describe(rc == MLC_OK ? &e : NULL, http, line, sizeof(line));
    if (n != strlen(line) || n >= sizeof(line))
        abort();
    for (size_t i = 0; i < n;) {
        size_t k = mlc_plaid_utf8_seq((const unsigned char *)line + i, n - i);
        if (!k)
            abort();
        i += k;
    }
    if (mlc_alloc_current() != base)
        abort();
    return 0;
}
