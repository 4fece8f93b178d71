/*
 * topology_target.c - the target topology of `msrpload run` (topology.h): calling sessions
 * connect to the --target URIs, which answer as they will; session number n over all workers
 * picks the target, so the threads spread over the targets together.
 *
 * A target whose session id holds a %d pattern (scenario_target_format) is filled in with the
 * session's slot numbered over every worker and shard: sessions open at once never share a
 * session id, and a slot's next session takes its id again once the last one has closed
 * (`serve --session-id 's%d' --sessions N` expects each id again after its session ends).
 *
 * Targets ";ws" (transport ws or wss) are reached as a WebSocket client (RFC 7977), the
 * upgrade's request target "/" and its Host the target's host and port.
 *
 * Owns: the targets' resolved addresses and transports (once per worker, at set-up).
 * May not touch: the steps, the counting of outcomes, slots and the clock (the runner core);
 * it reaches them only through the functions topology.h lists.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "load/topology.h"
#include "msrp/uri_addr.h"
#include "net/conn.h"
#include "net/transport_ws.h"
#include "wire/uri.h"

struct target_state {
    struct sockaddr_storage target_addr[SCENARIO_MAX_TARGETS];
    socklen_t target_len[SCENARIO_MAX_TARGETS];
    struct net_transport_setup ts[SCENARIO_MAX_TARGETS];
    struct net_ws ws[SCENARIO_MAX_TARGETS]; /* ws, wss: each target's maker (its Host) */
    bool numbered; /* some target holds a session-id pattern: choose by slot */
};

static int target_init(struct worker *w, char *err, size_t errlen)
{
    const struct scenario *sc = w->sc;
    struct target_state *st = calloc(1, sizeof(*st));
    if (st == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    w->topo_state = st;
    for (unsigned t = 0; t < sc->num_targets; t++) {
        struct msrp_uri_addr a;
        char first[sizeof(sc->targets[0])];
        st->numbered |= scenario_target_format(sc->targets[t], 0, first, sizeof(first));
        if (msrp_uri_resolve(first, &a, NULL, 0) != 0) {
            snprintf(err, errlen, "%s: cannot resolve %s", sc->targets[t], a.host);
            return -1;
        }
        st->target_addr[t] = a.addr;
        st->target_len[t] = a.addr_len;
        st->ts[t] = w->cfg->client_tls != NULL ? net_transport_tls(w->cfg->client_tls)
                                               : net_transport_tcp();
        if (scenario_transport_ws(sc->transport)) {
            char host[300];
            uint16_t port = ntohs(a.addr.ss_family == AF_INET6
                                      ? ((struct sockaddr_in6 *)&a.addr)->sin6_port
                                      : ((struct sockaddr_in *)&a.addr)->sin_port);
            snprintf(host, sizeof(host), strchr(a.host, ':') ? "[%s]:%u" : "%s:%u", a.host,
                     (unsigned)port);
            /* One chunk per WebSocket message (RFC 7977 5.1). */
            struct net_ws_opts o = {.host = host,
                                    .boundary = msrp_ws_boundary};
            struct net_transport_setup below = st->ts[t];
            st->ts[t] = net_transport_ws(&st->ws[t], &below, &o);
        }
    }
    return 0;
}

static int target_start(struct lsession *ls, uint64_t n, struct msrp_session_config *cfg,
                        struct topology_failure *why)
{
    struct worker *w = ls->w;
    const struct scenario *sc = w->sc;
    struct target_state *st = w->topo_state;
    /* Numbered over every worker (as relay_user_for does): the threads' sessions spread
     * over the targets together instead of each thread starting again at the first. */
    uint64_t global = n * w->nworkers + (uint64_t)w->index;
    char filled[sizeof(sc->targets[0])];
    if (st->numbered) {
        /* The slot over every worker, then over every shard: unique among open sessions. */
        uint64_t slot = (uint64_t)(ls - w->slots);
        unsigned shards = w->cfg->shard_count > 0 ? w->cfg->shard_count : 1;
        unsigned shard = w->cfg->shard_count > 0 ? w->cfg->shard_index - 1 : 0;
        global = (slot * w->nworkers + (uint64_t)w->index) * shards + shard;
    }
    unsigned t = (unsigned)(global % sc->num_targets);
    /* run --data's target column: the session's row names it (scenario_data_targets made it
     * one of sc->targets) */
    uint64_t id_n = global / sc->num_targets; /* unique among the sessions open on target t */
    if (ls->data_row != NULL && sc->data->col_target >= 0 && sc->data->target_index != NULL) {
        t = sc->data->target_index[ls->data_index];
        id_n = global; /* the rows choose the target: only the whole number is unique */
    }
    scenario_target_format(sc->targets[t], id_n, filled, sizeof(filled));
    cfg->peer_path = filled; /* the session keeps its own copy */
    runner_slot_begin(ls);
    int e = msrp_session_connect_via(w->loop, cfg, (struct sockaddr *)&st->target_addr[t],
                                     st->target_len[t], &st->ts[t], &runner_calling_handlers, ls,
                                     &ls->s);
    if (e != 0) {
        why->what = "cannot connect";
        why->peer = sc->targets[t]; /* static, unlike filled */
    }
    return e;
}

static void target_fini(struct worker *w)
{
    free(w->topo_state);
    w->topo_state = NULL;
}

const struct topology_ops topology_target = {
    .name = "target",
    .init = target_init,
    .start_session = target_start,
    .fini = target_fini,
};
