/* What touches the operating system: clocks, randomness, files and directories.
 * Core code uses these instead of OS headers, so it can be tested and ported. */
#ifndef MLC_PLATFORM_H
#define MLC_PLATFORM_H
#include <stddef.h>
#include <stdint.h>

/* Wall-clock time, milliseconds since the Unix epoch (UTC). */
int64_t mlc_time_now_ms(void);
/* Monotonic time in milliseconds, for timers and timeouts. */
int64_t mlc_time_mono_ms(void);
/* Formats epoch ms as 2026-11-25T14:00:00Z (UTC). Returns buf. */
char *mlc_time_format_iso(int64_t ms, char *buf, size_t cap);

/* Fills buf with n bytes from the OS random source (getrandom). 0 or a negative mlc_err. */
int mlc_random_bytes(void *buf, size_t n);

/* Creates a directory and its parents with the given mode. Existing directories are fine. */
int mlc_fs_mkdir_p(const char *path, unsigned mode);
/* Writes a whole file atomically: temp file, fsync, rename, fsync of the directory.
 * Nothing half-written is ever visible under path. */
int mlc_fs_write_atomic(const char *path, const void *data, size_t len, unsigned mode);
/* Reads a whole file (at most max bytes) into a NUL-terminated mlc_malloc'd buffer.
 * MLC_ERR_NOTFOUND if missing, MLC_ERR_TOO_BIG if larger than max. */
int mlc_fs_read_file(const char *path, size_t max, char **out, size_t *len);
/* 0 if the file exists and no group/other permission bit is set, MLC_ERR_PERM if it is
 * readable by others, MLC_ERR_NOTFOUND if missing. */
int mlc_fs_check_private(const char *path);
/* 1 if path exists, 0 if not. */
int mlc_fs_exists(const char *path);
/* Joins dir and name into out (cap bytes). MLC_ERR_TOO_BIG if it does not fit. */
int mlc_fs_join(char *out, size_t cap, const char *dir, const char *name);

/* Makes a relative path absolute against the current directory (an absolute one is copied). */
int mlc_fs_absolute(const char *path, char *out, size_t cap);

/* Constant-time comparison of two byte strings of equal length: 0 when equal. */
int mlc_ct_memcmp(const void *a, const void *b, size_t n);
/* Wipes memory in a way the compiler cannot drop. */
void mlc_wipe(void *p, size_t n);
#endif
