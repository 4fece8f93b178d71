/*
 * topology_sip_int.h - what the sip topology's two files share (topology_sip.c: agents, calls
 * and sessions; topology_sip_relay.c: the same through an RFC 4976 relay): the worker's state,
 * one session's signalling, and the few steps of a session's life the relay part calls.
 */
#ifndef MSRPLOAD_LOAD_TOPOLOGY_SIP_INT_H
#define MSRPLOAD_LOAD_TOPOLOGY_SIP_INT_H

#include "load/relay_pair.h"
#include "load/topology.h"
#include "msrp/server.h"
#include "sip/sdp_msrp.h"
#include "sip/ua.h"
#include "wire/idgen.h"

#define SIP_REGISTER_EXPIRES 600
#define SIP_OFFER_MAX 2048
#define SIP_END_WAIT_NS (1000ull * 1000000ull)

struct sip_state;

/* One SIP user the worker plays: its calling agent, and its answering agent (none with a
 * target), with the sessions that wait for that agent's registration. */
struct sip_agent {
    struct sip_state *st;
    char user[128];
    struct sip_ua *caller, *answerer;
    uint64_t register_sent_ns;
    bool registered, register_done; /* a final answer came (registered says which) */
    int register_status;
    char register_why[208];   /* " " and the transport's reason after a 503, else "" */
    struct sip_sess *waiting;       /* sessions calling this user, until it is registered */
};

struct sip_state {
    struct worker *w;
    struct msrp_server *srv;         /* the answering ends (none with a target) */
    uint16_t port;
    struct net_transport_setup client;
    struct msrp_session_handlers calling; /* the core's, with on_bound timed here */
    struct sip_agent *agents;
    unsigned nagents;
    struct pending_map calls;        /* sessions by their Call-ID (its first 32 characters) */
    char domain[256];
    char proxy_host[256]; /* over TLS: the name the proxy's certificate must carry */
    /* at the end: unREGISTERs (and BYEs) still waiting for their answers (fini) */
    bool ending;
    unsigned unregistering;
    struct relay_state *relay;       /* through a relay (topology_sip_relay.c), else NULL */
    struct msrp_idgen ids;           /* the random part of our offers' session ids */
};

/* One session's signalling: lives until the slot let go and both calls have ended. */
struct sip_sess {
    struct worker *w;
    struct lsession *ls;             /* NULL once the slot has let go */
    uint64_t n;
    struct sip_agent *from, *to;     /* to: NULL with a target */
    struct sip_call *out, *in;
    struct sip_sess *wait_next;
    bool waiting, filed, expected, established, bye_sent, failed_slot;
    bool held;                       /* in use across a call that may end the call */
    bool remote_bye;                 /* the peer ended the call first */
    uint64_t invite_ns, established_ns, bye_ns;
    bool got_1xx;
    struct net_timer defer;          /* ends a failed slot outside the agent's callbacks */
    struct net_timer hangup;         /* closes the MSRP session after the peer's BYE, likewise */
    char key[PENDING_ID_MAX + 1];
    char target[400];
    char path[128];                  /* our a=path */
    struct sip_sdp_msrp_local local;
    char why[300];
    struct msrp_session_config cfg;  /* the core's, for the calling session */
    char expect_uri[96];
    char *peer_path;                 /* the answer's path: the calling session's To-Path */
    /* through a relay (topology_sip_relay.c): both ends' AUTHs and sessions, and the offer's
     * a=path, which the answering end's To-Path ends with */
    struct relay_pair *rp;
    char *offer_path;
    unsigned fail_kind;              /* session_ends kind of a failed slot */
};

/* The first reason a session failed, for its failure example (truncated to fit). */
__attribute__((format(printf, 2, 3))) void sip_sess_note(struct sip_sess *ss, const char *fmt,
                                                         ...);
/* Fails the slot from the loop, outside the agents' and AUTHs' callbacks. */
void sip_sess_fail(struct sip_sess *ss);
/* Calls the session's target once its user is registered (or fails it). */
void sip_sess_call(struct sip_sess *ss);

/* ---- topology_sip_relay.c ---- */
int sip_relay_init(struct sip_state *st, char *err, size_t errlen);
void sip_relay_fini(struct sip_state *st);
/* Starts both ends' AUTHs; the INVITE follows once both succeeded. */
int sip_relay_start(struct sip_sess *ss, struct msrp_session_config *cfg);
/* The answering end: its a=path and CEMA in *local, for the offer read (0, or 488 with why). */
int sip_relay_answer(struct sip_sess *ss, const struct sip_sdp_msrp_desc *offer,
                     struct sip_sdp_msrp_local *local, char *path, size_t cap, char *why,
                     size_t whylen);
/* The accepted answer: both sessions open through the relay. 0, or -1 with the reason noted. */
int sip_relay_open(struct sip_sess *ss, const struct sip_sdp_msrp_desc *answer,
                   const struct sip_sdp_msrp_result *res);

#endif
