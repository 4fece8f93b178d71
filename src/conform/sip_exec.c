/*
 * sip_exec.c - runs one SIP offer/answer case (conform --sip-target, conform.h): a private
 * net_loop and SIP user agent (src/sip/ua.h) per case, a listening TCP socket whose port the
 * offers' a=path names (nothing is accepted on it: the cases judge the SDP, not the MSRP
 * session), the INVITEs the case asks for (sipx_call) with each final response awaited for a
 * bounded time, then BYE for every call a 2xx set up, and the wire record.
 *
 * Owns: the agent's life, the calls and their waits, the record. May not touch: what an offer
 * holds or how an answer is judged (sip_cases.c).
 */
#include "conform/sip_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/loop.h"
#include "sip/ua.h"

#define WIRE_MAX (256 * 1024)
#define FINAL_WAIT_S 10.0 /* a final response to an INVITE, at most (before timeout_scale) */
#define BYE_WAIT_S 5.0    /* the BYEs' answers and the call ends, at most */

/* ---- the wire record ---------------------------------------------------------------------- */

static void wire_put(struct sipx *x, const char *s, size_t n)
{
    if (x->wire_len + n + 1 > WIRE_MAX)
        return;
    (void)conform_wire_append(&x->wire, &x->wire_len, &x->wire_cap, 4096, s, n);
}

void sipx_note(struct sipx *x, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t len = strlen(line);
    wire_put(x, "# ", 2);
    wire_put(x, line, len);
    wire_put(x, "\n", 1);
}

void sipx_quote(struct sipx *x, const char *marker, const char *text, size_t len)
{
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && text[j] != '\n')
            j++;
        size_t end = j > i && text[j - 1] == '\r' ? j - 1 : j;
        wire_put(x, marker, strlen(marker));
        wire_put(x, text + i, end - i);
        wire_put(x, "\n", 1);
        i = j + 1;
    }
}

/* ---- the agent's callbacks ---------------------------------------------------------------- */

static void on_established(void *ctx, struct sip_call *call, const char *sdp, size_t len)
{
    struct sipx *x = ctx;
    struct sipx_call *c = sip_call_user(call);
    if (c == NULL)
        return;
    c->status = 200;
    c->established = true;
    c->too_big = sdp != NULL && len >= sizeof c->answer;
    if (sdp != NULL && len < sizeof c->answer) {
        memcpy(c->answer, sdp, len);
        c->answer[len] = '\0';
        c->answer_len = len;
    }
    sipx_note(x, "2xx to INVITE %u, ACK sent; its SDP answer:", (unsigned)(c - x->calls) + 1);
    if (c->answer_len > 0)
        sipx_quote(x, "a< ", c->answer, c->answer_len);
    else if (c->too_big)
        sipx_note(x, "(a body of %zu bytes, over the %d kept: not judged)", len, SIPX_SDP_MAX - 1);
    else
        sipx_note(x, "(no body)");
}

static void on_progress(void *ctx, struct sip_call *call, int status)
{
    struct sipx *x = ctx;
    struct sipx_call *c = sip_call_user(call);
    if (c == NULL)
        return;
    if (c->progress == 0)
        sipx_note(x, "%d to INVITE %u", status, (unsigned)(c - x->calls) + 1);
    c->progress = status;
}

static void on_ended(void *ctx, struct sip_call *call, enum sip_call_end why, int status,
                     const char *reason)
{
    struct sipx *x = ctx;
    struct sipx_call *c = sip_call_user(call);
    if (c == NULL)
        return;
    c->ended = true;
    c->call = NULL;
    if (c->status == 0 && why != SIP_END_ERROR)
        c->status = why == SIP_END_TIMEOUT ? 0 : status;
    sipx_note(x, "call %u ended: %s %d%s%s", (unsigned)(c - x->calls) + 1,
              sip_call_end_name(why), status, reason != NULL && *reason ? " " : "",
              reason != NULL ? reason : "");
}

/* ---- calls -------------------------------------------------------------------------------- */

struct sipx_call *sipx_new_call(struct sipx *x)
{
    if (x->ncalls == SIPX_CALLS)
        return NULL;
    struct sipx_call *c = &x->calls[x->ncalls++];
    memset(c, 0, sizeof(*c));
    return c;
}

int sipx_call(struct sipx *x, struct sipx_call *c, char *observed, size_t cap)
{
    sipx_note(x, "INVITE %u to %s%s%s with the SDP offer:", (unsigned)(c - x->calls) + 1,
              x->peer->target, x->peer->proxy != NULL ? " through " : "",
              x->peer->proxy != NULL ? x->peer->proxy : "");
    sipx_quote(x, "a> ", c->offer, c->offer_len);
    c->call = sip_ua_call(x->ua, x->peer->target, c->offer, c->offer_len, c);
    if (c->call == NULL) {
        snprintf(observed, cap, "could not send an INVITE to %s (a bad SIP URI?)",
                 x->peer->target);
        return -1;
    }
    uint64_t end = net_now_ns() + (uint64_t)(x->wait_s * 1e9);
    while (c->status == 0 && !c->ended && net_now_ns() < end)
        if (net_loop_run_once(x->loop, 20) < 0)
            break;
    if (c->status == 0 && c->progress > 0) {
        /* It is there but did not answer in time: not unreachable; the case's end cancels. */
        snprintf(observed, cap, "rang (%d), no final response within %.0f s", c->progress,
                 x->wait_s);
        return 1;
    }
    if (c->status == 0) {
        const char *last = NULL;
        sip_ua_transport_errors(x->ua, &last);
        snprintf(observed, cap, "no final response to the INVITE within %.0f s%s%s", x->wait_s,
                 last != NULL && *last ? ": " : "", last != NULL ? last : "");
        return -1;
    }
    return 0;
}

/* Hangs up what the case set up and waits (bounded) for the calls to end. */
static void hang_up(struct sipx *x)
{
    for (unsigned i = 0; i < x->ncalls; i++) {
        struct sipx_call *c = &x->calls[i];
        if (c->call != NULL && !c->ended) {
            if (c->established)
                sip_call_bye(c->call);
            else
                sip_call_cancel(c->call);
        }
    }
    uint64_t end = net_now_ns() + (uint64_t)(BYE_WAIT_S * 1e9);
    for (;;) {
        bool open = false;
        for (unsigned i = 0; i < x->ncalls; i++)
            open = open || (x->calls[i].call != NULL && !x->calls[i].ended);
        if (!open || net_now_ns() >= end || net_loop_run_once(x->loop, 20) < 0)
            break;
    }
    /* What is left (a BYE never answered) is dropped with the agent, without a word. */
    for (unsigned i = 0; i < x->ncalls; i++)
        if (x->calls[i].call != NULL)
            sip_call_set_user(x->calls[i].call, NULL);
}

/* A listening socket on 127.0.0.1 with a port of the kernel's choosing; -1 on failure. */
static int listen_any(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 4) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

static enum sip_tp_kind kind_of(const char *uri)
{
    const char *t = uri != NULL ? strstr(uri, ";transport=") : NULL;
    if (t != NULL && strncasecmp(t + 11, "tcp", 3) == 0)
        return SIP_TP_TCP;
    return SIP_TP_UDP;
}

double conform_sip_case_max_wait(const struct scenario *sc, double timeout_scale)
{
    /* each call's wait for its final response, then one bounded wait for the hang-ups */
    unsigned calls = sc->kase != NULL ? sipx_check_calls(sc->kase->sip_check) : 0;
    return calls * FINAL_WAIT_S * (timeout_scale > 0 ? timeout_scale : 1) + BYE_WAIT_S;
}

bool conform_sip_check_known(const char *name)
{
    return sipx_check_find(name) != NULL;
}

void conform_sip_run_case(const struct scenario *sc, const struct conform_sip_peer *p,
                          struct conform_result *r)
{
    const struct scenario_case *k = sc->kase;
    memset(r, 0, sizeof(*r));
    uint64_t t0 = net_now_ns();
    sipx_check_fn check = sipx_check_find(k->sip_check);
    if (k->needs != CASE_SIP || check == NULL || p->target == NULL) {
        r->verdict = CONFORM_SKIP;
        snprintf(r->observed, sizeof r->observed,
                 check == NULL ? "no SIP check named \"%s\" in this build"
                               : "needs a SIP target (--sip-target)",
                 k->sip_check);
        return;
    }
    struct sipx *x = calloc(1, sizeof(*x));
    int fd2 = -1;
    char err[256] = "";
    if (x == NULL) {
        r->verdict = CONFORM_SKIP;
        snprintf(r->observed, sizeof r->observed, "out of memory");
        return;
    }
    x->peer = p;
    x->msrp_fd = -1;
    x->wait_s = FINAL_WAIT_S * (p->timeout_scale > 0 ? p->timeout_scale : 1);
    x->serial = (unsigned)(t0 % 1000000007u);
    struct sip_ua_config cfg = {
        .transport = {.kind = kind_of(p->proxy != NULL ? p->proxy : p->target)},
        .user = p->user != NULL ? p->user : "msrpload",
        .password = p->password,
        .outbound_proxy = p->proxy,
        .cb = {.on_progress = on_progress, .on_established = on_established,
               .on_ended = on_ended},
        .ctx = x,
    };
    if (net_loop_create(&x->loop, 64) != 0) {
        r->verdict = CONFORM_SKIP;
        snprintf(r->observed, sizeof r->observed, "could not make an event loop");
    } else if ((x->msrp_fd = listen_any(&x->msrp_port)) < 0 ||
               (fd2 = listen_any(&x->relay_port)) < 0) {
        r->verdict = CONFORM_SKIP;
        snprintf(r->observed, sizeof r->observed,
                 "could not listen on 127.0.0.1 for the offer's a=path");
    } else if (sip_ua_create(x->loop, &cfg, &x->ua, err, sizeof err) != 0) {
        /* A proxy URI that does not resolve is the user's to fix: unreachable stops the run. */
        r->verdict = CONFORM_UNREACHABLE;
        snprintf(r->observed, sizeof r->observed, "SIP user agent: %s", err);
    } else {
        check(x, k, r);
        hang_up(x);
    }
    if (x->ua != NULL)
        sip_ua_destroy(x->ua);
    if (x->loop != NULL)
        net_loop_destroy(x->loop);
    if (x->msrp_fd >= 0)
        close(x->msrp_fd);
    if (fd2 >= 0)
        close(fd2);
    r->wire = x->wire;
    r->seconds = (double)(net_now_ns() - t0) / 1e9;
    free(x);
}
