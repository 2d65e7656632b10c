#include "mlc_sysfs.h"
#include "mlc_err.h"
#include "mlc_platform.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int map_errno(int e)
{
    switch (e) {
    case ENOENT:
    case ENOTDIR:
        return MLC_ERR_NOTFOUND;
    case EACCES:
    case EPERM:
    case EROFS:
        return MLC_ERR_PERM;
    default:
        return MLC_ERR_IO;
    }
}

int mlc_sysfs_path(char *out, size_t cap, const char *root, const char *path)
{
    if (!out || cap == 0 || !path || path[0] != '/')
        return MLC_ERR_DATA;
    /* refuse ".." as a whole component; names like "a..b" are fine */
    for (const char *p = path; (p = strstr(p, "..")) != NULL; p += 2) {
        int starts = p[-1] == '/';
        int ends = p[2] == '/' || p[2] == '\0';
        if (starts && ends)
            return MLC_ERR_DATA;
    }
    if (!root)
        root = "";
    size_t rl = strlen(root);
    while (rl > 0 && root[rl - 1] == '/')
        rl--; /* "/" and "/tmp/x/" join without a double slash */
    size_t pl = strlen(path);
    if (rl + pl + 1 > cap)
        return MLC_ERR_TOO_BIG;
    memcpy(out, root, rl);
    memcpy(out + rl, path, pl + 1);
    return MLC_OK;
}

int mlc_sysfs_read(const char *root, const char *path, char *out, size_t cap)
{
    char full[MLC_SYSFS_PATH_MAX];
    int rc = mlc_sysfs_path(full, sizeof(full), root, path);
    if (rc != MLC_OK)
        return rc;
    if (!out || cap < 2)
        return MLC_ERR_TOO_BIG;
    int fd = open(full, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return map_errno(errno);
    size_t n = 0;
    for (;;) {
        /* read one byte beyond cap-1 so an attribute that does not fit is reported, not cut */
        char *dst = n < cap - 1 ? out + n : NULL;
        char extra;
        ssize_t r = dst ? read(fd, dst, cap - 1 - n) : read(fd, &extra, 1);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            rc = map_errno(errno);
            goto out;
        }
        if (r == 0)
            break;
        if (!dst) {
            rc = MLC_ERR_TOO_BIG;
            goto out;
        }
        n += (size_t)r;
    }
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' ' || out[n - 1] == '\t'))
        n--;
    out[n] = '\0';
    rc = MLC_OK;
out:
    if (rc != MLC_OK)
        out[0] = '\0';
    close(fd);
    return rc;
}

int mlc_sysfs_write(const char *root, const char *path, const char *value)
{
    char full[MLC_SYSFS_PATH_MAX];
    int rc = mlc_sysfs_path(full, sizeof(full), root, path);
    if (rc != MLC_OK)
        return rc;
    /* O_TRUNC matters only for the fake tree (a shorter value must not leave a tail); the kernel
     * ignores it. No O_CREAT: an attribute that is not there is an answer, not something to make. */
    int fd = open(full, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return map_errno(errno);
    size_t len = strlen(value);
    ssize_t w;
    do {
        w = write(fd, value, len);
    } while (w < 0 && errno == EINTR);
    if (w < 0)
        rc = map_errno(errno);
    else if ((size_t)w != len)
        rc = MLC_ERR_IO; /* the kernel takes an attribute in one piece or not at all */
    if (close(fd) != 0 && rc == MLC_OK)
        rc = MLC_ERR_IO;
    return rc;
}

int mlc_sysfs_exists(const char *root, const char *path)
{
    char full[MLC_SYSFS_PATH_MAX];
    struct stat st;
    if (mlc_sysfs_path(full, sizeof(full), root, path) != MLC_OK)
        return 0;
    return stat(full, &st) == 0;
}

int mlc_sysfs_writable(const char *root, const char *path)
{
    char full[MLC_SYSFS_PATH_MAX];
    if (mlc_sysfs_path(full, sizeof(full), root, path) != MLC_OK)
        return 0;
    return access(full, W_OK) == 0;
}

static int make_attr(const char *dir, const char *name, const char *value)
{
    char full[MLC_SYSFS_PATH_MAX];
    int rc = mlc_fs_join(full, sizeof(full), dir, name);
    if (rc != MLC_OK)
        return rc;
    int fd = open(full, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return errno == EEXIST ? MLC_OK : map_errno(errno);
    size_t len = strlen(value);
    ssize_t w = write(fd, value, len);
    rc = w == (ssize_t)len ? MLC_OK : MLC_ERR_IO;
    if (close(fd) != 0)
        rc = MLC_ERR_IO;
    return rc;
}

int mlc_sysfs_make_fake_led(const char *root, const char *path)
{
    char dir[MLC_SYSFS_PATH_MAX];
    int rc = mlc_sysfs_path(dir, sizeof(dir), root, path);
    if (rc == MLC_OK)
        rc = mlc_fs_mkdir_p(dir, 0755);
    if (rc == MLC_OK)
        rc = make_attr(dir, "trigger", "[none] timer heartbeat default-on\n");
    if (rc == MLC_OK)
        rc = make_attr(dir, "brightness", "0\n");
    if (rc == MLC_OK)
        rc = make_attr(dir, "max_brightness", "1\n");
    if (rc == MLC_OK)
        rc = make_attr(dir, "delay_on", "500\n");
    if (rc == MLC_OK)
        rc = make_attr(dir, "delay_off", "500\n");
    return rc;
}
