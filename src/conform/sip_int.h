/*
 * sip_int.h - private to the SIP offer/answer cases (conform --sip-target): what the call
 * runner (sip_exec.c: one user agent and loop per case, INVITE, the final response, BYE) and
 * the cases (sip_cases.c: the offers and the judges of the answers) share. Nothing outside
 * src/conform/sip_*.c includes it.
 */
#ifndef MSRPLOAD_CONFORM_SIP_INT_H
#define MSRPLOAD_CONFORM_SIP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conform/conform.h"

#define SIPX_SDP_MAX 8192
#define SIPX_CALLS 2 /* the most calls one case places */

/* One INVITE of a case and what came back. */
struct sipx_call {
    char offer[SIPX_SDP_MAX];
    size_t offer_len;
    int status;           /* the final response: 200 for a 2xx, the code of a failure, 0 none */
    char answer[SIPX_SDP_MAX]; /* the 2xx's body (NUL-terminated), "" when it had none */
    size_t answer_len;
    int progress;         /* the latest 1xx heard, 0 none */
    bool too_big;         /* the 2xx had a body larger than answer[] (answer_len 0) */
    bool established;     /* 2xx received and ACKed: a BYE is owed */
    bool ended;
    struct sip_call *call;
};

/* One case's run. */
struct sipx {
    const struct conform_sip_peer *peer;
    struct net_loop *loop;
    struct sip_ua *ua;
    int msrp_fd;             /* a listening TCP socket: the port of our offers' paths */
    uint16_t msrp_port;
    uint16_t relay_port;     /* a second one for offers that claim a relay */
    unsigned serial;         /* makes each offer's session id new */
    struct sipx_call calls[SIPX_CALLS];
    unsigned ncalls;
    double wait_s;           /* the longest wait for a final response */
    char *wire;              /* the record for conform_result.wire */
    size_t wire_len, wire_cap;
};

/* Sends an INVITE with c->offer to the target and waits (bounded by x->wait_s) for its final
 * response, which stays established until the runner hangs up after the judge. Returns 0 with
 * c->status set; 1 when only a 1xx came (it rang: the call is cancelled at the case's end);
 * -1 when nothing came (the target is unreachable). observed says which. */
int sipx_call(struct sipx *x, struct sipx_call *c, char *observed, size_t cap);
/* A new call slot of the case (NULL when the case has used them all). */
struct sipx_call *sipx_new_call(struct sipx *x);
/* A note in the wire record ("# ..."), and text quoted line by line behind a marker. */
void sipx_note(struct sipx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sipx_quote(struct sipx *x, const char *marker, const char *text, size_t len);

/* sip_cases.c: one check; sets r->verdict and, unless it passed, r->observed. */
typedef void (*sipx_check_fn)(struct sipx *x, const struct scenario_case *k,
                              struct conform_result *r);
sipx_check_fn sipx_check_find(const char *name);
/* How many calls the check places at most (0: no such check). */
unsigned sipx_check_calls(const char *name);

#endif
