/*
 * relay_pair.h - the two ends of one load session through an RFC 4976 relay, shared by the
 * relay topology (topology_relay.c) and the sip topology with a relay (topology_sip_relay.c):
 * per worker, the relay's resolved addresses; per session, both ends' AUTHs on connections of
 * their own, the connections held until the caller adopts them as the calling and answering
 * sessions, the refresh AUTHs, and the answering end's handlers (delivery tracked:
 * runner_delivered, the relay's 200 being hop-by-hop).
 *
 * Owns: the pair and its sides, freed when nothing refers to them (no AUTH, held connection
 * or session, and its slot let go: relay_pair_release). The slot (ls->topo, its counting and
 * runner_slot_ended) stays the topology's.
 */
#ifndef MSRPLOAD_LOAD_RELAY_PAIR_H
#define MSRPLOAD_LOAD_RELAY_PAIR_H

#include "load/topology.h"
#include "msrp/relay.h"
#include "net/transport_ws.h"

/* Per worker, from init: where the relay is, [0] its TCP (or TLS) address, [1] its WebSocket
 * one (each when some end uses it), and how a WebSocket end connects. */
struct relay_addr {
    const char *uri;   /* AUTH's To-Path: relay.uri, or relay.ws_msrp_uri */
    struct sockaddr_storage addr;
    socklen_t len;
    char host[256];    /* the TLS server name (a name) or the address its certificate names */
};
struct relay_state {
    struct relay_addr at[2];
    /* outlives the connections it makes (the AUTHs hand them to sessions): freed by fini,
     * once every session is gone */
    struct net_ws ws;
    struct net_transport_setup ws_setup;
    /* run's hidden --violate reuse-relay-uri: the first calling end's Use-Path, which every
     * later calling end puts in its To-Path instead of its own (RFC 4976 section 3.1) */
    char first_use_path[MSRP_RELAY_USE_PATH_MAX];
};

struct relay_pair;
/* Both AUTHs are over (relay_pair_authed says how): the topology goes on or ends the slot.
 * Called from an AUTH's callback; the pair stays alive through it. */
typedef void (*relay_pair_ready_fn)(struct relay_pair *rp, void *user);

/* One end of the pair: side 0 calls, side 1 answers. */
struct relay_side {
    struct relay_pair *rp;
    int index;
    struct msrp_relay_auth *auth;     /* while authenticating */
    struct net_conn *held;            /* authenticated, waiting to be adopted */
    struct msrp_session *s;           /* once adopted */
    struct msrp_relay_auth_config cfg;
    char user[128];
    char use_path[MSRP_RELAY_USE_PATH_MAX];
    struct msrp_relay_refresh refresh;
    bool refreshing;
    struct net_timer refresh_timer;
    char local_uri[96];
    uint32_t granted;                 /* Expires of the relay's 200 (0: none) */
    bool ok, done;
};

struct relay_pair {
    struct worker *w;
    struct relay_state *st;
    struct lsession *ls;              /* NULL once the slot has let go */
    struct relay_side side[2];
    unsigned refs;                    /* pending AUTHs + held connections + live sessions */
    uint64_t started_ns;
    uint64_t n;                       /* the session's number (answering seed) */
    bool connect_failed, auth_failed, held_closed; /* why the slot failed, for session_ends */
    struct msrp_trace *auth_trace;    /* the frames of the first AUTH that failed (forensics) */
    char first_error[256];
    char *to_path[2];                 /* the To-Path each side sends (and expects as From-Path) */
    struct msrp_session_config calling_cfg; /* the core's, for the calling session once adopted */
    const struct msrp_session_handlers *calling_handlers; /* the calling session's (user: ls) */
    relay_pair_ready_fn ready;
    void *ready_user;
};

/* Resolves the relay's addresses the scenario's ends need, once per worker. */
int relay_pair_state_init(struct relay_state *st, const struct scenario *sc,
                     const struct run_config *cfg, char *err, size_t errlen);

/* Starts both ends' AUTHs for session n of slot ls; ready() follows once both are over.
 * Returns 0 and *out, or an errno value (nothing started, the error noted). */
int relay_pair_start(struct relay_state *st, struct worker *w, struct lsession *ls, uint64_t n,
                     const struct msrp_session_config *calling_cfg,
                     const struct msrp_session_handlers *calling_handlers,
                     relay_pair_ready_fn ready, void *user, struct relay_pair **out);

/* Both AUTHs succeeded and both connections are still held. */
bool relay_pair_authed(const struct relay_pair *rp);

/* The failure kind (MSRP_END_* or RUNNER_END_*) of a slot whose pair never got its sessions. */
unsigned relay_pair_fail_kind(const struct relay_pair *rp);

/* Cancels AUTHs still going and closes held connections (the slot ends without sessions). */
void relay_pair_stop(struct relay_pair *rp);

/* The slot lets go of the pair, which lives on while its sessions do. */
void relay_pair_release(struct relay_pair *rp);

/*
 * Adopts both held connections as sessions: the answering one with the pair's handlers, the
 * calling one with calling_handlers into ls->s. to_path[i] is side i's To-Path; NULL for
 * both: the relay topology's own (each side's Use-Path, the peer's Use-Path and URI). Returns
 * 0 (ls->s may be NULL if the calling session ended at once), or -1 with the error noted: the
 * topology ends the slot.
 */
int relay_pair_adopt(struct relay_pair *rp, const char *const to_path[2]);

/* The calling session has ended: the answering end closes too. */
void relay_pair_calling_ended(struct relay_pair *rp);

/* A raw exchange's outcome on the calling session: true when it was the pair's refresh. */
bool relay_pair_raw_result(struct relay_pair *rp, void *cookie, bool closed,
                           const struct msrp_chunk *response);

/* Side i's SDP a=path (RFC 4976 section 5.1): its Use-Path reversed, then its own URI. */
int relay_pair_sdp_path(const struct relay_pair *rp, int i, char *out, size_t cap);

#endif
