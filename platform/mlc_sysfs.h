/* Small attribute files under /sys (LEDs today), read and written below a configurable root so
 * tests and the host board profile use a plain directory tree instead of the kernel's.
 * Owns no state; knows nothing of what an attribute means (mlc_led does). */
#ifndef MLC_SYSFS_H
#define MLC_SYSFS_H
#include <stddef.h>

/* A sysfs text attribute is at most one page (PAGE_SIZE) for ordinary attributes; the LED trigger
 * list became larger on some kernels, so readers pass their own buffer and get MLC_ERR_TOO_BIG
 * rather than a silently cut value. */
#define MLC_SYSFS_PATH_MAX 512

/* Joins root and an absolute path ("/sys/class/leds/ACT") into out. root NULL or "" means the real
 * file system. MLC_ERR_TOO_BIG if it does not fit, MLC_ERR_DATA if path is not absolute or holds
 * a ".." component (a config value must not walk out of the root). */
int mlc_sysfs_path(char *out, size_t cap, const char *root, const char *path);

/* Reads the whole attribute root+path into out (cap bytes, NUL-terminated) with trailing blanks
 * and newlines removed. MLC_ERR_NOTFOUND if missing, MLC_ERR_PERM if refused, MLC_ERR_TOO_BIG if
 * it does not fit, MLC_ERR_IO otherwise. */
int mlc_sysfs_read(const char *root, const char *path, char *out, size_t cap);

/* Writes value to an existing attribute in one write(2), as the kernel requires (it parses each
 * write on its own). Never creates a file: a missing attribute is MLC_ERR_NOTFOUND. MLC_ERR_PERM
 * if refused (the service user lacks the udev rule's group), MLC_ERR_IO otherwise. */
int mlc_sysfs_write(const char *root, const char *path, const char *value);

/* 1 if root+path exists (file or directory), 0 if not. */
int mlc_sysfs_exists(const char *root, const char *path);
/* 1 if this process may write root+path (access(2) with the real ids), 0 if not: lets a missing
 * udev rule be reported at start instead of at the first state change. */
int mlc_sysfs_writable(const char *root, const char *path);

/* Makes a directory of plain files that looks like a sysfs LED (trigger "[none] timer heartbeat",
 * brightness 0, max_brightness 1, delay_on/delay_off 500), for the host board profile and tests.
 * Existing files are left as they are. Returns 0 or a negative mlc_err. */
int mlc_sysfs_make_fake_led(const char *root, const char *path);
#endif
