/*
 * cx.h - the conformance executor's state, shared by its parts and by nothing else:
 * exec.c (placeholders, header checks, set-up and the walk to a verdict), endpoints.c
 * (connections, AUTH, the frames read from them, the pump), wirelog.c (the wire record),
 * steps.c (the steps: raw, receive, send, expect, and what REPORTs cover), delivery.c (how
 * the bytes are cut into writes) and framerules.c (the rules on every frame the peer writes).
 * Not a public interface: conform.h is.
 *
 * Thread safety: a struct cx belongs to the one case that runs it.
 */
#ifndef MSRPLOAD_CONFORM_CX_H
#define MSRPLOAD_CONFORM_CX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "conform/conform.h"
#include "msrp/relay.h"
#include "net/conn.h"
#include "net/loop.h"
#include "net/transport_ws.h"
#include "wire/idgen.h"
#include "wire/parser.h"
#include "wire/writer.h"

#define CX_MAX_HEADERS 64
#define CX_READ_BUFFER (4u << 20)
/* The wire record keeps at most this much in all; one event shows at most EVENT_SHOWN bytes
 * from its start and EVENT_TAIL from its end (a 1 MiB body is not worth quoting). */
#define WIRE_CAP (512u << 10)
#define EVENT_SHOWN 1536
#define EVENT_TAIL 96
#define CX_CONNECT_TIMEOUT_NS (5ull * 1000000000ull)
#define CX_BIND_TIMEOUT_NS (5ull * 1000000000ull)
#define CX_MAX_CHUNKS 4096
/* The request transaction ids of the peer kept per connection, for framerules.c. */
#define CX_PEER_TIDS 256

struct frame {
    char *bytes;
    size_t len;
    bool used;
    bool malformed; /* bytes that could not be framed (the rest of the stream) */
};

struct cx;

struct ws_raw; /* wsraw.c */

struct ep {
    struct cx *x;
    unsigned idx;
    struct net_conn *conn;
    /* how conn was made (endpoints.c): they must outlive it */
    struct net_transport_setup below, setup;
    struct net_ws ws;
    struct ws_raw *raw; /* conform's raw WebSocket path (wsraw.c), when the case wants it */
    char *held;        /* --delivery pipelined: bytes waiting for the next wait */
    size_t held_len, held_cap;
    bool open, closed, failed;
    char close_why[160];
    struct msrp_parser parser;
    struct frame *frames;
    size_t nframes, cap;
    char local_uri[128];
    char use_path[MSRP_RELAY_USE_PATH_MAX];
    char challenge[1024]; /* WWW-Authenticate of the last 401 seen */
    uint32_t nc;
    bool auth_done, auth_ok;
    char auth_error[256];
    char peer_tids[CX_PEER_TIDS][MSRP_TID_MAX + 1];
    size_t npeer_tids;
};

/* What the last send step sent, for the expect after it. */
struct sent_chunk {
    char tid[MSRP_GENERATED_TID_LEN + 1];
    int status; /* 0: no response yet */
};

struct cx {
    struct net_loop *loop;
    enum conform_delivery delivery; /* never ALL here: one pattern per run */
    char bind_tid[SCENARIO_RAW_TID_LEN + 1]; /* pipelined: the binding SEND, checked later */
    const struct scenario *sc;
    const struct scenario_case *k;
    const struct conform_peer *p;
    struct ep ep[2];
    unsigned neps;
    struct msrp_idgen ids;
    char tid[SCENARIO_RAW_TID_LEN + 1];
    char mid[SCENARIO_RAW_MESSAGE_ID_LEN + 1];
    /* the last send step */
    struct sent_chunk *sent;
    size_t nsent;
    enum msrp_report sent_fr;
    unsigned sent_ep;
    uint64_t sent_size; /* the whole message's size; 0 when it was aborted */
    /* the record and the verdict */
    char *wire;
    size_t wire_len, wire_cap;
    bool wire_full;
    bool in_steps; /* set-up (connect, AUTH) is over: the case's own steps run */
    bool failed, unreachable, unobservable;
    char observed[2048];
};

struct want {
    struct ep *e;
    const char *tid;    /* a response with this tid */
    const char *method; /* or a request with this method ("" any) */
    size_t found;       /* frame index */
    bool any_malformed;
};

/* ---- wirelog.c ---------------------------------------------------------------------------- */

/* Bytes sent (out) or received by endpoint ep, into the wire record. */
void cx_wire_bytes(struct cx *x, unsigned ep, bool out, const char *b, size_t n);
/* A note in the wire record ("# ..."). */
void cx_wire_note(struct cx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The check was not met: the first call records why; later ones are ignored. */
void cx_fail(struct cx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- endpoints.c -------------------------------------------------------------------------- */

/* A step timeout times --timeout-scale. */
uint64_t cx_scaled(const struct cx *x, uint64_t ns);
/* Runs the loop until cond(x, arg) holds (true) or the deadline passes (false). */
bool cx_pump(struct cx *x, uint64_t deadline, bool (*cond)(struct cx *, void *), void *arg);
/* Gives endpoint e a fresh local URI (its From-Path) for this case. */
void cx_ep_local_uri(struct cx *x, struct ep *e);
/* Connects e to the peer (TLS when its URI says so) and waits until it is open. False: the
 * peer is unreachable, why in x->observed. */
bool cx_ep_connect(struct cx *x, struct ep *e);
/* Connects e to the relay and authenticates (RFC 4976 AUTH), keeping its Use-Path. False: the
 * relay is unreachable or refused, why in x->observed. */
bool cx_auth_relay(struct cx *x, struct ep *e);
/* Parses a kept frame again; false for bytes that never framed. */
bool cx_frame_parse(const struct frame *f, struct msrp_chunk *ch, struct msrp_header *hdrs);
bool cx_span_is(struct msrp_span s, const char *c);
const struct msrp_header *cx_find_header(const struct msrp_chunk *ch, const char *name);
/* cx_pump conditions: the response or request w (a struct want) waits for, or a close. */
bool cx_find_response(struct cx *x, void *arg);
bool cx_find_request(struct cx *x, void *arg);
bool cx_ep_closed(struct cx *x, void *arg);

/* ---- wsraw.c ------------------------------------------------------------------------------ */

/* True when endpoint e goes through conform's raw WebSocket path (the case's "websocket" asks
 * for frame-level control and e's hop is a WebSocket one). */
bool cx_ws_raw_wanted(const struct cx *x, const struct ep *e);
/* The setup of a raw-path transport over below for e (e->raw is made here; cx_ws_raw_free
 * frees it after the connection is gone). */
struct net_transport_setup cx_ws_raw_setup(struct cx *x, struct ep *e,
                                           const struct net_transport_setup *below);
void cx_ws_raw_free(struct ep *e);
/* What the raw path saw that breaks RFC 7977 (101 without msrp, a message holding other than
 * one chunk, ...): judged at the end of the case, as the frame rules are. */
void cx_ws_raw_judge(struct cx *x);

/* ---- exec.c ------------------------------------------------------------------------------- */

/* The To-Path from endpoint ep to the peer. */
void cx_path_to_peer(const struct cx *x, unsigned ep, char *out, size_t cap);
/* Fills in a template's placeholders; SIZE_MAX when it does not fit cap. */
size_t cx_expand(struct cx *x, unsigned ep, const struct raw_piece *pieces, unsigned n,
                 const char *text, char *out, size_t cap);
bool cx_draw_id(struct cx *x, char *out, size_t len);
/* A step's header checks on a chunk (what names it in messages). */
bool cx_run_checks(struct cx *x, unsigned ep, const struct step_conform *f,
                   const struct msrp_chunk *ch, const char *what);
bool cx_status_in(int status, const int *list, unsigned n);
void cx_statuses_text(const int *list, unsigned n, char *out, size_t cap);

/* ---- delivery.c --------------------------------------------------------------------------- */

/* Writes (records first) what endpoint e sends, cut as x->delivery says. False when the case
 * failed; true also when the peer closed midway (the rest is not written, a wire note says so). */
bool cx_send(struct cx *x, struct ep *e, const struct iovec *iov, int n);
bool cx_send_text(struct cx *x, struct ep *e, const char *b, size_t n);
/* Pipelined: what each endpoint holds leaves now, one write each (cx_pump calls it). */
void cx_flush_held(struct cx *x);

/* ---- framerules.c ------------------------------------------------------------------------- */

/* The rules every frame the peer writes keeps (URIs, request and REPORT construction): a
 * broken one fails the case if the case lists its requirement, else it is a wire note. */
void cx_frame_rules(struct cx *x, struct ep *e, const struct frame *f);

/* ---- steps.c ------------------------------------------------------------------------------ */

void cx_step_raw(struct cx *x, const struct step_raw *st);
void cx_step_receive(struct cx *x, const struct step_receive *st);
void cx_step_send(struct cx *x, const struct step_send *s);
void cx_step_expect(struct cx *x, const struct step_expect *st);

#endif
