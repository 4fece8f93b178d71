/*
 * transport_tcp.c - the plain TCP transport: bytes straight to and from the socket.
 *
 * Owns only the read and write system calls on a connection's socket and how their results
 * map to the transport codes (transport.h). It may not touch the socket otherwise (conn.c
 * creates, tunes, watches and closes it), nor the connection's buffers, loop or handlers.
 */
#include "net/transport.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

static ssize_t tcp_read(struct net_transport *t, char *buf, size_t len, struct net_io_end *end)
{
    ssize_t n = read(t->fd, buf, len);
    if (n > 0)
        return n;
    if (n == 0) {
        end->err = 0;
        end->why = "peer closed the connection";
        return NET_IO_END;
    }
    if (errno == EAGAIN || errno == EINTR)
        return NET_IO_WANT_READ;
    end->err = errno;
    end->why = "read failed";
    return NET_IO_END;
}

static ssize_t tcp_writev(struct net_transport *t, const struct iovec *iov, int iovcnt,
                          struct net_io_end *end)
{
    ssize_t n;
    /* sendmsg rather than writev for MSG_NOSIGNAL: a closed peer is an error, not a SIGPIPE.
     * The queue's single buffer goes with send(), as it always has. */
    if (iovcnt == 1) {
        n = send(t->fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);
    } else {
        struct msghdr mh = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt};
        n = sendmsg(t->fd, &mh, MSG_NOSIGNAL);
    }
    if (n >= 0)
        return n;
    if (errno == EAGAIN || errno == EINTR)
        return NET_IO_WANT_WRITE;
    end->err = errno;
    end->why = "write failed";
    return NET_IO_END;
}

static const struct net_transport_ops tcp_ops = {
    .name = "TCP",
    .read = tcp_read,
    .writev = tcp_writev,
};

static int tcp_attach(struct net_transport *t, const struct net_transport_setup *s, int fd,
                      const char *server_name)
{
    (void)s;
    (void)server_name;
    t->ops = &tcp_ops;
    t->fd = fd;
    t->flags = NET_TRANSPORT_GATHERS | NET_TRANSPORT_SHORT_READ_DRAINS |
               NET_TRANSPORT_READ_AFTER_WRITE_FAIL;
    t->impl = NULL;
    return 0;
}

struct net_transport_setup net_transport_tcp(void)
{
    return (struct net_transport_setup){.attach = tcp_attach, .arg = NULL};
}
