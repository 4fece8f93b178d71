/*
 * dialog.h - SIP dialogs (RFC 3261 section 12, from memory: RFC 3261 is not in ../shared/rfc/):
 * a table keyed by Call-ID, local tag and remote tag, chained and doubled as it fills so that
 * finding a dialog costs O(1) with 100,000 live dialogs on one thread; each dialog keeps its
 * route set (from Record-Route), remote target (from Contact), local and remote CSeq and the
 * URIs for From / To, and builds the requests sent inside it.
 *
 * Pure: no I/O, no clock. A table belongs to one thread.
 */
#ifndef MSRPLOAD_SIP_DIALOG_H
#define MSRPLOAD_SIP_DIALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <osipparser2/osip_message.h>

#include "sip/chain.h"

struct sip_dialog_table;

/* Route headers kept per dialog; a longer Record-Route makes the dialog fail to set up. */
#define SIP_DIALOG_ROUTES_MAX 8

struct sip_dialog {
    /* private: the chain link and key hash */
    struct sip_chain_link _link;
    /* public, read-only for the caller */
    char *call_id, *local_tag, *remote_tag;
    char *local_uri, *remote_uri; /* From / To of our requests (name-addr as received) */
    char *remote_target;          /* Request-URI of our requests: the peer's Contact URI */
    char *routes[SIP_DIALOG_ROUTES_MAX];
    int route_count;
    uint32_t local_cseq;  /* last used; the next request takes local_cseq + 1 */
    uint32_t remote_cseq; /* the highest seen from the peer */
    bool uac;             /* we sent the INVITE */
    void *user;
};

struct sip_dialog_table *sip_dialog_table_create(void);
/* Frees every dialog still in it (their user pointers are the caller's). */
void sip_dialog_table_destroy(struct sip_dialog_table *tab);
size_t sip_dialog_count(const struct sip_dialog_table *tab);
size_t sip_dialog_buckets(const struct sip_dialog_table *tab);
/* The longest hash chain: with a working hash it stays small however many dialogs live. */
size_t sip_dialog_longest_chain(const struct sip_dialog_table *tab);

/*
 * The caller's side (UAC): from the INVITE we sent and a 2xx (or 1xx with a To tag) to it.
 * Route set: the response's Record-Route in reverse order; remote target: its Contact
 * (RFC 3261 section 12.1.2, from memory). Returns the dialog, or NULL with errno: EEXIST (one
 * with those ids is live), EINVAL (no To tag, no Contact, too many routes), ENOMEM.
 */
struct sip_dialog *sip_dialog_create_uac(struct sip_dialog_table *tab,
                                         const osip_message_t *invite,
                                         const osip_message_t *resp);
/*
 * The answering side (UAS): from the INVITE received and the To tag we chose. Route set: the
 * request's Record-Route in order; remote target: its Contact (RFC 3261 section 12.1.1, from
 * memory). Errors as above (EINVAL: no From tag or no Contact).
 */
struct sip_dialog *sip_dialog_create_uas(struct sip_dialog_table *tab,
                                         const osip_message_t *invite, const char *local_tag);

struct sip_dialog *sip_dialog_find(struct sip_dialog_table *tab, const char *call_id,
                                   const char *local_tag, const char *remote_tag);
/* The dialog of a request received (To tag local, From tag remote), or NULL. */
struct sip_dialog *sip_dialog_find_request(struct sip_dialog_table *tab,
                                           const osip_message_t *req);
/* The dialog of a response received (From tag local, To tag remote), or NULL. */
struct sip_dialog *sip_dialog_find_response(struct sip_dialog_table *tab,
                                            const osip_message_t *resp);
/* Unlinks and frees d. */
void sip_dialog_remove(struct sip_dialog_table *tab, struct sip_dialog *d);

/*
 * A request's CSeq from the peer: false when it is lower than one already seen (the request is
 * out of order: answer 500, RFC 3261 section 12.2.2, from memory); true records it.
 */
bool sip_dialog_check_remote_cseq(struct sip_dialog *d, uint32_t cseq);

/* Where a request in the dialog goes, as a bare URI in out: the first route's URI when there
 * is a route set (loose routing), else the remote target. Strict routers (no ;lr) are not
 * supported. Returns 0 or ENOSPC. */
int sip_dialog_next_hop(const struct sip_dialog *d, char *out, size_t cap);

/* What the agent adds to a request built in the dialog. */
struct sip_dialog_via {
    const char *transport, *host;
    uint16_t port;
    const char *branch;
    const char *contact;
};

/*
 * Builds a request in the dialog (BYE, ACK for a 2xx, ...): Request-URI the remote target,
 * From / To with the tags, the route set as Route headers. cseq 0 takes local_cseq + 1 (and
 * records it); an ACK passes its INVITE's. Returns as sip_msg_build_request() does.
 */
int sip_dialog_build_request(struct sip_dialog *d, const char *method, uint32_t cseq,
                             const struct sip_dialog_via *via, const char *content_type,
                             const char *body, size_t body_len, char *out, size_t cap,
                             size_t *len, char *why, size_t why_cap);

#endif
