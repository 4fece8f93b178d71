/*
 * transport.c - SIP's transports for one agent: a UDP socket watched on the loop (one
 * datagram, one message: RFC 3261 section 18, from memory), or TCP / TLS through src/net/
 * (net_listener for accepted connections, net_conn_connect_via for ours), with a table of
 * connections keyed by the peer's address so that each peer gets one connection, reused for
 * every later message either way.
 *
 * Streams are cut into messages by sip_frame_next() (Content-Length framing); a stream that is
 * not SIP is closed. A datagram that does not parse is dropped (UDP has nothing to close).
 */
#include "sip/transport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <osipparser2/osip_uri.h>

#include "net/conn.h"
#include "net/loop.h"
#include "net/transport.h"
#include "sip/chain.h"
#include "sip/msg.h"

/* Datagrams read per wake-up, so one busy socket cannot hold the loop. */
#define UDP_READS_PER_WAKEUP 64
/* The largest UDP payload: a whole datagram always fits. */
#define UDP_MAX 65536
/* Connections per agent start in a small table that doubles as it fills: an agent talking to
 * one proxy needs one, a listening one may take thousands. */
#define CONN_BUCKETS_MIN 16

/* One datagram buffer per thread, shared by the agents of its loop (an agent is used only on
 * its loop's thread), so 10,000 agents do not hold 10,000 of them. */
static _Thread_local char dgram_buf[UDP_MAX];

struct tp_conn {
    struct sip_chain_link link; /* hash chain and the peer address's hash */
    struct sip_tp *tp;
    struct net_conn *conn;
    struct sip_addr peer;
};

struct sip_tp {
    struct net_loop *loop;
    struct sip_tp_config cfg;
    struct sip_tp_handlers h;
    void *ctx;
    char host[64];
    uint16_t port;
    int udp_fd;
    struct net_listener *listener;
    struct sip_chain conns;
    uint64_t connects;
};

const char *sip_tp_kind_name(enum sip_tp_kind k)
{
    return k == SIP_TP_UDP ? "UDP" : k == SIP_TP_TCP ? "TCP" : "TLS";
}

/* ---- addresses ------------------------------------------------------------------------------ */

int sip_addr_set(struct sip_addr *a, const char *host, uint16_t port)
{
    memset(a, 0, sizeof *a);
    struct sockaddr_in *v4 = (struct sockaddr_in *)&a->ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&a->ss;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        a->len = sizeof *v4;
        return 0;
    }
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        a->len = sizeof *v6;
        return 0;
    }
    return EINVAL;
}

int sip_addr_from_uri(struct sip_addr *a, const char *uri_text)
{
    sip_osip_init();
    osip_uri_t *u = NULL;
    if (osip_uri_init(&u) != 0)
        return ENOMEM;
    int r = EINVAL;
    if (osip_uri_parse(u, uri_text) == 0 && u->host && u->host[0]) {
        long port = u->port ? strtol(u->port, NULL, 10) : 0;
        if (port == 0)
            port = (u->scheme && strcmp(u->scheme, "sips") == 0) ? 5061 : 5060;
        if (port > 0 && port <= 65535) {
            memset(a, 0, sizeof *a);
            r = net_addr_resolve(u->host, (uint16_t)port, &a->ss, &a->len);
        }
    }
    osip_uri_free(u);
    return r;
}

bool sip_addr_equal(const struct sip_addr *a, const struct sip_addr *b)
{
    if (a->ss.ss_family != b->ss.ss_family)
        return false;
    if (a->ss.ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)&a->ss, *y = (const void *)&b->ss;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *x = (const void *)&a->ss, *y = (const void *)&b->ss;
    return x->sin6_port == y->sin6_port &&
           memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
}

static uint64_t addr_hash(const struct sip_addr *a)
{
    const unsigned char *p;
    size_t n;
    uint16_t port;
    if (a->ss.ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)&a->ss;
        p = (const void *)&x->sin_addr;
        n = sizeof x->sin_addr;
        port = x->sin_port;
    } else {
        const struct sockaddr_in6 *x = (const void *)&a->ss;
        p = (const void *)&x->sin6_addr;
        n = sizeof x->sin6_addr;
        port = x->sin6_port;
    }
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    h = (h ^ (port & 0xff)) * 0x100000001b3ull;
    h = (h ^ (port >> 8)) * 0x100000001b3ull;
    return h;
}

static void report(struct sip_tp *tp, const char *what)
{
    if (tp->h.on_error)
        tp->h.on_error(tp->ctx, what);
}

static void deliver(struct sip_tp *tp, const char *buf, size_t len, const struct sip_addr *from)
{
    char why[160];
    osip_message_t *m = sip_msg_parse(buf, len, why, sizeof why);
    if (!m) {
        report(tp, why);
        return;
    }
    tp->h.on_message(tp->ctx, m, from);
}

/* ---- UDP ------------------------------------------------------------------------------------ */

static void on_udp(struct net_loop *loop, int fd, unsigned events, void *arg)
{
    (void)loop;
    (void)events;
    struct sip_tp *tp = arg;
    for (int i = 0; i < UDP_READS_PER_WAKEUP; i++) {
        struct sip_addr from;
        memset(&from, 0, sizeof from);
        from.len = sizeof from.ss;
        ssize_t n = recvfrom(fd, dgram_buf, UDP_MAX, MSG_DONTWAIT, (struct sockaddr *)&from.ss,
                             &from.len);
        if (n < 0)
            return; /* EAGAIN: drained; anything else: the next datagram may do better */
        /* CRLF keep-alives and empty datagrams carry no message. */
        size_t k = 0;
        while (k < (size_t)n && (dgram_buf[k] == '\r' || dgram_buf[k] == '\n'))
            k++;
        if (k < (size_t)n)
            deliver(tp, dgram_buf + k, (size_t)n - k, &from);
    }
}

/* ---- streams -------------------------------------------------------------------------------- */

static struct tp_conn *conn_find(struct sip_tp *tp, const struct sip_addr *a)
{
    uint64_t h = addr_hash(a);
    for (struct sip_chain_link *l = *sip_chain_slot(&tp->conns, h); l; l = l->next) {
        struct tp_conn *c = SIP_CHAIN_ENTRY(l, struct tp_conn, link);
        if (l->hash == h && sip_addr_equal(&c->peer, a))
            return c;
    }
    return NULL;
}

static struct tp_conn *conn_add(struct sip_tp *tp, const struct sip_addr *a)
{
    sip_chain_reserve(&tp->conns);
    struct tp_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->tp = tp;
    c->peer = *a;
    c->link.hash = addr_hash(a);
    sip_chain_insert(&tp->conns, &c->link);
    return c;
}

static void conn_remove(struct sip_tp *tp, struct tp_conn *c)
{
    sip_chain_remove(&tp->conns, &c->link);
    free(c);
}

static size_t on_stream_data(struct net_conn *nc, const char *buf, size_t len)
{
    struct tp_conn *c = net_conn_user(nc);
    struct sip_tp *tp = c->tp;
    size_t used = 0;
    /* Bounded by the buffer: each pass consumes at least one byte or stops. */
    while (used < len) {
        struct sip_frame f;
        enum sip_frame_status st = sip_frame_next(buf + used, len - used, &f);
        if (st == SIP_FRAME_NEED_MORE) {
            used += f.skip; /* keep-alive CRLFs alone */
            break;
        }
        if (st == SIP_FRAME_ERROR) {
            report(tp, f.error ? f.error : "not SIP on a stream");
            net_conn_close(nc, false);
            return len;
        }
        struct sip_addr from = c->peer;
        deliver(tp, buf + used + f.skip, f.len, &from);
        used += f.skip + f.len;
    }
    return used;
}

static void on_stream_close(struct net_conn *nc, int err, const char *why)
{
    struct tp_conn *c = net_conn_user(nc);
    if (!c)
        return;
    if (err && c->tp->h.on_error) {
        char what[200];
        snprintf(what, sizeof what, "SIP connection to %s closed: %s", net_conn_peer(nc),
                 why ? why : strerror(err));
        c->tp->h.on_error(c->tp->ctx, what);
    }
    struct sip_tp *tp = c->tp;
    struct sip_addr peer = c->peer;
    net_conn_set_user(nc, NULL);
    conn_remove(tp, c);
    /* After the removal: the TU's answer to it may send to peer again (a new connection). */
    if (err && tp->h.on_conn_failed)
        tp->h.on_conn_failed(tp->ctx, &peer);
}

static const struct net_conn_handlers stream_handlers = {
    .on_data = on_stream_data,
    .on_close = on_stream_close,
};

static void on_accept(struct net_listener *l, struct net_conn *nc)
{
    struct sip_tp *tp = net_listener_user(l);
    struct sip_addr a;
    memset(&a, 0, sizeof a);
    /* net_conn_peer() is "host:port" or "[v6]:port": rebuild the address from it. */
    char peer[80];
    snprintf(peer, sizeof peer, "%s", net_conn_peer(nc));
    char *colon = strrchr(peer, ':');
    long port = colon ? strtol(colon + 1, NULL, 10) : 0;
    if (colon)
        *colon = '\0';
    char *host = peer;
    if (host[0] == '[') {
        host++;
        char *rb = strchr(host, ']');
        if (rb)
            *rb = '\0';
    }
    struct tp_conn *c = NULL;
    if (sip_addr_set(&a, host, (uint16_t)port) == 0 && !conn_find(tp, &a))
        c = conn_add(tp, &a);
    if (!c) {
        net_conn_set_handlers(nc, &stream_handlers);
        net_conn_close(nc, false);
        return;
    }
    c->conn = nc;
    net_conn_set_user(nc, c);
    net_conn_set_handlers(nc, &stream_handlers);
}

/* ---- set-up --------------------------------------------------------------------------------- */

int sip_tp_create(struct net_loop *loop, const struct sip_tp_config *cfg,
                  const struct sip_tp_handlers *h, void *ctx, struct sip_tp **out, char *err,
                  size_t errlen)
{
    *out = NULL;
    if (!loop || !cfg || !h || !h->on_message) {
        snprintf(err, errlen, "SIP transport: missing loop, configuration or handler");
        return EINVAL;
    }
    if (cfg->kind == SIP_TP_TLS && (!cfg->tls_server || !cfg->tls_client)) {
        snprintf(err, errlen, "SIP transport TLS: needs a server and a client TLS context");
        return EINVAL;
    }
    struct sip_tp *tp = calloc(1, sizeof *tp);
    if (!tp) {
        snprintf(err, errlen, "SIP transport: out of memory");
        return ENOMEM;
    }
    tp->loop = loop;
    tp->cfg = *cfg;
    tp->h = *h;
    tp->ctx = ctx;
    tp->udp_fd = -1;
    if (sip_chain_init(&tp->conns, CONN_BUCKETS_MIN) != 0) {
        free(tp);
        snprintf(err, errlen, "SIP transport: out of memory");
        return ENOMEM;
    }
    snprintf(tp->host, sizeof tp->host, "%s", cfg->host ? cfg->host : "127.0.0.1");
    tp->cfg.host = tp->host;
    struct sip_addr bind_addr;
    if (sip_addr_set(&bind_addr, tp->host, cfg->port) != 0) {
        snprintf(err, errlen, "SIP transport: host '%s' is not a numeric address", tp->host);
        sip_chain_free(&tp->conns);
        free(tp);
        return EINVAL;
    }
    int r = 0;
    if (cfg->kind == SIP_TP_UDP) {
        int fd = socket(bind_addr.ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            r = errno;
            snprintf(err, errlen, "SIP transport UDP: socket: %s", strerror(r));
        } else if (bind(fd, (struct sockaddr *)&bind_addr.ss, bind_addr.len) != 0) {
            r = errno;
            snprintf(err, errlen, "SIP transport UDP: bind %s:%u: %s", tp->host, cfg->port,
                     strerror(r));
        } else if ((r = net_loop_watch(loop, fd, NET_READABLE, on_udp, tp)) != 0) {
            snprintf(err, errlen, "SIP transport UDP: watch: %s", strerror(r));
        }
        if (r) {
            if (fd >= 0)
                close(fd);
            sip_chain_free(&tp->conns);
            free(tp);
            return r;
        }
        tp->udp_fd = fd;
        struct sip_addr got;
        got.len = sizeof got.ss;
        getsockname(fd, (struct sockaddr *)&got.ss, &got.len);
        tp->port = ntohs(got.ss.ss_family == AF_INET
                             ? ((struct sockaddr_in *)&got.ss)->sin_port
                             : ((struct sockaddr_in6 *)&got.ss)->sin6_port);
    } else {
        struct net_transport_setup ts = cfg->kind == SIP_TP_TLS
                                            ? net_transport_tls(cfg->tls_server)
                                            : net_transport_tcp();
        char e[200] = "";
        r = net_listener_open_via(loop, (struct sockaddr *)&bind_addr.ss, bind_addr.len, &ts,
                                  on_accept, tp, NULL, &tp->listener, e, sizeof e);
        if (r) {
            snprintf(err, errlen, "SIP transport %s: listen on %s:%u: %s",
                     sip_tp_kind_name(cfg->kind), tp->host, cfg->port, e);
            sip_chain_free(&tp->conns);
            free(tp);
            return r;
        }
        tp->port = net_listener_port(tp->listener);
    }
    *out = tp;
    return 0;
}

void sip_tp_destroy(struct sip_tp *tp)
{
    if (!tp)
        return;
    for (size_t i = 0; i < tp->conns.nbuckets; i++)
        while (tp->conns.buckets[i]) {
            struct tp_conn *c = SIP_CHAIN_ENTRY(tp->conns.buckets[i], struct tp_conn, link);
            net_conn_set_user(c->conn, NULL);
            net_conn_close(c->conn, false);
            conn_remove(tp, c);
        }
    if (tp->listener)
        net_listener_close(tp->listener);
    if (tp->udp_fd >= 0) {
        net_loop_forget(tp->loop, tp->udp_fd);
        close(tp->udp_fd);
    }
    sip_chain_free(&tp->conns);
    free(tp);
}

enum sip_tp_kind sip_tp_kind(const struct sip_tp *tp)
{
    return tp->cfg.kind;
}

bool sip_tp_reliable(const struct sip_tp *tp)
{
    return tp->cfg.kind != SIP_TP_UDP;
}

uint16_t sip_tp_port(const struct sip_tp *tp)
{
    return tp->port;
}

const char *sip_tp_host(const struct sip_tp *tp)
{
    return tp->host;
}

size_t sip_tp_connections(const struct sip_tp *tp)
{
    return tp->conns.count;
}

uint64_t sip_tp_connects(const struct sip_tp *tp)
{
    return tp->connects;
}

int sip_tp_send(struct sip_tp *tp, const struct sip_addr *to, const char *buf, size_t len)
{
    if (tp->cfg.kind == SIP_TP_UDP) {
        ssize_t n = sendto(tp->udp_fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL,
                           (const struct sockaddr *)&to->ss, to->len);
        /* A full socket buffer loses the datagram as the network could: the transaction's
         * retransmissions cover it. */
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            report(tp, "SIP UDP send failed");
            return errno;
        }
        return 0;
    }
    struct tp_conn *c = conn_find(tp, to);
    if (!c) {
        c = conn_add(tp, to);
        if (!c)
            return ENOMEM;
        struct net_transport_setup ts = tp->cfg.kind == SIP_TP_TLS
                                            ? net_transport_tls(tp->cfg.tls_client)
                                            : net_transport_tcp();
        int r = net_conn_connect_via(tp->loop, (const struct sockaddr *)&to->ss, to->len, &ts,
                                     NULL, &stream_handlers, c, NULL, &c->conn);
        if (r) {
            conn_remove(tp, c);
            report(tp, "SIP connect failed");
            return r;
        }
        tp->connects++;
    }
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    int r = net_conn_send(c->conn, &iov, 1);
    if (r)
        report(tp, "SIP stream send failed");
    return r;
}
