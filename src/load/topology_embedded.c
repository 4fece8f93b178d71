/*
 * topology_embedded.c - the embedded topology of `msrpload run` (topology.h): each worker runs
 * its own msrp_server on 127.0.0.1, where each calling session's answering end is expected
 * (with the scenario's answering behaviour) before the calling session connects to it.
 *
 * With transport ws or wss the listener accepts WebSocket upgrades (RFC 7977, as serve --ws)
 * and the calling sessions connect as WebSocket clients, each chunk one message.
 *
 * Owns: the worker's listener and its address, the transports' set-up, the answering
 * sessions' handlers.
 * May not touch: the steps, the counting of outcomes, slots and the clock (the runner core);
 * it reaches them only through the functions topology.h lists.
 */
#include <stdio.h>
#include <stdlib.h>

#include "load/topology.h"
#include "msrp/server.h"
#include "net/conn.h"
#include "net/transport_ws.h"

struct embedded_state {
    struct msrp_server *srv;
    uint16_t port;
    struct sockaddr_storage addr; /* 127.0.0.1:port */
    socklen_t len;
    /* ws, wss: what makes the WebSocket transports of both sides (outlives the connections:
     * freed by fini, once every session is gone) */
    struct net_ws ws_server, ws_client;
    struct net_transport_setup client;
};

/* The embedded answering side only answers; its sessions need no callbacks but the end. */
static void answer_end(struct msrp_session *s, enum msrp_session_end why, const char *detail)
{
    (void)s;
    (void)why;
    (void)detail;
}

static void answer_received(struct msrp_session *s, const struct msrp_received *m)
{
    runner_count_delivery(msrp_session_user(s), m, net_now_ns());
    runner_answer_cpim(msrp_session_user(s), s, m);
}

/* send.file with answer.check_sha256: each piece hashed in file order (runner_file.c). */
static void answer_piece(struct msrp_session *s, struct msrp_span mid, uint64_t pos,
                         const char *p, size_t len, char flag)
{
    runner_file_piece(msrp_session_user(s), mid, pos, p, len, flag);
}

static const struct msrp_session_handlers answering_handlers = {.on_received = answer_received,
                                                                .on_end = answer_end,
                                                                .on_piece = answer_piece};

static int embedded_init(struct worker *w, char *err, size_t errlen)
{
    struct embedded_state *st = calloc(1, sizeof(*st));
    if (st == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    w->topo_state = st;
    enum scenario_transport t = w->sc->transport;
    struct net_transport_setup server = w->cfg->server_tls != NULL
                                            ? net_transport_tls(w->cfg->server_tls)
                                            : net_transport_tcp();
    st->client = w->cfg->client_tls != NULL ? net_transport_tls(w->cfg->client_tls)
                                            : net_transport_tcp();
    /* One chunk per WebSocket message (RFC 7977 5.1): the chunk end finder says where. */
    struct net_ws_opts o = {.boundary = msrp_ws_boundary};
    if (scenario_transport_ws(t)) {
        o.server = true;
        struct net_transport_setup below = server;
        server = net_transport_ws(&st->ws_server, &below, &o);
    }
    if (msrp_server_create_via(w->loop, "127.0.0.1", 0, &server, &st->srv, err, errlen) != 0)
        return -1;
    st->port = msrp_server_port(st->srv);
    net_addr_resolve("127.0.0.1", st->port, &st->addr, &st->len);
    if (scenario_transport_ws(t)) {
        char host[32];
        snprintf(host, sizeof(host), "127.0.0.1:%u", (unsigned)st->port);
        o.server = false;
        o.host = host;
        struct net_transport_setup below = st->client;
        st->client = net_transport_ws(&st->ws_client, &below, &o);
    }
    return 0;
}

static int embedded_start(struct lsession *ls, uint64_t n, struct msrp_session_config *cfg,
                          struct topology_failure *why)
{
    struct worker *w = ls->w;
    struct embedded_state *st = w->topo_state;
    runner_name_answering_end(ls, st->port, n, false);
    struct msrp_session_config acfg;
    runner_answer_config(w, ls, n, &acfg);
    int e = msrp_server_expect(st->srv, &acfg, &answering_handlers, w, 0, NULL);
    if (e != 0) {
        why->what = "cannot expect its answering end";
        return e;
    }
    cfg->peer_path = ls->expect_uri;
    runner_slot_begin(ls);
    e = msrp_session_connect_via(w->loop, cfg, (struct sockaddr *)&st->addr, st->len,
                                 &st->client, &runner_calling_handlers, ls, &ls->s);
    if (e != 0) {
        msrp_server_forget(st->srv, ls->expect_uri);
        why->what = "cannot connect";
        why->peer = cfg->peer_path;
    }
    return e;
}

/* An answering end that was never bound is still expected: the listener forgets it. */
static void embedded_session_ended(struct lsession *ls)
{
    struct embedded_state *st = ls->w->topo_state;
    if (!ls->bound)
        msrp_server_forget(st->srv, ls->expect_uri);
}

static void embedded_fini(struct worker *w)
{
    struct embedded_state *st = w->topo_state;
    if (st == NULL)
        return;
    msrp_server_destroy(st->srv);
    free(st);
    w->topo_state = NULL;
}

const struct topology_ops topology_embedded = {
    .name = "embedded",
    .init = embedded_init,
    .start_session = embedded_start,
    .session_ended = embedded_session_ended,
    .fini = embedded_fini,
};
