/* libFuzzer target for mlc_exact_code_parse: what an installer pastes after consenting at Exact
 * (the whole redirect URL, a query string or the bare code), outside text that goes on into the
 * token request. Promises checked: no crash or read past the text; a code is only handed out when
 * one was found, non-empty, without spaces or '&' (which would split the form body), and within
 * its buffer together with the state; an "error=" answer is never taken for a code; and the
 * result does not depend on how big the caller's buffers are, beyond MLC_ERR_TOO_BIG.
 * Seeds: tests/fuzz/corpus/fuzz_exact_code/. */
#include "mlc_err.h"
#include "mlc_exact.h"

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
    static char input[9000];
    static char code[MLC_EXACT_CODE_MAX + 1], code2[MLC_EXACT_CODE_MAX + 1];
    char state[MLC_EXACT_STATE_LEN * 2 + 1], state2[sizeof(state)];
    if (size >= sizeof(input))
        return 0;
    memcpy(input, data, size);
    input[size] = '\0';

    int rc = mlc_exact_code_parse(input, code, sizeof(code), state, sizeof(state));
    check(rc == MLC_OK || rc == MLC_ERR_DATA || rc == MLC_ERR_TOO_BIG || rc == MLC_ERR_NOTFOUND);
    if (rc == MLC_OK) {
        check(code[0] != '\0' && strlen(code) < sizeof(code) && strlen(state) < sizeof(state));
        check(strchr(code, ' ') == NULL && strchr(code, '&') == NULL);
        const char *q = strchr(input, '?');
        check(!q || strncmp(q + 1, "error=", 6) != 0);
    }
    /* a small buffer may only turn success into MLC_ERR_TOO_BIG, never change the code */
    char small[16];
    int rc2 = mlc_exact_code_parse(input, small, sizeof(small), state2, sizeof(state2));
    if (rc == MLC_OK)
        check(rc2 == MLC_ERR_TOO_BIG || (rc2 == MLC_OK && strcmp(small, code) == 0 &&
                                         strcmp(state2, state) == 0));
    else if (rc != MLC_ERR_TOO_BIG)
        check(rc2 != MLC_OK);
    /* deterministic */
    check(mlc_exact_code_parse(input, code2, sizeof(code2), state2, sizeof(state2)) == rc);
    if (rc == MLC_OK)
        check(strcmp(code, code2) == 0 && strcmp(state, state2) == 0);
    return 0;
}
