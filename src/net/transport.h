/*
 * transport.h - what a connection's bytes travel through: the vtable under net_conn.
 *
 * conn.c owns everything a protocol above sees (read buffer, write queue, backpressure,
 * timers, lifetime, on_open/on_data/on_drain/on_close); a transport owns only how bytes get
 * on and off one socket: plain TCP (transport_tcp.c), TLS (transport_tls.c), and WebSocket
 * framing over either (transport_ws.c). conn.c calls a transport through the ops
 * below and never looks inside it; a transport never calls back into conn.c, the loop or the
 * protocol above, and never allocates per read or write.
 *
 * The contract, for whoever writes the next transport
 * ----------------------------------------------------
 * Set-up. A struct net_transport_setup says how to make one: conn.c makes a non-blocking
 * socket (before connect() starts, or as accept() returns it) and calls
 * setup->attach(t, setup, fd, server_name) with t zeroed. attach does no I/O (the socket may
 * not be connected yet); it fills t->ops, t->fd (= fd), t->impl (its own state, or NULL) and
 * t->flags, and returns 0 or an errno value (conn.c then closes the socket; attach must have
 * freed what it allocated). The role (client or server) is the setup's business: a listener's setup
 * makes server transports, a connecting one client transports. server_name is the name the
 * client asked for (TLS SNI, a WebSocket Host), NULL when none or when accepting.
 *
 * The descriptor. conn.c owns t->fd: it registers it with the loop, watches it, and closes it
 * after release(). A transport reads and writes it (or hands it to OpenSSL) but never closes
 * it, never changes its flags and never registers it with the loop. A transport stacked on
 * another (WebSocket over TLS) keeps the lower one in its impl, with the same fd, calls the
 * lower ops for its bytes, and releases the lower one in its own release().
 *
 * Return values. read, writev and handshake return, when they move no bytes, one of:
 *   NET_IO_WANT_READ   nothing can happen until the socket is readable: retry then
 *   NET_IO_WANT_WRITE  nothing can happen until the socket is writable: retry then
 *   NET_IO_END         the byte stream is over: the op filled *end (end->err 0 for an
 *                      orderly end such as the peer's EOF, else an errno value; end->why a
 *                      short reason: static text, or text written into end->text, never
 *                      text in impl, since on_close reads it after release()). conn.c
 *                      then finishes the connection: it calls no op after that but
 *                      shutdown (only when end->err is 0) and release, and, when a writev
 *                      failed, one read first if NET_TRANSPORT_READ_AFTER_WRITE_FAIL is set.
 *   NET_IO_WANT_MORE   writev only: nothing can happen until more bytes are offered (a
 *                      framing transport holds off until a message's end is there: see
 *                      writev below); conn.c stops watching for writability and calls writev
 *                      again after the next net_conn_send() adds bytes
 * EAGAIN and EINTR are never errors: they are NET_IO_WANT_READ (read) or NET_IO_WANT_WRITE
 * (writev) in the op's own direction. A want in the other direction is the transport saying
 * which event conn.c must wait for: conn.c remembers a writev that wants read (TLS
 * renegotiation, a key update) and retries the write when the socket becomes readable; a
 * handshake's want is exactly what conn.c watches next. A read that wants write (TLS, when
 * OpenSSL must send something itself and the socket is full) is not watched for yet: conn.c
 * retries it on the next readable event, as it did before transports were split out.
 *
 * handshake(t, end): NULL when there is none (TCP). Otherwise called once the socket is
 *   connected (or accepted), then again on each event it asked for, until it returns 0
 *   (done: the connection opens) or NET_IO_END (conn.c closes with end->err, or EPROTO when
 *   that is 0: a handshake cut short is a failure). The connect timeout covers it. No read
 *   or writev happens before it is done; sends made meanwhile wait in conn.c's queue.
 * read(t, buf, len, end): len > 0. Returns 1..len bytes of the peer's payload put in buf,
 *   or a code above, never 0. conn.c reads opts.reads_per_wakeup times per wake-up at most,
 *   and beyond that only while pending() is non-zero.
 * writev(t, iov, iovcnt, end): iovcnt >= 1 and the iovecs hold at least one byte (some may
 *   be empty). Takes payload bytes from the front of iov, in order, and returns how many
 *   (1..total), or a code above. The bytes not taken are offered again, first, on the next
 *   call, possibly from another address and possibly followed by more (conn.c's queue
 *   compacts between calls: OpenSSL's SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER). A transport that
 *   adds bytes of its own (a frame header, a TLS record) may therefore commit a frame over
 *   bytes it has not reported taken yet, remember how far it got, and report them taken as
 *   the frame leaves. It must not keep pointers into iov after it returns, and it must not
 *   hold output of its own once it has reported every offered byte taken: conn.c asks for
 *   writability only while its queue holds bytes, so the last byte of a frame is reported
 *   taken when the whole frame has left. Writes must not raise SIGPIPE (send with
 *   MSG_NOSIGNAL; OpenSSL's writes rely on main ignoring it).
 *   A transport that frames messages and must know a message's length before its first byte
 *   leaves (WebSocket: one frame per MSRP chunk) returns NET_IO_WANT_MORE when the offered
 *   bytes stop inside a message it has not started to send: it takes none of them (after
 *   reporting any whole messages before them taken, in an earlier return) and holds no
 *   output for them. It must bound what it waits for (ws: frame_max) and frame what it has
 *   once that much is offered, so a queue can never wait on it for ever. conn.c then sends
 *   nothing until the next send; a flushing close with only such an unfinished message
 *   queued ends at once (the message cannot leave whole). The layer above must send each
 *   message to its end without waiting for on_drain in the middle of it, or it waits as long
 *   as the transport does (msrp sends each chunk in one net_conn_send()).
 *   read and handshake never return NET_IO_WANT_MORE.
 * pending(t): NULL when the transport never holds received bytes itself. Otherwise the bytes
 *   it has already taken off the socket (decrypted, unframed) that read() would return:
 *   no socket event announces them, so conn.c keeps reading past its per-wake-up cap while
 *   this is non-zero and schedules a read when reading is resumed with bytes pending.
 * shutdown(t): NULL when there is none. One non-blocking try at an orderly end on the wire
 *   (TLS close_notify, a WebSocket close frame); called only when the connection ends without
 *   error (the peer's EOF, or a local close, which may come before the handshake is done:
 *   then it must do no harm), just before release(). Its result is ignored: the socket
 *   closes next anyway.
 * release(t): NULL when impl holds nothing. Frees impl (and a lower transport); called
 *   exactly once per successful attach, also when a connection fails before it opens.
 *
 * Flags (in t->flags, set by attach; a stacked transport derives its own from the lower
 * one's):
 *   NET_TRANSPORT_GATHERS       writev takes many iovecs at the cost of one: conn.c then writes
 *                               a send straight through while nothing is queued, and copies
 *                               only what was not taken. Without it conn.c queues every send
 *                               and calls writev with one contiguous iovec (TLS: one record
 *                               per queue flush instead of one per iovec).
 *   NET_TRANSPORT_SHORT_READ_DRAINS  a read shorter than len means the socket is empty, so
 *                               conn.c does not read again until the next readable event.
 *   NET_TRANSPORT_READ_AFTER_WRITE_FAIL  after a failed writev, what the peer sent before it
 *                               reset the connection can still be read (plain TCP; not TLS,
 *                               whose session allows no reads after a failed write).
 *   NET_TRANSPORT_ENCRYPTED     the bytes travel encrypted (net_conn_is_tls()).
 *
 * Message boundaries. writev sees a byte stream: conn.c's queue keeps no record of where one
 *   net_conn_send() ended and the next began, and several sends may leave in one writev. A
 *   transport that must frame messages (WebSocket: one MSRP chunk per message, RFC 7977 5.1)
 *   is given a boundary finder by its maker at set-up (transport_ws.h: struct
 *   net_ws_boundary), which it feeds each outgoing byte once; the protocol above supplies it
 *   (wire/chunk_end.h for MSRP), so net/ learns nothing of the protocol. This keeps the queue
 *   one byte array and costs TCP and TLS nothing; see transport_ws.h for why.
 *
 * Costs. read and writev are the hot path: each is one indirect call from conn.c and must
 * make at most the system calls the work needs (one read, one sendmsg), copy nothing it does
 * not have to, and allocate nothing.
 *
 * Thread safety: a transport belongs to its connection's loop thread; a setup may be shared
 * by threads when what its arg points at may (a struct net_tls may).
 */
#ifndef MSRPLOAD_NET_TRANSPORT_H
#define MSRPLOAD_NET_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

struct net_tls; /* tls.h */

#define NET_IO_WANT_READ (-1)
#define NET_IO_WANT_WRITE (-2)
#define NET_IO_END (-3)
#define NET_IO_WANT_MORE (-4)

#define NET_TRANSPORT_GATHERS 0x1u
#define NET_TRANSPORT_SHORT_READ_DRAINS 0x2u
#define NET_TRANSPORT_READ_AFTER_WRITE_FAIL 0x4u
#define NET_TRANSPORT_ENCRYPTED 0x8u

/* How a byte stream ended (NET_IO_END). */
struct net_io_end {
    int err;         /* 0: an orderly end (EOF); else an errno value */
    const char *why; /* static text, or text */
    char text[256];  /* room for a reason made up at the time (OpenSSL's) */
};

struct net_transport;

struct net_transport_ops {
    /* For messages: "TLS" gives "TLS handshake timed out". */
    const char *name;
    int (*handshake)(struct net_transport *t, struct net_io_end *end);
    ssize_t (*read)(struct net_transport *t, char *buf, size_t len, struct net_io_end *end);
    ssize_t (*writev)(struct net_transport *t, const struct iovec *iov, int iovcnt,
                      struct net_io_end *end);
    size_t (*pending)(const struct net_transport *t);
    void (*shutdown)(struct net_transport *t);
    void (*release)(struct net_transport *t);
};

/* One connection's transport, inside its net_conn. */
struct net_transport {
    const struct net_transport_ops *ops;
    int fd;         /* owned by conn.c (see above) */
    unsigned flags; /* NET_TRANSPORT_* */
    void *impl;     /* the implementation's state */
    /* Set by a stacked transport, read by conn.c: when the transport under it finished its
     * handshake (TLS under a WebSocket; the start of the upgrade over plain TCP), 0 until
     * then; and the close code of the peer's WebSocket close frame (1005 when it carried
     * none), 0 when none came. They let reports tell TLS time from upgrade time. */
    uint64_t lower_ready_ns;
    unsigned peer_close_code;
};

/* How to make transports; arg is the maker's own (TLS: the struct net_tls). */
struct net_transport_setup {
    int (*attach)(struct net_transport *t, const struct net_transport_setup *s, int fd,
                  const char *server_name);
    void *arg;
};

/* Plain TCP. */
struct net_transport_setup net_transport_tcp(void);

/* TLS in tls's role (client or server), on the socket. tls must outlive the transports. */
struct net_transport_setup net_transport_tls(struct net_tls *tls);

#endif
