#include "mlc_net.h"
#include "mlc_err.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Numeric addresses only: a name lookup here could block the loop on DNS. */
static int to_sockaddr(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof(*ss));
    if (port < 0 || port > 65535)
        return MLC_ERR_CONFIG;
    if (strcmp(host, "localhost") == 0)
        host = "127.0.0.1";
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        *len = sizeof(*a4);
        return MLC_OK;
    }
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*a6);
        return MLC_OK;
    }
    return MLC_ERR_CONFIG;
}

static int set_flags(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return MLC_ERR_IO;
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
        return MLC_ERR_IO;
    return MLC_OK;
}

static void format_peer(const struct sockaddr_storage *ss, char *out, size_t cap)
{
    char a[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
        port = ntohs(s4->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
        port = ntohs(s6->sin6_port);
    }
    snprintf(out, cap, "%s:%d", a, port);
}

int mlc_net_listen(const char *host, int port, int backlog, int *fd_out, int *port_out)
{
    struct sockaddr_storage ss;
    socklen_t slen;
    int rc = to_sockaddr(host, port, &ss, &slen), fd = -1, one = 1;
    *fd_out = -1;
    if (rc != MLC_OK)
        return rc;
    fd = socket(ss.ss_family, SOCK_STREAM, 0);
    if (fd < 0)
        return MLC_ERR_IO;
    rc = set_flags(fd);
    if (rc != MLC_OK)
        goto out;
    /* A restart must not wait for old connections in TIME_WAIT to let go of the port. */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, slen) < 0) {
        rc = errno == EADDRINUSE ? MLC_ERR_EXISTS
           : (errno == EACCES || errno == EADDRNOTAVAIL) ? MLC_ERR_PERM : MLC_ERR_IO;
        goto out;
    }
    if (listen(fd, backlog > 0 ? backlog : 16) < 0) {
        rc = MLC_ERR_IO;
        goto out;
    }
    if (port_out) {
        struct sockaddr_storage got;
        socklen_t glen = sizeof(got);
        if (getsockname(fd, (struct sockaddr *)&got, &glen) < 0) {
            rc = MLC_ERR_IO;
            goto out;
        }
        *port_out = got.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&got)->sin_port)
                                             : ntohs(((struct sockaddr_in6 *)&got)->sin6_port);
    }
    *fd_out = fd;
    fd = -1;
    rc = MLC_OK;
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

int mlc_net_accept(int listen_fd, int *fd_out, char *peer, size_t peer_cap)
{
    struct sockaddr_storage ss;
    socklen_t slen = sizeof(ss);
    *fd_out = -1;
    int fd = accept(listen_fd, (struct sockaddr *)&ss, &slen);
    if (fd < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED)
            return MLC_ERR_RETRY;
        return MLC_ERR_IO;
    }
    if (set_flags(fd) != MLC_OK) {
        close(fd);
        return MLC_ERR_IO;
    }
    if (peer && peer_cap)
        format_peer(&ss, peer, peer_cap);
    *fd_out = fd;
    return MLC_OK;
}

int mlc_net_connect(const char *host, int port, int *fd_out)
{
    struct sockaddr_storage ss;
    socklen_t slen;
    *fd_out = -1;
    int rc = to_sockaddr(host, port, &ss, &slen);
    if (rc != MLC_OK)
        return rc;
    int fd = socket(ss.ss_family, SOCK_STREAM, 0);
    if (fd < 0)
        return MLC_ERR_IO;
    if (set_flags(fd) != MLC_OK ||
        (connect(fd, (struct sockaddr *)&ss, slen) < 0 && errno != EINPROGRESS)) {
        close(fd);
        return MLC_ERR_IO;
    }
    *fd_out = fd;
    return MLC_OK;
}

int mlc_net_read(int fd, void *buf, size_t cap, size_t *got)
{
    *got = 0;
    ssize_t n = recv(fd, buf, cap, 0);
    if (n < 0)
        return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? MLC_ERR_RETRY
                                                                            : MLC_ERR_IO;
    *got = (size_t)n;
    return MLC_OK;
}

int mlc_net_write(int fd, const void *buf, size_t n, size_t *put)
{
    *put = 0;
    ssize_t w = send(fd, buf, n, MSG_NOSIGNAL);
    if (w < 0)
        return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? MLC_ERR_RETRY
                                                                            : MLC_ERR_IO;
    *put = (size_t)w;
    return MLC_OK;
}

void mlc_net_shutdown_write(int fd)
{
    if (fd >= 0)
        shutdown(fd, SHUT_WR);
}

void mlc_net_close(int fd)
{
    if (fd >= 0)
        close(fd);
}

int mlc_net_addr_ok(const char *host)
{
    struct sockaddr_storage ss;
    socklen_t slen;
    return host && to_sockaddr(host, 0, &ss, &slen) == MLC_OK;
}

int mlc_net_is_loopback(const char *host)
{
    struct sockaddr_storage ss;
    socklen_t slen;
    if (!host || to_sockaddr(host, 0, &ss, &slen) != MLC_OK)
        return 0;
    if (ss.ss_family == AF_INET) {
        const uint8_t *b = (const uint8_t *)&((struct sockaddr_in *)&ss)->sin_addr;
        return b[0] == 127;
    }
    const struct in6_addr *a6 = &((struct sockaddr_in6 *)&ss)->sin6_addr;
    if (IN6_IS_ADDR_LOOPBACK(a6))
        return 1;
    return IN6_IS_ADDR_V4MAPPED(a6) && a6->s6_addr[12] == 127;
}

int mlc_net_first_lan_ipv4(char *out, size_t cap)
{
    struct ifaddrs *ifs = NULL;
    int rc = MLC_ERR_NOTFOUND;
    if (getifaddrs(&ifs) < 0)
        return MLC_ERR_IO;
    for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !(i->ifa_flags & IFF_UP) ||
            (i->ifa_flags & IFF_LOOPBACK))
            continue;
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)i->ifa_addr;
        if (inet_ntop(AF_INET, &s4->sin_addr, out, (socklen_t)cap)) {
            rc = MLC_OK;
            break;
        }
    }
    freeifaddrs(ifs);
    return rc;
}
