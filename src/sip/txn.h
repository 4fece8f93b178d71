/*
 * txn.h - SIP client and server transactions on one net_loop: a table keyed by the top Via's
 * branch and the method (CSeq method for responses; an ACK finds its INVITE), so finding the
 * transaction of a message costs O(1) however many are live; the RFC 3261 section 17 timers
 * (A, B, D for INVITE clients, E, F, K for the others; G, H, I, J on the server side, and
 * RFC 6026's L for an INVITE answered 2xx) on the
 * loop's timer heap.
 *
 * RFC 3261 is not in ../shared/rfc/: every rule here is "RFC 3261 section 17, from memory".
 *
 * One table per loop, used only on that loop's thread. The table does no I/O: it hands the
 * bytes to send (first sends and retransmissions) to io->send, and the transport is the
 * caller's. Retransmission timers run only over unreliable transports (config.reliable
 * false); B, F and H bound every transaction but one: an INVITE client that heard a 1xx waits
 * for its final response as long as the TU lets it (the TU ends that wait with a CANCEL).
 */
#ifndef MSRPLOAD_SIP_TXN_H
#define MSRPLOAD_SIP_TXN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <osipparser2/osip_message.h>

struct net_loop;
struct sip_txn;
struct sip_txn_table;

enum sip_txn_state {
    SIP_TXN_CALLING,    /* client INVITE sent, nothing heard (non-INVITE: Trying) */
    SIP_TXN_PROCEEDING, /* a 1xx heard (server: request seen, no final response yet) */
    SIP_TXN_COMPLETED,  /* final response (non-2xx for INVITE) heard or sent; absorbing
                         * retransmissions until Timer D / K / H / J */
    SIP_TXN_CONFIRMED,  /* server INVITE: the ACK for a non-2xx came; Timer I */
    SIP_TXN_ACCEPTED,   /* server INVITE: a 2xx sent; copies of the INVITE are absorbed
                         * until Timer L (64*T1) ends it (RFC 6026, from memory) */
};

struct sip_txn_io {
    /* Bytes to put on the wire for t (the request, a retransmission, an ACK, a response). */
    void (*send)(void *ctx, struct sip_txn *t, const char *buf, size_t len);
    /* Client: a response for the TU (every 1xx and the first final; retransmitted finals are
     * absorbed). */
    void (*on_response)(void *ctx, struct sip_txn *t, const osip_message_t *resp);
    /* Client: Timer B or F fired with no final response (the TU treats it as a 408). Server:
     * Timer H fired with no ACK. The transaction ends right after. */
    void (*on_timeout)(void *ctx, struct sip_txn *t);
    /* t is about to be freed (any state); after this call t must not be used. May be NULL. */
    void (*on_end)(void *ctx, struct sip_txn *t);
    /* Client: the transport failed for t before its final response (the TU treats it as a
     * 503, RFC 3261 sections 8.1.3.1 and 17.1.4, from memory). The transaction ends right
     * after. May be NULL. */
    void (*on_transport_error)(void *ctx, struct sip_txn *t);
};

struct sip_txn_config {
    uint64_t t1_ns, t2_ns, t4_ns; /* 0: 500 ms, 4 s, 5 s (RFC 3261 section 17) */
    uint64_t timer_d_ns;          /* 0: 32 s over unreliable transports (at least 32 s) */
    bool reliable;                /* TCP / TLS: no retransmissions; D, I, J, K are zero */
};

struct sip_txn_table *sip_txn_table_create(struct net_loop *loop,
                                           const struct sip_txn_config *config,
                                           const struct sip_txn_io *io, void *ctx);
/* Ends every live transaction (on_end for each) and frees the table. */
void sip_txn_table_destroy(struct sip_txn_table *tab);
size_t sip_txn_count(const struct sip_txn_table *tab);
size_t sip_txn_buckets(const struct sip_txn_table *tab);

/*
 * Client: starts a transaction for the request in text (copied), sends it at once and arms
 * its timers. branch is the top Via's, method the request's. Returns the transaction, or NULL
 * (out of memory, or one with that branch and method is live: EEXIST in errno).
 */
struct sip_txn *sip_txn_client_start(struct sip_txn_table *tab, const char *branch,
                                     const char *method, const char *text, size_t len,
                                     void *user);

/*
 * Client: a response from the transport. Returns true when it belonged to a transaction (and
 * was handed to the TU or absorbed), false when none matched (e.g. a 2xx retransmission after
 * the INVITE transaction ended: the dialog's business, RFC 3261 section 13.2.2.4).
 */
bool sip_txn_client_response(struct sip_txn_table *tab, const osip_message_t *resp);

/*
 * Server: a request from the transport. A new request gets a transaction (*is_new true, and
 * the TU should answer it); a retransmission gets its transaction's last response sent again
 * (*is_new false); an ACK for a non-2xx final response confirms the INVITE's transaction and
 * returns it (*is_new false). Returns NULL for an ACK that matches nothing (an ACK for a 2xx:
 * the dialog's) and on allocation failure (*is_new false both ways).
 */
struct sip_txn *sip_txn_server_request(struct sip_txn_table *tab, const osip_message_t *req,
                                       bool *is_new);

/* Server: sends a response (text copied) for t; code decides the state (see txn.c). A 2xx to
 * an INVITE puts it in Accepted: the TU retransmits the 2xx itself, and the transaction only
 * swallows copies of the INVITE until Timer L, so that a copy sent before the 2xx arrived is
 * not taken for a new call. */
void sip_txn_server_respond(struct sip_txn_table *tab, struct sip_txn *t, int code,
                            const char *text, size_t len);

/* Server: the live server transaction with that branch and method (a CANCEL finds its INVITE's
 * by the INVITE's branch, RFC 3261 section 9.2, from memory), or NULL. */
struct sip_txn *sip_txn_server_find(struct sip_txn_table *tab, const char *branch,
                                    const char *method);

/* Client: the transport failed for the transactions pick chooses among those still waiting
 * for their final response (e.g. those whose connection was refused): each is told
 * (on_transport_error) and ends at once, instead of waiting for Timer B or F. Returns how many. */
size_t sip_txn_client_transport_error(struct sip_txn_table *tab,
                                      bool (*pick)(struct sip_txn *t, void *arg), void *arg);

enum sip_txn_state sip_txn_state(const struct sip_txn *t);
void *sip_txn_user(const struct sip_txn *t);
/* Sets the TU's pointer (a server transaction's, which sip_txn_server_request leaves NULL). */
void sip_txn_set_user(struct sip_txn *t, void *user);
/* The last final (or provisional) status sent or heard; 0 when none. */
int sip_txn_last_code(const struct sip_txn *t);
bool sip_txn_is_server(const struct sip_txn *t);

#endif
