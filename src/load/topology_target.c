/*
 * topology_target.c - the target topology of `msrpload run` (topology.h): calling sessions
 * connect to the --target URIs, which answer as they will; session number n over all workers
 * picks the target, so the threads spread over the targets together.
 *
 * Owns: the targets' resolved addresses (once per worker, at set-up).
 * May not touch: the steps, the counting of outcomes, slots and the clock (the runner core);
 * it reaches them only through the functions topology.h lists.
 */
#include <stdlib.h>
#include <string.h>

#include "load/topology.h"
#include "msrp/uri_addr.h"
#include "net/conn.h"
#include "wire/uri.h"

struct target_state {
    struct sockaddr_storage target_addr[SCENARIO_MAX_TARGETS];
    socklen_t target_len[SCENARIO_MAX_TARGETS];
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
        if (msrp_uri_resolve(sc->targets[t], &a, NULL, 0) != 0) {
            snprintf(err, errlen, "%s: cannot resolve %s", sc->targets[t], a.host);
            return -1;
        }
        st->target_addr[t] = a.addr;
        st->target_len[t] = a.addr_len;
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
    unsigned t = (unsigned)(global % sc->num_targets);
    cfg->peer_path = sc->targets[t];
    runner_slot_begin(ls);
    int e = msrp_session_connect(w->loop, cfg, (struct sockaddr *)&st->target_addr[t],
                                 st->target_len[t], w->cfg->client_tls, &runner_calling_handlers,
                                 ls, &ls->s);
    if (e != 0) {
        why->what = "cannot connect";
        why->peer = cfg->peer_path;
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
