/*
 * transport_tls.c - the TLS transport: one OpenSSL session per connection, on its socket.
 *
 * Owns the connection's SSL object (made from a struct net_tls, tls.c) and maps OpenSSL's
 * results to the transport codes (transport.h): SSL_ERROR_WANT_READ/WRITE become the retry
 * direction, a close_notify or a bare EOF the orderly end, anything else an error with
 * OpenSSL's reason. It may not touch the socket itself (conn.c creates, watches and closes
 * it; OpenSSL reads and writes it), nor the connection's buffers, loop or handlers, nor the
 * SSL_CTX (tls.c's).
 *
 * Every call clears OpenSSL's thread-local error queue first, so SSL_get_error() judges this
 * call and not an error left behind by an earlier connection on the same thread.
 */
#include "net/transport.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include "net/tls.h"

/* "<what>: <OpenSSL's first reason, else errno's>" into end->text. */
static void fill_reason(struct net_io_end *end, const char *what)
{
    char reason[160];
    unsigned long e = ERR_get_error();
    if (e != 0)
        ERR_error_string_n(e, reason, sizeof(reason));
    else
        snprintf(reason, sizeof(reason), "%s", errno ? strerror(errno) : "connection reset");
    ERR_clear_error();
    snprintf(end->text, sizeof(end->text), "%s: %s", what, reason);
    end->why = end->text;
}

static int tls_handshake(struct net_transport *t, struct net_io_end *end)
{
    SSL *ssl = t->impl;
    ERR_clear_error();
    int r = SSL_do_handshake(ssl);
    if (r == 1)
        return 0;
    int e = SSL_get_error(ssl, r);
    if (e == SSL_ERROR_WANT_READ)
        return NET_IO_WANT_READ;
    if (e == SSL_ERROR_WANT_WRITE)
        return NET_IO_WANT_WRITE;
    end->err = EPROTO;
    fill_reason(end, "TLS handshake failed");
    return NET_IO_END;
}

static ssize_t tls_read(struct net_transport *t, char *buf, size_t len, struct net_io_end *end)
{
    SSL *ssl = t->impl;
    ERR_clear_error();
    int r = SSL_read(ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
    if (r > 0)
        return r;
    int e = SSL_get_error(ssl, r);
    if (e == SSL_ERROR_WANT_READ)
        return NET_IO_WANT_READ;
    if (e == SSL_ERROR_WANT_WRITE)
        return NET_IO_WANT_WRITE;
    if (e == SSL_ERROR_ZERO_RETURN) {
        end->err = 0;
        end->why = "peer closed the TLS session";
    } else if (e == SSL_ERROR_SYSCALL) {
        /* A peer that just drops the TCP connection: an end, if not a polite one. */
        end->err = 0;
        end->why = "peer closed without TLS close_notify";
    } else {
        end->err = EPROTO;
        end->why = "TLS read failed";
    }
    return NET_IO_END;
}

/*
 * SSL_write takes one buffer: only the first iovec is written (conn.c, told by the missing
 * NET_TRANSPORT_GATHERS, hands over its whole queue as one).
 */
static ssize_t tls_writev(struct net_transport *t, const struct iovec *iov, int iovcnt,
                          struct net_io_end *end)
{
    (void)iovcnt;
    SSL *ssl = t->impl;
    ERR_clear_error();
    size_t want = iov[0].iov_len;
    int len = want > (1u << 30) ? (1 << 30) : (int)want;
    int r = SSL_write(ssl, iov[0].iov_base, len);
    if (r > 0)
        return r;
    int e = SSL_get_error(ssl, r);
    if (e == SSL_ERROR_WANT_WRITE)
        return NET_IO_WANT_WRITE;
    if (e == SSL_ERROR_WANT_READ)
        return NET_IO_WANT_READ; /* renegotiation or key update */
    end->err = EPIPE;
    end->why = "TLS write failed";
    return NET_IO_END;
}

/* Bytes OpenSSL decrypted that no socket event will announce. */
static size_t tls_pending(const struct net_transport *t)
{
    int n = SSL_pending(t->impl);
    return n > 0 ? (size_t)n : 0;
}

static void tls_shutdown(struct net_transport *t)
{
    SSL_shutdown(t->impl); /* one non-blocking try at a close_notify */
}

static void tls_release(struct net_transport *t)
{
    SSL_free(t->impl);
    t->impl = NULL;
    ERR_clear_error();
}

static const struct net_transport_ops tls_ops = {
    .name = "TLS",
    .handshake = tls_handshake,
    .read = tls_read,
    .writev = tls_writev,
    .pending = tls_pending,
    .shutdown = tls_shutdown,
    .release = tls_release,
};

static int tls_attach(struct net_transport *t, const struct net_transport_setup *s, int fd,
                      const char *server_name)
{
    SSL *ssl = net_tls_session(s->arg, fd, server_name);
    if (ssl == NULL)
        return ENOMEM;
    t->ops = &tls_ops;
    t->fd = fd;
    /* A TLS read stops at a record's end, so a short one says nothing about the socket. */
    t->flags = NET_TRANSPORT_ENCRYPTED;
    t->impl = ssl;
    return 0;
}

struct net_transport_setup net_transport_tls(struct net_tls *tls)
{
    return (struct net_transport_setup){.attach = tls_attach, .arg = tls};
}
