/*
 * runner_raw.c - a calling session's raw steps (scenarios/README.md "raw"): the bytes of a
 * step's template, expanded with the session's paths and fresh ids, written as they are, and
 * the check of what came back (a status, nothing, or the session's end) against the step.
 *
 * Owns: raw steps' sending and checking. May not touch: the step walk (runner_steps.c calls
 * these from advance() and the session's callbacks).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "load/runner_int.h"
#include "msrp/session.h"
#include "wire/idgen.h"

/* "200" or "one of 400, 501": what a raw step expects, for messages. */
static void raw_expected_text(const struct step_raw *st, char *buf, size_t cap)
{
    size_t o = (size_t)snprintf(buf, cap, "%s", st->num_statuses > 1 ? "one of " : "");
    for (unsigned i = 0; i < st->num_statuses && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%d", i > 0 ? ", " : "", st->statuses[i]);
}

/*
 * Checks a raw step's outcome: status (0: none within the timeout), or the end of the session
 * (why != MSRP_END_NONE). A mismatch counts as an expectation failure, whatever the warm-up:
 * a raw step checks conformance, not performance. Returns whether the expectation was met.
 */
bool runner_raw_check(struct lsession *ls, const struct step_raw *st, int status,
                      enum msrp_session_end why)
{
    bool ended = why != MSRP_END_NONE;
    char want[96], what[256];
    double secs = (double)st->timeout_ns / 1e9;
    const char *end = msrp_session_end_name(why);
    switch (st->expect) {
    case RAW_EXPECT_RESPONSE: {
        bool listed = false;
        for (unsigned i = 0; i < st->num_statuses; i++)
            listed = listed || st->statuses[i] == status;
        if (!ended && listed)
            return true;
        raw_expected_text(st, want, sizeof(want));
        if (ended)
            snprintf(what, sizeof(what),
                     "a raw step saw the session end (%s) where the scenario expects %s", end,
                     want);
        else if (status == 0)
            snprintf(what, sizeof(what),
                     "a raw step got no response within %g s where the scenario expects %s", secs,
                     want);
        else
            snprintf(what, sizeof(what), "a raw step got %d where the scenario expects %s", status,
                     want);
        break;
    }
    case RAW_EXPECT_NONE:
        if (!ended && status == 0)
            return true;
        if (ended)
            snprintf(what, sizeof(what),
                     "a raw step saw the session end (%s) where the scenario expects no response",
                     end);
        else
            snprintf(what, sizeof(what), "a raw step got %d where the scenario expects no response",
                     status);
        break;
    case RAW_EXPECT_CLOSE:
        /* Bytes that break the RFC 4975 section 9 grammar leave the receiver nothing but
         * closing the connection (no section says more). Only the peer closing counts, not
         * the session failing. */
        if (why == MSRP_END_PEER_CLOSED)
            return true;
        if (ended)
            snprintf(what, sizeof(what),
                     "a raw step saw the session end (%s) where the scenario expects the peer to "
                     "close the connection",
                     end);
        else if (status == 0)
            snprintf(what, sizeof(what),
                     "a raw step saw the connection stay open for %g s where the scenario expects "
                     "the peer to close it",
                     secs);
        else
            snprintf(
                what, sizeof(what),
                "a raw step got %d where the scenario expects the peer to close the connection",
                status);
        break;
    }
    runner_expect_failed(ls, 1, what);
    return false;
}

/*
 * Starts the raw step at pc. Returns true when it waits (for its outcome, or first for the
 * messages in flight), false when it could not be sent: that is an expectation failure, and
 * the caller goes on to the next step.
 */
bool runner_raw_start(struct lsession *ls, const struct step_raw *st)
{
    struct worker *w = ls->w;
    /* The peer is expected to close the connection, and the messages still on their way
     * would be lost with it, failing their own expectations: let them finish first. */
    if (st->expect == RAW_EXPECT_CLOSE && ls->in_flight > 0) {
        ls->raw_after_idle = true;
        return true;
    }
    const char *problem = NULL;
    if (w->raw == NULL) {
        w->raw = malloc(sizeof(*w->raw));
        if (w->raw == NULL || msrp_idgen_init(&w->raw->ids) != 0) {
            free(w->raw);
            w->raw = NULL;
            problem = "cannot set up its id generator";
        }
    }
    /* RFC 4975 section 7.1: transaction ids (and here Message-IDs) random enough that no one
     * guesses them; the tid is also how the session tells this step's response apart. */
    char tid[SCENARIO_RAW_TID_LEN], mid[SCENARIO_RAW_MESSAGE_ID_LEN];
    size_t len = 0;
    if (problem == NULL && (msrp_idgen_ident(&w->raw->ids, tid, sizeof(tid)) != 0 ||
                            msrp_idgen_ident(&w->raw->ids, mid, sizeof(mid)) != 0))
        problem = "the CSPRNG failed";
    struct scenario_vars vars = {
        .tid = msrp_span_make(tid, sizeof(tid)),
        .message_id = msrp_span_make(mid, sizeof(mid)),
        .to_path = msrp_span_cstr(msrp_session_peer_path(ls->s)),
        .from_path = msrp_span_cstr(msrp_session_local_uri(ls->s)),
        .data = ls->data_row,
    };
    if (problem == NULL && (len = scenario_template_expand(st->pieces, st->num_pieces, st->text,
                                                           &vars, w->raw->buf,
                                                           SCENARIO_RAW_MAX)) == SIZE_MAX)
        problem = "its template is longer than 65536 bytes once expanded";
    int e = 0;
    if (problem == NULL && (e = msrp_session_send_raw(ls->s, w->raw->buf, len, tid, sizeof(tid),
                                                      st->timeout_ns, (void *)st)) != 0)
        problem = strerror(e);
    if (problem == NULL) {
        ls->raw = st;
        ls->raw_closed = false;
        return true;
    }
    char what[256];
    snprintf(what, sizeof(what), "a raw step could not be sent: %s", problem);
    runner_expect_failed(ls, 1, what);
    return false;
}
