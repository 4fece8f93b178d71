/*
 * ua_int.h - what ua.c (calls) and ua_core.c (the agent, its transactions' TU side, digest
 * retries, registration) share: the agent, call and per-transaction structures. Not for use
 * outside src/sip/ua*.c.
 */
#ifndef MSRPLOAD_SIP_UA_INT_H
#define MSRPLOAD_SIP_UA_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/loop.h"
#include "sip/dialog.h"
#include "sip/msg.h"
#include "sip/transport.h"
#include "sip/txn.h"
#include "sip/ua.h"
#include "wire/idgen.h"

#define S_NS 1000000000ull

enum req_kind { RQ_REGISTER, RQ_INVITE, RQ_CANCEL, RQ_BYE, RQ_SERVER };

/* The TU's side of one transaction: where its messages go and what it works for. */
struct ua_req {
    struct sip_ua *ua;
    enum req_kind kind;
    struct sip_call *call; /* referenced; NULL for REGISTER and unrelated server requests */
    struct sip_addr dest;
    char *text; /* client: the request as sent, for a retry with credentials */
    size_t len;
    unsigned auth_done; /* 1: a 401 answered, 2: a 407 answered */
    struct sip_dialog *orphan; /* a BYE for a 2xx no call wanted: its dialog, removed with it */
};

enum call_state {
    CS_CALLING,    /* INVITE sent */
    CS_PROCEEDING, /* a 1xx heard */
    CS_INCOMING,   /* INVITE received, not answered finally */
    CS_WAIT_ACK,   /* 2xx sent, resent until the ACK */
    CS_CONFIRMED,
    CS_BYE_SENT,
};

struct sip_call {
    struct sip_call *prev, *next;
    struct sip_ua *ua;
    int refs;
    enum call_state st;
    bool outgoing, got_1xx, cancel_wanted, cancel_sent, ended;
    bool bye_wanted; /* answerer: sip_call_bye before the ACK, held until it (or no ACK) */
    struct sip_txn *inv_txn;  /* the live INVITE transaction (client or server), or NULL */
    osip_message_t *invite;   /* as sent (latest, after a challenge) or as received */
    struct sip_dialog *dialog;
    struct sip_addr dest;     /* caller: the INVITE's next hop; answerer: where it came from */
    char local_tag[24];
    char *call_id;
    char *ok_text, *ack_text; /* answerer: the 2xx; caller: the ACK for it */
    size_t ok_len, ack_len;
    struct sip_addr ack_dest;
    struct net_timer retx, guard;
    uint64_t retx_at, retx_interval;
    char *peer_sdp;
    size_t peer_sdp_len;
    void *user;
};

struct sip_ua {
    struct net_loop *loop;
    struct sip_ua_config cfg;
    char user[64], domain[128], password[128], auth_user[64];
    struct sip_tp *tp;
    struct sip_txn_table *txns;
    struct sip_dialog_table *dialogs;
    struct msrp_idgen ids;
    char aor[256], contact_uri[256], contact[272];
    bool has_proxy;
    struct sip_addr proxy_addr;
    char proxy_route[280];
    struct sip_call *calls;
    size_t ncalls;
    bool destroying;
    uint64_t tp_errors;     /* transport.c's on_error: not SIP, or a send that failed */
    char tp_last_error[200];
    struct {
        char registrar[256];
        struct sip_addr dest;
        char call_id[40], from_tag[24];
        uint32_t cseq;
        int expires;
        bool active, registered, have_ids;
        struct net_timer refresh;
    } reg;
};

/* A growing buffer for one message: headers plus the body. */
struct mbuf {
    char *p;
    size_t cap, len;
};

/* ua_core.c */
void ua_new_ident(struct sip_ua *ua, char *out, size_t n);
void ua_new_branch(struct sip_ua *ua, char *out, size_t n);
uint64_t ua_t1(const struct sip_ua *ua);
uint64_t ua_t2(const struct sip_ua *ua);
int ua_mbuf_init(struct mbuf *b, size_t body_len);
struct ua_req *ua_req_new(struct sip_ua *ua, enum req_kind kind, struct sip_call *c,
                          const struct sip_addr *dest);
void ua_req_free(struct ua_req *r);
struct sip_txn *ua_start_client(struct sip_ua *ua, enum req_kind kind, struct sip_call *c,
                                const struct sip_addr *dest, const char *branch,
                                const char *method, const char *text, size_t len,
                                unsigned auth_done);
struct sip_dialog_via ua_our_via(struct sip_ua *ua, const char *branch);
bool ua_retry_with_auth(struct sip_ua *ua, struct ua_req *r, const osip_message_t *resp);
void ua_reg_response(struct sip_ua *ua, const osip_message_t *resp);
/* The REGISTER had no final answer: 408 (Timer F) or 503 (the transport failed), and is
 * tried again later. */
void ua_reg_failed(struct sip_ua *ua, int code);

/* ua.c */
void ua_call_unref(struct sip_call *c);
void ua_call_end(struct sip_call *c, enum sip_call_end why, int status, const char *reason);
void ua_on_message(void *ctx, osip_message_t *m, const struct sip_addr *from);
void ua_io_response(void *ctx, struct sip_txn *t, const osip_message_t *resp);
void ua_io_timeout(void *ctx, struct sip_txn *t);

#endif
