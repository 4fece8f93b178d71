/*
 * topology.h - where the load runner's sessions go: one small table of operations per topology,
 * chosen once per run (topology_for) and kept in each worker (w->topo).
 *
 *   embedded  topology_embedded.c  the worker's own msrp_server answers on 127.0.0.1
 *   target    topology_target.c    connect to the --target URIs (session n over all workers
 *                                  picks the target)
 *   relay     topology_relay.c     both ends AUTH with the relay (RFC 4976), then the sessions
 *                                  open through it; delivery is tracked to our answering end
 *   sip       topology_sip.c       each session set up by SIP (INVITE through a proxy, our
 *                                  agents answer from the worker's msrp_server), BYE at its end;
 *             topology_sip_relay.c with a relay: both ends AUTH first (relay_pair.c, shared
 *                                  with relay), the SDP carries their paths, delivery tracked
 *
 * The runner core (runner.c: workers, slots, the clock, the drain; runner_steps.c: the calling
 * session walking the steps and counting outcomes) knows topologies only through this table.
 *
 * The contract, in the order the core calls:
 *
 *   init(w)        once per worker, on the runner's calling thread, before the worker's thread
 *                  starts (w->loop exists; nothing runs on it yet). Resolves whatever the
 *                  topology needs once (addresses, the relay URI, listeners) and keeps it in
 *                  w->topo_state. Returns 0, or -1 with err filled: the run does not start.
 *   start_session  on the worker's loop thread, for each session the core starts in a free
 *                  slot. The core has reset the slot (ls->w, ls->timer.arg, ls->local_uri,
 *                  ls->repeat_left) and filled *cfg for the calling end (local_uri, tracing).
 *                  The topology calls runner_slot_begin(ls) when the session's clock starts,
 *                  and then either connects the calling session now (msrp_session_connect with
 *                  runner_calling_handlers and ls as user, into &ls->s) or starts whatever has
 *                  to come first (the relay's AUTHs) and sets ls->s when it has a session; it
 *                  may keep its own per-session state in ls->topo. Returns 0 (the core counts
 *                  the session started), or an errno value with *why filled (the core counts it
 *                  started and failed; ENOMEM, EMFILE and the like make it wait before the
 *                  next, counted local-error; ECONNREFUSED, a refusal already known (sip: the
 *                  called user's REGISTER failed), waits too, counted connect-failed). On failure the topology has undone what it set up, ls->topo included.
 *   abandon        optional; a slot whose session does not exist yet (ls->s == NULL) must end
 *                  because the run stops: the topology ends the slot itself (counting it,
 *                  then runner_slot_ended). On the loop thread, from the drain or the worker's
 *                  end.
 *   raw_result     optional; the outcome of a raw exchange the topology sent on the calling
 *                  session (the relay's refresh AUTH). Returns true when cookie was its own.
 *   session_ended  optional; the calling session has ended and its outcome is counted; called
 *                  just before the core frees the slot (runner_slot_ended), so the topology
 *                  lets go of what the session held (an expected answering end, a relay pair).
 *   fini(w)        at the worker's end on its loop thread once every session is aborted, and
 *                  again on the calling thread after the join (or for a worker whose thread
 *                  never ran): it frees w->topo_state and must be safe to call twice.
 *
 * The answering ends are the topology's own (msrp_server's expected sessions, adopted relay
 * connections); they report what they receive through runner_count_delivery, and, when the
 * topology tracks delivery, runner_delivered.
 *
 * To add a topology (e.g. SIP-signalled sessions): write topology_<name>.c with these
 * functions and a `const struct topology_ops topology_<name>`, declare it below, add its
 * enum scenario_topology value and a row to the table in topology.c. The scenario loader's
 * list of topology kinds (and its keys, scenarios/README.md) and run's printing of the kind
 * name it too; the runner core needs no change.
 */
#ifndef MSRPLOAD_LOAD_TOPOLOGY_H
#define MSRPLOAD_LOAD_TOPOLOGY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "load/runner_int.h"
#include "scenario/scenario.h"
#include "msrp/session.h"

/* Why a session could not start, for its failure example (both static or in the slot). */
struct topology_failure {
    const char *what; /* "cannot connect" */
    const char *peer; /* where it was going ("" when nowhere yet) */
};

struct topology_ops {
    const char *name;
    /* Its peer's 200 is hop-by-hop (a relay's): a message is over only when our own answering
     * end has it too, and send_one files it in w->pending until then. */
    bool tracks_delivery;
    int (*init)(struct worker *w, char *err, size_t errlen);
    int (*start_session)(struct lsession *ls, uint64_t n, struct msrp_session_config *cfg,
                         struct topology_failure *why);
    void (*abandon)(struct lsession *ls);
    bool (*raw_result)(struct lsession *ls, void *cookie, bool closed,
                       const struct msrp_chunk *response);
    void (*session_ended)(struct lsession *ls);
    void (*fini)(struct worker *w);
};

extern const struct topology_ops topology_embedded;
extern const struct topology_ops topology_target;
extern const struct topology_ops topology_relay;
extern const struct topology_ops topology_sip;
extern const struct topology_ops topology_sip_relay; /* sip through a relay */

/* The row for a scenario's topology; NULL for a kind the table lacks. */
const struct topology_ops *topology_for(enum scenario_topology kind);
/* The row for a scenario: its kind's, or sip through a relay's. */
const struct topology_ops *topology_for_scenario(const struct scenario *sc);

/* ---- what the core offers a topology (runner.c, runner_steps.c) ---- */

/* The calling session's handlers: the session's user is its slot (ls). */
extern const struct msrp_session_handlers runner_calling_handlers;
/* The session's clock starts (bind latency runs from here) and the slot is taken. */
void runner_slot_begin(struct lsession *ls);
/* Names the answering end of session number n in ls->expect_uri, on 127.0.0.1:port, over the
 * answering end's transport; ws_client: it is a WebSocket client (through a relay), so its
 * host is a random .invalid one (RFC 7977 Appendix A). */
void runner_name_answering_end(struct lsession *ls, unsigned port, uint64_t n, bool ws_client);
/* The scenario's answering behaviour, for the answering end of session number n. */
void runner_answer_config(const struct worker *w, const struct lsession *ls, uint64_t n,
                          struct msrp_session_config *acfg);
/* The handshake latencies of one connection over transport t (tls-handshake: TCP up to TLS
 * done; ws-handshake: that to the WebSocket upgrade done), after the warm-up's check. */
void runner_record_handshakes(struct worker *w, enum scenario_transport t, uint64_t connected_ns,
                              uint64_t secured_ns, uint64_t open_ns);
/* A whole message reached one of our answering ends (checked with answer.check_sha256). */
void runner_count_delivery(struct worker *w, const struct msrp_received *m, uint64_t now);
/* Delivery tracked: the message with this Message-ID reached our answering end. */
void runner_delivered(struct worker *w, const char *message_id, uint64_t now);
/* The slot is free again (its session, if it had one, is gone): the next one may start. */
void runner_slot_ended(struct lsession *ls);

#endif
