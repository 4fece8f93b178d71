/*
 * listen_int.h - conform --listen's capture, shared by its two files and nothing else:
 * listen.c (the listening socket, the client command, the connection it opens and what the
 * checker answers on it) and listen_judge.c (the requirements judged from what was captured).
 * Not a public interface: conform.h is.
 *
 * Thread safety: a capture belongs to the one case (or passive run) that fills it.
 */
#ifndef MSRPLOAD_CONFORM_LISTEN_INT_H
#define MSRPLOAD_CONFORM_LISTEN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "conform/conform.h"
#include "wire/parser.h"

#define LISTEN_TID_MAX 33
#define LISTEN_MID_MAX 33
#define LISTEN_MAX_BREACHES 64
#define LISTEN_MAX_CHUNKS 200000
#define LISTEN_WIRE_CAP (64u << 10)

/* One chunk the client wrote, request or response, as far as the judges need it. */
struct lchunk {
    enum msrp_kind kind;
    enum msrp_method method;
    int status;
    char tid[LISTEN_TID_MAX];
    char mid[LISTEN_MID_MAX];     /* its Message-ID ("" none) */
    bool has_range;
    uint64_t start, end, total;   /* Byte-Range as parsed (end/total MSRP_RANGE_UNKNOWN: "*") */
    long long range_start_text;   /* the range-start as written, -1 when none could be read
                                     (kept apart: "0-0/0" does not parse as a Byte-Range) */
    bool has_body;
    bool transfer_encoding;       /* it had a Content-Transfer-Encoding header */
    uint64_t body_len;
    enum msrp_report sr, fr;      /* Success-Report and Failure-Report as written */
    char flag;
    enum msrp_error error;        /* a chunk error the parser found, or MSRP_OK */
    bool after_413;               /* it arrived after the checker wrote a 413 for its message */
};

/* A rule broken: the requirement id and what showed it. */
struct lbreach {
    const char *requirement;
    char detail[320];
};

struct lcapture {
    bool connected;               /* a connection was accepted */
    double first_request_s;       /* seconds from the accept to the first request; <0: none */
    struct lchunk *chunks;
    size_t nchunks, cap;
    bool chunks_dropped;          /* more than LISTEN_MAX_CHUNKS: the rest not kept */
    struct lbreach breaches[LISTEN_MAX_BREACHES];
    size_t nbreaches;
    /* what the checker did */
    bool sent_413;                /* answered 413 to a chunk of the message */
    char mid_413[LISTEN_MID_MAX];
    bool report_sent;             /* a REPORT for the client's message */
    char report_tid[LISTEN_TID_MAX];
    bool report_answered;         /* a response carried that REPORT's tid */
    bool send_sent;               /* a SEND to the client (send_to_client) */
    char send_mid[LISTEN_MID_MAX];
    char send_tid[LISTEN_TID_MAX];
    /* the client's response to that SEND (its tid), and responses that answer nothing */
    bool send_answered;
    int send_status;
    char send_resp_to[320], send_resp_from[320];
    size_t stray_responses;
    char stray_tid[LISTEN_TID_MAX];
    char my_uri[320], client_uri[320]; /* the checker's URI; the client's (its From-Path) */
    bool peer_closed;
    char end_why[160];            /* how the capture ended */
    /* the wire record: a< what the client wrote, a> what the checker wrote */
    char *wire;
    size_t wire_len;
    bool wire_full;
};

/* listen_judge.c: the verdict of case k from capture c (cases that need the checker to act
 * are judged as the capture allows: passive is true when nobody told the client anything). */
void listen_judge(const struct lcapture *c, const struct scenario_case *k, bool passive,
                  struct conform_result *r);
/* The tids' randomness, estimated (listen_judge.c; for the observed text). */
double listen_tid_bits(const struct lcapture *c, size_t *ntids, size_t *repeats,
                       char *repeat_tid, size_t cap);

/* listen.c: the wire record (a< the client's bytes, a> the checker's). */
void listen_wire_add(struct lcapture *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void listen_wire_bytes(struct lcapture *c, const char *dir, const char *b, size_t n);

/* listen_relay.c: a relay-client case ("client": {"relay": ...}) run with the client command
 * child started until deadline: the checker as an RFC 4976 relay. Breaches and the wire record
 * go into c, the verdict into res. Returns whether the client connected at all (when not,
 * c->end_why says why and res is left alone). */
bool listen_relay_case(struct conform_listener *l, const struct scenario_case *k, pid_t child,
                       double deadline, struct lcapture *c, struct conform_result *res);

#endif
