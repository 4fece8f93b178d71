/*
 * runner_cpim.c - send.cpim in the runner (issue 19): each message of such a step wrapped in
 * message/cpim (RFC 3862) with imdn.Message-ID and, when asked, imdn.Disposition-Notification
 * (RFC 5438 section 6); our answering ends unwrap and check what they receive and send the
 * delivery notification back (msrp/cpim_peer.c); the calling session matches each
 * notification by the IMDN <message-id> (RFC 5438 section 7.1.2) and records imdn-delivery
 * latency. A message that asked for positive-delivery stays in flight after its 200 until
 * its notification comes (so the session does not close under it) or its response timeout
 * runs out, when the notification counts as missing and, as for a missing REPORT the
 * scenario expects, as an expectation failure.
 *
 * Owns: the worker's IMDN map (w->imdn_wait), the parked tags (ls->imdn_head), the imdn_*
 * counters. May not touch: outcomes of messages (runner_steps.c counts them).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "load/runner_int.h"
#include "msrp/cpim_peer.h"
#include "wire/cpim.h"

size_t runner_cpim_keep(const struct worker *w)
{
    const struct scenario *sc = w->sc;
    size_t keep = 0;
    for (unsigned i = 0; i < sc->num_steps; i++) {
        const struct step_send *st = &sc->steps[i].u.send;
        if (sc->steps[i].kind != SCN_STEP_SEND || !st->cpim.on)
            continue;
        /* the largest wrapped message: its body plus the CPIM headers (well under 4 KiB; the
         * loader caps size_max at SCENARIO_CPIM_SIZE_MAX) */
        size_t need = (size_t)st->size_max + 4096;
        if (need < MSRP_CPIM_KEEP_MAX)
            need = MSRP_CPIM_KEEP_MAX;
        if (need > keep)
            keep = need;
    }
    return keep;
}

int runner_cpim_wrap(struct lsession *ls, struct msg_tag *tag, const struct step_send *st,
                     const char *body, size_t size, char **out, size_t *out_len)
{
    struct worker *w = ls->w;
    if (w->cpim_ids == NULL) {
        w->cpim_ids = malloc(sizeof(*w->cpim_ids));
        if (w->cpim_ids == NULL || msrp_idgen_init(w->cpim_ids) != 0) {
            free(w->cpim_ids);
            w->cpim_ids = NULL;
            return -1;
        }
    }
    /* RFC 5438 section 6.3: unguessable, 64 bits of randomness at least (16 of 62 chars) */
    if (msrp_idgen_ident(w->cpim_ids, tag->imdn_id, RUNNER_IMDN_ID_LEN) != 0)
        return -1;
    tag->imdn_id[RUNNER_IMDN_ID_LEN] = '\0';
    char now[40];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    cpim_datetime_format((unsigned long long)ts.tv_sec * 1000000000ull +
                             (unsigned long long)ts.tv_nsec,
                         now, sizeof(now));
    struct cpim_build b = {.from = st->cpim.from, .to = st->cpim.to, .datetime = now,
                           .message_id = tag->imdn_id, .notify = st->cpim.notify,
                           .content_type = st->content_type};
    char head[1024];
    size_t h = cpim_build_head(&b, head, sizeof(head));
    if (h == 0)
        return -1;
    /* The session sends from one contiguous body, so the inner one is copied behind the head
     * once per message (the session frees it: msrp_send_opts.owns_body). */
    char *buf = malloc(h + size + 1);
    if (buf == NULL)
        return -1;
    memcpy(buf, head, h);
    if (size > 0)
        memcpy(buf + h, body, size);
    *out = buf;
    *out_len = h + size;
    tag->imdn_wanted = (st->cpim.notify & CPIM_NOTIFY_POSITIVE_DELIVERY) != 0;
    tag->imdn_queued_ns = net_now_ns();
    tag->imdn_counted = counting(w, tag->imdn_queued_ns);
    if (tag->imdn_wanted &&
        pending_put(&w->imdn_wait, tag->imdn_id, RUNNER_IMDN_ID_LEN, tag) != 0) {
        free(buf);
        return -1;
    }
    return 0;
}

void runner_cpim_unsent(struct worker *w, struct msg_tag *tag)
{
    if (tag->imdn_wanted)
        pending_take(&w->imdn_wait, tag->imdn_id, RUNNER_IMDN_ID_LEN);
    tag->imdn_wanted = false;
}

void runner_cpim_answered(struct lsession *ls, struct msg_tag *tag, int status)
{
    struct worker *w = ls->w;
    if (!tag->imdn_wanted || tag->imdn_requested)
        return;
    if (status != 200) {
        /* not delivered: no notification is owed (RFC 5438 7.2.1, positive-delivery only) */
        if (!tag->imdn_got)
            pending_take(&w->imdn_wait, tag->imdn_id, RUNNER_IMDN_ID_LEN);
        tag->imdn_wanted = false;
        return;
    }
    tag->imdn_requested = true;
    if (tag->imdn_counted)
        w->stats.imdn_requested++;
}

/* The notification will not come: counted, and filed away. */
static void imdn_lost(struct lsession *ls, struct msg_tag *tag, bool expired)
{
    struct worker *w = ls->w;
    pending_take(&w->imdn_wait, tag->imdn_id, RUNNER_IMDN_ID_LEN);
    tag->imdn_wanted = false;
    if (!tag->imdn_requested || !tag->imdn_counted)
        return;
    /* cut off, as its message would be: by the run's end, or by a churn ending that does not
     * wait (load.endings other than clean) */
    if ((w->stopping || (ls->lifetime_over && ls->ending != SCENARIO_ENDING_CLEAN)) &&
        !expired) {
        w->stats.imdn_unfinished++;
        return;
    }
    w->stats.imdn_missing++;
    char what[200];
    snprintf(what, sizeof(what), "the delivery notification for imdn.Message-ID %s %s",
             tag->imdn_id, expired ? "did not come within the response timeout"
                                   : "was lost with its session");
    runner_expect_failed(ls, 1, what);
}

static void unpark(struct lsession *ls, struct msg_tag *tag)
{
    if (tag->imdn_prev != NULL)
        tag->imdn_prev->imdn_next = tag->imdn_next;
    else
        ls->imdn_head = tag->imdn_next;
    if (tag->imdn_next != NULL)
        tag->imdn_next->imdn_prev = tag->imdn_prev;
    else
        ls->imdn_tail = tag->imdn_prev;
    tag->imdn_parked = false;
}

bool runner_cpim_park(struct lsession *ls, struct msg_tag *tag, bool session_ending)
{
    if (!tag->imdn_wanted || tag->imdn_got || tag->imdn_parked)
        return false;
    if (session_ending || !tag->imdn_requested) {
        imdn_lost(ls, tag, false);
        return false;
    }
    uint64_t timeout = tag->expect != NULL && tag->expect->timeout_ns > 0
                           ? tag->expect->timeout_ns
                           : MSRP_DEFAULT_RESPONSE_TIMEOUT_NS;
    tag->imdn_due_ns = net_now_ns() + timeout;
    tag->imdn_parked = true;
    tag->imdn_next = NULL;
    tag->imdn_prev = ls->imdn_tail;
    if (ls->imdn_tail != NULL)
        ls->imdn_tail->imdn_next = tag;
    else
        ls->imdn_head = tag;
    ls->imdn_tail = tag;
    return true;
}

void runner_cpim_expire(struct lsession *ls, uint64_t now)
{
    /* bounded: each pass takes one tag off the list for good */
    while (ls->imdn_head != NULL && ls->imdn_head->imdn_due_ns <= now) {
        struct msg_tag *tag = ls->imdn_head;
        unpark(ls, tag);
        imdn_lost(ls, tag, true);
        runner_message_over(ls, tag, false);
    }
}

void runner_cpim_session_end(struct lsession *ls)
{
    while (ls->imdn_head != NULL) {
        struct msg_tag *tag = ls->imdn_head;
        unpark(ls, tag);
        imdn_lost(ls, tag, false);
        runner_message_over(ls, tag, true);
    }
}

void runner_answer_cpim(struct worker *w, struct msrp_session *s, const struct msrp_received *m)
{
    const struct scenario *sc = w->sc;
    struct msrp_cpim_result r;
    msrp_cpim_handle(s, m, sc->accept_types,
                     sc->accept_wrapped_types[0] != '\0' ? sc->accept_wrapped_types : NULL, true,
                     &r);
    if (r.verdict == MSRP_CPIM_MALFORMED) {
        w->stats.expect_failures++;
        char what[320];
        snprintf(what, sizeof(what), "our answering end received %.280s", r.detail);
        note_error(w, what);
    }
}

void runner_cpim_calling_received(struct lsession *ls, struct msrp_session *s,
                                  const struct msrp_received *m)
{
    struct worker *w = ls->w;
    struct msrp_cpim_result r;
    msrp_cpim_handle(s, m, NULL, NULL, false, &r);
    char what[320];
    if (r.verdict == MSRP_CPIM_MALFORMED) {
        snprintf(what, sizeof(what), "a notification came back malformed: %.260s", r.detail);
        runner_expect_failed(ls, 1, what);
        return;
    }
    if (r.verdict != MSRP_CPIM_IMDN)
        return;
    struct msg_tag *tag = pending_take(&w->imdn_wait, r.imdn_for, strlen(r.imdn_for));
    if (tag == NULL) {
        /* RFC 5438 7.2.1: one delivery IMDN per IM, so a second one, or one for an IM never
         * sent, is the peer's fault */
        snprintf(what, sizeof(what), "a delivery notification for %.64s, a message not "
                 "awaiting one", r.imdn_for);
        runner_expect_failed(ls, 1, what);
        return;
    }
    uint64_t now = net_now_ns();
    tag->imdn_got = true;
    if (tag->imdn_counted) {
        w->stats.imdn_received++;
        histogram_record(&w->stats.lat[LAT_IMDN_DELIVERY], (now - tag->imdn_queued_ns) / 1000);
        /* the 200 may come after the notification (a delayed response): owed all the same */
        if (!tag->imdn_requested) {
            tag->imdn_requested = true;
            w->stats.imdn_requested++;
        }
    }
    if (tag->imdn_parked) {
        struct lsession *owner = tag->ls;
        unpark(owner, tag);
        runner_message_over(owner, tag, false);
    }
}
