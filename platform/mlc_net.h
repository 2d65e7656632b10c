/* TCP sockets for the status server (and its tests): a non-blocking listening socket, accept,
 * read/write that never block or raise SIGPIPE, and address checks. Owns only the descriptors it
 * hands out; core code calls these instead of including socket headers. */
#ifndef MLC_NET_H
#define MLC_NET_H
#include <stddef.h>

#define MLC_NET_ADDR_MAX 64 /* text form of an IPv4/IPv6 address and port */

/* Listens on host:port (an IPv4 or IPv6 address, or "localhost"; port 0 = any free port).
 * The socket is non-blocking and close-on-exec. *port_out (may be NULL) gets the bound port.
 * MLC_ERR_CONFIG when host is not an address, MLC_ERR_EXISTS when the port is taken,
 * MLC_ERR_PERM for a privileged port or an address this machine does not have, MLC_ERR_IO else. */
int mlc_net_listen(const char *host, int port, int backlog, int *fd_out, int *port_out);

/* Accepts one connection, non-blocking and close-on-exec. peer (may be NULL) gets "addr:port".
 * MLC_ERR_RETRY when none is waiting, MLC_ERR_IO on other failures. */
int mlc_net_accept(int listen_fd, int *fd_out, char *peer, size_t peer_cap);

/* Starts a non-blocking connect (tests). MLC_OK once started; completion shows as writable. */
int mlc_net_connect(const char *host, int port, int *fd_out);

/* Reads up to cap bytes. MLC_OK with *got > 0, MLC_OK with *got == 0 at end of stream,
 * MLC_ERR_RETRY when nothing is available now, MLC_ERR_IO on a reset or error. */
int mlc_net_read(int fd, void *buf, size_t cap, size_t *got);

/* Writes up to n bytes without SIGPIPE. MLC_OK with *put (may be < n), MLC_ERR_RETRY when the
 * socket buffer is full, MLC_ERR_IO when the peer is gone. */
int mlc_net_write(int fd, const void *buf, size_t n, size_t *put);

/* Ends our sending direction (FIN) but keeps reading possible. */
void mlc_net_shutdown_write(int fd);
/* Closes fd; negative fds are ignored. */
void mlc_net_close(int fd);

/* 1 when host is something mlc_net_listen accepts: an IPv4/IPv6 address or "localhost". */
int mlc_net_addr_ok(const char *host);

/* 1 when host names this machine's loopback (127.0.0.0/8, ::1, ::ffff:127.x, "localhost"). */
int mlc_net_is_loopback(const char *host);

/* Finds a non-loopback IPv4 address of an up interface (tests). MLC_ERR_NOTFOUND if none. */
int mlc_net_first_lan_ipv4(char *out, size_t cap);
#endif
