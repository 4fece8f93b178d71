/*
 * transport.h - SIP over UDP, TCP and TLS on one net_loop, for one agent: a bound UDP socket or
 * a listener, outgoing connections reused per peer address, stream framing by Content-Length
 * (msg.c's sip_frame_next()), and every whole message parsed and handed up with the address
 * it came from.
 *
 * RFC 3261 is not in ../shared/rfc/: the rules taken from it say "(from memory)".
 *
 * One transport belongs to its loop's thread. It knows nothing of transactions: the agent
 * above (ua.c) gets each message and decides.
 */
#ifndef MSRPLOAD_SIP_TRANSPORT_H
#define MSRPLOAD_SIP_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <osipparser2/osip_message.h>

struct net_loop;
struct net_tls;
struct sip_tp;

enum sip_tp_kind { SIP_TP_UDP, SIP_TP_TCP, SIP_TP_TLS };
/* "UDP", "TCP", "TLS": the Via transport token. */
const char *sip_tp_kind_name(enum sip_tp_kind k);

/* Where a message came from, or where one goes. */
struct sip_addr {
    struct sockaddr_storage ss;
    socklen_t len;
};

struct sip_tp_handlers {
    /* A whole message parsed; msg is the callee's (free with osip_message_free). */
    void (*on_message)(void *ctx, osip_message_t *msg, const struct sip_addr *from);
    /* Something was received that is not SIP, or could not be sent (for counting; may be
     * NULL). */
    void (*on_error)(void *ctx, const char *what);
    /* A stream connection to peer failed or closed with an error (a refused connect among
     * them): what was sent on it will get no answer. May be NULL. */
    void (*on_conn_failed)(void *ctx, const struct sip_addr *peer);
};

struct sip_tp_config {
    enum sip_tp_kind kind;
    const char *host;            /* numeric address to bind; NULL: 127.0.0.1 */
    uint16_t port;               /* 0: any free port */
    struct net_tls *tls_server;  /* SIP_TP_TLS: accepted connections */
    struct net_tls *tls_client;  /* SIP_TP_TLS: outgoing connections */
};

/* Returns 0 or an errno value with err filled (naming what failed). */
int sip_tp_create(struct net_loop *loop, const struct sip_tp_config *cfg,
                  const struct sip_tp_handlers *h, void *ctx, struct sip_tp **out, char *err,
                  size_t errlen);
/* Closes every connection and the socket or listener. */
void sip_tp_destroy(struct sip_tp *tp);

enum sip_tp_kind sip_tp_kind(const struct sip_tp *tp);
bool sip_tp_reliable(const struct sip_tp *tp);
uint16_t sip_tp_port(const struct sip_tp *tp);
const char *sip_tp_host(const struct sip_tp *tp);
/* Stream connections open or opening. */
size_t sip_tp_connections(const struct sip_tp *tp);
/* Connections made to peers (not accepted) over the transport's life. */
uint64_t sip_tp_connects(const struct sip_tp *tp);

/*
 * Sends one message to `to`: a datagram over UDP; over TCP/TLS on the connection to that
 * address (the one a message from there came in on, or one made now and kept for the next
 * sends). Returns 0, or an errno value (the datagram or the connection failed at once).
 */
int sip_tp_send(struct sip_tp *tp, const struct sip_addr *to, const char *buf, size_t len);

/* Fills a from a numeric host and port. Returns 0 or EINVAL. */
int sip_addr_set(struct sip_addr *a, const char *host, uint16_t port);
/* The host and port of a SIP URI (port 0 -> 5060, or 5061 for sips: RFC 3261 19.1.1, from
 * memory), resolved with net_addr_resolve() (numeric addresses do not block). 0 or an errno
 * value. */
int sip_addr_from_uri(struct sip_addr *a, const char *uri_text);
bool sip_addr_equal(const struct sip_addr *a, const struct sip_addr *b);

#endif
