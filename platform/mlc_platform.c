#include "mlc_platform.h"
#include "mlc_alloc.h"
#include "mlc_err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int64_t mlc_time_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t mlc_time_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *mlc_time_format_iso(int64_t ms, char *buf, size_t cap)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, cap, "?");
    return buf;
}

int mlc_random_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t r = getrandom(p, n, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return MLC_ERR_CRYPTO;
        }
        p += r;
        n -= (size_t)r;
    }
    return MLC_OK;
}

int mlc_fs_mkdir_p(const char *path, unsigned mode)
{
    char tmp[4096];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof(tmp))
        return MLC_ERR_TOO_BIG;
    memcpy(tmp, path, len + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, (mode_t)mode) != 0 && errno != EEXIST)
            return errno == EACCES ? MLC_ERR_PERM : MLC_ERR_IO;
        *p = '/';
    }
    if (mkdir(tmp, (mode_t)mode) != 0 && errno != EEXIST)
        return errno == EACCES ? MLC_ERR_PERM : MLC_ERR_IO;
    struct stat st;
    if (stat(tmp, &st) != 0 || !S_ISDIR(st.st_mode))
        return MLC_ERR_IO;
    return MLC_OK;
}

static int fsync_dir_of(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof(dir), ".");
    else if (slash == path)
        snprintf(dir, sizeof(dir), "/");
    else if ((size_t)(slash - path) < sizeof(dir))
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
    else
        return MLC_ERR_TOO_BIG;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return MLC_ERR_IO;
    int rc = fsync(fd) == 0 ? MLC_OK : MLC_ERR_IO;
    close(fd);
    return rc;
}

int mlc_fs_write_atomic(const char *path, const void *data, size_t len, unsigned mode)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp))
        return MLC_ERR_TOO_BIG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode);
    if (fd < 0)
        return errno == EACCES ? MLC_ERR_PERM : MLC_ERR_IO;
    int rc = MLC_OK;
    const unsigned char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            rc = MLC_ERR_IO;
            break;
        }
        p += w;
        left -= (size_t)w;
    }
    if (rc == MLC_OK && fchmod(fd, (mode_t)mode) != 0)
        rc = MLC_ERR_IO;
    if (rc == MLC_OK && fsync(fd) != 0)
        rc = MLC_ERR_IO;
    if (close(fd) != 0 && rc == MLC_OK)
        rc = MLC_ERR_IO;
    if (rc == MLC_OK && rename(tmp, path) != 0)
        rc = MLC_ERR_IO;
    if (rc != MLC_OK) {
        unlink(tmp);
        return rc;
    }
    return fsync_dir_of(path);
}

int mlc_fs_read_file(const char *path, size_t max, char **out, size_t *len)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? MLC_ERR_NOTFOUND : errno == EACCES ? MLC_ERR_PERM : MLC_ERR_IO;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return MLC_ERR_IO;
    }
    if ((uint64_t)st.st_size > max) {
        close(fd);
        return MLC_ERR_TOO_BIG;
    }
    size_t size = (size_t)st.st_size;
    char *buf = mlc_malloc(size + 1);
    if (!buf) {
        close(fd);
        return MLC_ERR_NOMEM;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    *out = buf;
    if (len)
        *len = got;
    return MLC_OK;
}

int mlc_fs_check_private(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return errno == ENOENT ? MLC_ERR_NOTFOUND : MLC_ERR_IO;
    return (st.st_mode & 077) ? MLC_ERR_PERM : MLC_OK;
}

int mlc_fs_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

int mlc_fs_join(char *out, size_t cap, const char *dir, const char *name)
{
    int n = snprintf(out, cap, "%s/%s", dir, name);
    return (n < 0 || (size_t)n >= cap) ? MLC_ERR_TOO_BIG : MLC_OK;
}

int mlc_fs_absolute(const char *path, char *out, size_t cap)
{
    if (path[0] == '/') {
        int n = snprintf(out, cap, "%s", path);
        return (n < 0 || (size_t)n >= cap) ? MLC_ERR_TOO_BIG : MLC_OK;
    }
    char cwd[4096];
    if (!getcwd(cwd, sizeof(cwd)))
        return MLC_ERR_IO;
    return mlc_fs_join(out, cap, cwd, path);
}

int mlc_ct_memcmp(const void *a, const void *b, size_t n)
{
    const volatile unsigned char *x = a, *y = b;
    unsigned char diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= x[i] ^ y[i];
    return diff != 0;
}

void mlc_wipe(void *p, size_t n)
{
    volatile unsigned char *v = p;
    while (n--)
        *v++ = 0;
}
