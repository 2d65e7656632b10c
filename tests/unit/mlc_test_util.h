/* Helpers shared by the unit tests: private temporary directories and file reading. */
#ifndef MLC_TEST_UTIL_H
#define MLC_TEST_UTIL_H
#include <stddef.h>
#include <stdarg.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

/* Creates a fresh, empty directory under $MLC_TEST_TMP (or /tmp) and returns its path
 * in a static buffer that stays valid until the next call. */
const char *mlc_test_tmpdir(const char *tag);
/* Removes a directory tree (test data only). */
void mlc_test_rmtree(const char *path);
/* Reads a whole file into a NUL-terminated malloc'd buffer (free with free()); NULL if missing. */
char *mlc_test_slurp(const char *path, size_t *len);
/* Writes a file, failing the test on error. */
void mlc_test_write(const char *path, const char *text);
#endif
