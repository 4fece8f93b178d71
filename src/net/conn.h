/*
 * conn.h - non-blocking TCP and TLS connections and listeners on a net_loop: the main header
 * of src/net/.
 *
 * The layer's contract. src/net/ moves bytes and knows nothing of what they mean (no MSRP,
 * no include from msrp/ or above). The protocol above calls in: it opens connections
 * (net_conn_connect) or listeners (net_listener_open), sends iovecs (net_conn_send), and
 * closes; the layer calls back with bytes in (on_data), readiness (on_open), room to write
 * again (on_drain) and the end (on_close), all from the loop (loop.h: the loop, timers).
 * What the bytes travel through (TCP, TLS, later more) is a transport (transport.h) chosen at
 * set-up; the protocol above never sees it. tls.h makes the TLS contexts. Errors are errno
 * values with a short reason; nothing here exits or prints.
 *
 * A connection owns a read buffer that feeds its on_data handler and a write queue drained
 * through its transport (writev on TCP, SSL_write on TLS). Sending writes through at once
 * when nothing is queued and copies only what the socket did not take, so callers may pass
 * bodies they free right after the call. Sends from the connection's own callbacks, or from
 * another connection's during the loop's I/O callbacks, are copied and leave in one write
 * when the callback returns or once the pass's callbacks are done. Backpressure: above
 * opts.write_high queued bytes the connection is congested (producers should stop); on_drain
 * says when it fell below opts.write_low again; beyond opts.write_cap net_conn_send() refuses
 * with ENOBUFS. Each wake-up reads at most opts.reads_per_wakeup times so one fast peer
 * cannot starve the others (bytes the transport already holds, such as decrypted TLS bytes
 * still pending in OpenSSL, are always drained).
 *
 * Lifetime: on_close is called exactly once, with the reason; the connection is freed right
 * after it returns, so a handler must drop its pointer there. Closing from inside one of the
 * connection's own handlers is safe.
 *
 * Thread safety: a connection belongs to its loop's thread.
 */
#ifndef MSRPLOAD_NET_CONN_H
#define MSRPLOAD_NET_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "net/loop.h"
#include "net/tls.h"

struct net_conn;
struct net_listener;
struct net_transport_setup; /* transport.h */

struct net_conn_handlers {
    /* The connection is usable: TCP connected (or accepted) and any TLS handshake done. */
    void (*on_open)(struct net_conn *c);
    /*
     * buf holds every received byte not consumed yet. Returns how many of them were consumed;
     * the rest are offered again, with more, next time. A handler that cannot make progress
     * on a full buffer (len == opts.read_buffer, 0 consumed) gets the connection closed with
     * EMSGSIZE.
     */
    size_t (*on_data)(struct net_conn *c, const char *buf, size_t len);
    /* The write queue fell below write_low after the connection had been congested. */
    void (*on_drain)(struct net_conn *c);
    /* err: 0 for an orderly close (peer EOF, or net_conn_close), else an errno value. */
    void (*on_close)(struct net_conn *c, int err, const char *why);
};

struct net_conn_opts {
    size_t read_buffer;          /* default 256 KiB */
    size_t write_high;           /* default 1 MiB */
    size_t write_low;            /* default 256 KiB */
    size_t write_cap;            /* default 64 MiB */
    unsigned reads_per_wakeup;   /* default 16 */
    uint64_t connect_timeout_ns; /* connect + TLS handshake; default 10 s; 0: none */
};

void net_conn_opts_default(struct net_conn_opts *o);

/*
 * Starts connecting to sa. tls NULL: plain TCP. sni: the TLS server name (may be NULL). On
 * success *out is valid at once (sends are queued until on_open); the outcome arrives as
 * on_open or on_close. opts may be NULL. Returns 0 or an errno value.
 */
int net_conn_connect(struct net_loop *loop, const struct sockaddr *sa, socklen_t salen,
                     struct net_tls *tls, const char *sni, const struct net_conn_handlers *h,
                     void *user, const struct net_conn_opts *opts, struct net_conn **out);

/*
 * The same over any transport (transport.h): ts says how to make it (net_transport_tcp(),
 * net_transport_tls(tls), or another); server_name is what the transport sends as the name of
 * the server (TLS SNI; may be NULL). ts is copied: it need not outlive the call, but what its
 * arg points at must outlive the connection.
 */
int net_conn_connect_via(struct net_loop *loop, const struct sockaddr *sa, socklen_t salen,
                         const struct net_transport_setup *ts, const char *server_name,
                         const struct net_conn_handlers *h, void *user,
                         const struct net_conn_opts *opts, struct net_conn **out);

/*
 * Queues iov for sending (see the header comment). Returns 0, EPIPE once the connection is
 * closing or closed, ENOBUFS when write_cap would be exceeded (nothing is queued then).
 */
int net_conn_send(struct net_conn *c, const struct iovec *iov, int iovcnt);

/*
 * Holds output back: until the matching net_conn_release(), what net_conn_send() is given is
 * only queued, and the release writes it all at once (one write for several messages that a
 * caller outside the connection's own callbacks sends in a row, as those callbacks' sends
 * already are). The connection stays allocated while held, even if it closes meanwhile
 * (on_close still runs at once): the release frees it then. Holds nest; each needs its release.
 */
void net_conn_hold(struct net_conn *c);
void net_conn_release(struct net_conn *c);

/* Closes: with flush, after the queued bytes are sent (reading stops at once). */
void net_conn_close(struct net_conn *c, bool flush);

/* Closes at once with a TCP reset (RST), unsent bytes dropped; on_close gets ECONNABORTED. */
void net_conn_reset(struct net_conn *c);
/* Closes at once with a plain FIN, skipping the transport's own goodbye (TLS close_notify,
 * WebSocket close frame); on_close gets ECONNABORTED. */
void net_conn_drop(struct net_conn *c);

/* Stops or resumes reading (a receiver whose own output is congested stops taking input). */
void net_conn_set_reading(struct net_conn *c, bool on);

bool net_conn_congested(const struct net_conn *c);
size_t net_conn_queued(const struct net_conn *c);
bool net_conn_is_open(const struct net_conn *c);
bool net_conn_is_tls(const struct net_conn *c);
void *net_conn_user(const struct net_conn *c);
void net_conn_set_user(struct net_conn *c, void *user);
void net_conn_set_handlers(struct net_conn *c, const struct net_conn_handlers *h);
struct net_loop *net_conn_loop(const struct net_conn *c);
/* "127.0.0.1:4711" or "[::1]:4711": for messages. */
const char *net_conn_peer(const struct net_conn *c);
uint64_t net_conn_bytes_in(const struct net_conn *c);
uint64_t net_conn_bytes_out(const struct net_conn *c);
/* CLOCK_MONOTONIC ns when TCP was established (accepted) and when the connection became
 * usable (after any TLS handshake); 0 until then. */
uint64_t net_conn_connected_ns(const struct net_conn *c);
uint64_t net_conn_open_ns(const struct net_conn *c);
/* When the transport under a WebSocket finished its handshake (TLS done; TCP established
 * for ws on TCP), so that open - secured is the upgrade alone; = open_ns without a
 * WebSocket. 0 until then. */
uint64_t net_conn_secured_ns(const struct net_conn *c);
/* The close code in the peer's WebSocket close frame (RFC 6455; 1005: the frame had none);
 * 0 when no close frame came (or no WebSocket). */
unsigned net_conn_peer_close_code(const struct net_conn *c);

/*
 * Called for each accepted connection before anything else happens to it: set its handlers
 * and user data here (net_conn_set_handlers). It then gets on_open like an outgoing one.
 */
typedef void (*net_accept_fn)(struct net_listener *l, struct net_conn *c);

/*
 * Listens on sa (port 0: any free port; net_listener_port tells which). tls NULL: plain TCP.
 * Accepted connections use opts (may be NULL). Returns 0 or an errno value and fills err.
 */
int net_listener_open(struct net_loop *loop, const struct sockaddr *sa, socklen_t salen,
                      struct net_tls *tls, net_accept_fn on_accept, void *user,
                      const struct net_conn_opts *opts, struct net_listener **out, char *err,
                      size_t errlen);
/* The same over any transport, made for each accepted connection as ts says (copied). */
int net_listener_open_via(struct net_loop *loop, const struct sockaddr *sa, socklen_t salen,
                          const struct net_transport_setup *ts, net_accept_fn on_accept,
                          void *user, const struct net_conn_opts *opts,
                          struct net_listener **out, char *err, size_t errlen);
void net_listener_close(struct net_listener *l);

/*
 * Out of descriptors (accept said EMFILE or ENFILE), a listener does not spin: it accepts
 * and closes at once what it cannot keep, using a reserve descriptor it holds for this, or
 * stops watching for 100 ms when it has none. fn (NULL: none) hears of it at most once a
 * second: err is the errno and shed the connections closed unserved since the last call.
 */
typedef void (*net_overload_fn)(struct net_listener *l, int err, uint64_t shed);
void net_listener_on_overload(struct net_listener *l, net_overload_fn fn);
uint16_t net_listener_port(const struct net_listener *l);
void *net_listener_user(const struct net_listener *l);

/*
 * Fills *ss from a numeric IPv4/IPv6 address or a host name (resolved with getaddrinfo, which
 * may block: call it at set-up, not in a loop). Returns 0 or an errno value (ENOENT: unknown
 * host).
 */
int net_addr_resolve(const char *host, uint16_t port, struct sockaddr_storage *ss,
                     socklen_t *len);

#endif
