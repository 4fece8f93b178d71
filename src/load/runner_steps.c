/*
 * runner_steps.c - one calling session of `msrpload run`, whatever the topology: it walks the
 * scenario's compiled steps with its own program counter (SIPp's model), issues its messages
 * (closed loop: at most `outstanding` in flight; open loop: on schedule.c's schedule,
 * latency corrected from the intended send time), checks and counts each outcome into its worker's
 * statistics, and answers the session's callbacks (runner_calling_handlers).
 *
 * Owns: the steps (send, expect, pause, repeat, close, raw), each message's size and think time
 * drawn from the step's distributions with the session's generator (scenario/distrib.h), and
 * run --data's row in a message (content_file) or a raw template; message tags and outcome counting,
 * delivery tracking (messages a hop-by-hop 200 does not finish, found again by Message-ID in
 * the worker's pending map), and what a calling session's end counts.
 * May not touch: how sessions start or where they go (topology_*.c, through w->topo only),
 * the worker's clock and threads (runner.c). Everything here runs on the worker's loop thread.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "load/failures.h"
#include "load/pending.h"
#include "load/runner_int.h"
#include "load/topology.h"
#include "msrp/session.h"
#include "net/loop.h"
#include "wire/idgen.h"
#include "wire/values.h"

/* Whether the text of an expectation failure is worth formatting: the first error, or an
 * example the failure log keeps. */
static bool wants_text(const struct worker *w)
{
    return w->first_error[0] == '\0' || failure_wants_example(w->failures, FAILURE_EXPECTATION);
}

/* An outcome that did not meet the scenario's expectation (what: NULL when not wants_text). */
static void expectation_failed(struct lsession *ls, uint64_t n, const char *what)
{
    struct worker *w = ls->w;
    w->stats.expect_failures += n;
    if (what != NULL)
        note_error(w, what);
    if (n == 0)
        return;
    failure_note(w->failures, FAILURE_EXPECTATION, net_now_ns(), ls->local_uri,
                 ls->s != NULL ? msrp_session_peer(ls->s) : "", what,
                 ls->s != NULL ? msrp_session_trace(ls->s) : NULL);
    w->failures->kinds[FAILURE_EXPECTATION].count += n - 1; /* one example says it for all */
}

void runner_expect_failed(struct lsession *ls, uint64_t n, const char *what)
{
    expectation_failed(ls, n, what);
}

/* ---- steps ------------------------------------------------------------------------------- */

static void advance(struct lsession *ls);
static void maybe_step_done(struct lsession *ls);

/* send.size from its distribution with the session's own generator (distrib.h). */
static uint64_t draw_size(struct lsession *ls, const struct step_send *st)
{
    return st->content != NULL ? st->content_len : distrib_draw_u64(&st->size, &ls->rng);
}

/* send.think: the session's next message waits a time drawn after each of this step's. */
static void draw_think(struct lsession *ls, const struct step_send *st, uint64_t now)
{
    ls->think_due_ns = 0;
    if (st->think.max > 0)
        ls->think_due_ns = now + (uint64_t)(distrib_draw(&st->think, &ls->rng) * 1e9);
}

/* A message's outcome (on_sent, or send_one for one reported while being sent). */
static void sent_outcome(struct lsession *ls, const struct msrp_sent *m);

/* Sends the step's next message; returns whether it was handed over. The open loop's pacing
 * records its lag itself, once written (pace()); the closed loop's is recorded here. */
static bool send_one(struct lsession *ls, uint64_t intended_ns)
{
    const struct step_send *st = ls->send;
    struct msrp_send_opts o = {
        .content_type = st->content_type,
        .failure_report = st->failure_report,
        .success_report = st->success_report,
        .chunk_size = st->chunk_size,
        .response_timeout_ns = ls->expect != NULL ? ls->expect->timeout_ns : 0,
        .unknown_total = st->unknown_total,
        .numeric_range_end = st->numeric_range_end,
        .interrupt_after = st->interrupt_after,
        .abort_after = st->abort_after,
        /* The loader's order names the session's, one for one. */
        .order = st->order,
        .overlap = st->overlap,
    };
    struct worker *w = ls->w;
    struct msg_tag *tag = w->free_tags;
    if (tag != NULL)
        w->free_tags = tag->next_free;
    else if ((tag = malloc(sizeof(*tag))) == NULL)
        return false;
    tag->intended_ns = intended_ns;
    tag->expect = ls->expect;
    tag->failure_report = st->failure_report;
    tag->tracked = w->topo->tracks_delivery;
    tag->answered = tag->delivered = false;
    tag->imdn_wanted = tag->imdn_counted = tag->imdn_requested = false;
    tag->imdn_got = tag->imdn_parked = false;
    tag->ls = ls;
    tag->ft = NULL;
    tag->in_send = true;
    tag->has_early = false;
    o.cookie = tag;
    o.message_id_out = tag->tracked ? tag->message_id : NULL;
    if (st->file != NULL) {
        /* send.file: a file transfer, one or two messages (runner_file.c) */
        int r = runner_file_send(ls, tag, st, &o);
        tag->in_send = false;
        if (r <= 0) {
            tag->next_free = w->free_tags;
            w->free_tags = tag;
            if (r < 0) {
                expectation_failed(ls, 1, "send.file: a file transfer could not start");
                ls->to_issue--;
                if (ls->awaiting > 0)
                    ls->awaiting--;
            }
            return false;
        }
        goto sent;
    }
    uint64_t size = draw_size(ls, st);
    const char *body = st->content != NULL ? st->content : w->body;
    /* run --data's content_file: the session's row says the body of its messages */
    const struct scenario_data *data = w->sc->data;
    if (data != NULL && data->col_content_file >= 0 && st->content == NULL) {
        body = data->contents[ls->data_index].ptr;
        size = data->contents[ls->data_index].len;
    }
    char *wrapped = NULL;
    size_t wrapped_len = 0;
    /* send.cpim: the body goes inside message/cpim (runner_cpim.c) */
    if (st->cpim.on) {
        if (runner_cpim_wrap(ls, tag, st, body, (size_t)size, &wrapped, &wrapped_len) != 0) {
            tag->next_free = w->free_tags;
            w->free_tags = tag;
            return false;
        }
        o.content_type = "message/cpim";
        o.owns_body = true;
    }
    int e = msrp_session_send(ls->s, wrapped != NULL ? wrapped : body,
                              wrapped != NULL ? wrapped_len : (size_t)size, &o);
    tag->in_send = false;
    if (e != 0) {
        free(wrapped);
        runner_cpim_unsent(w, tag);
        tag->next_free = w->free_tags;
        w->free_tags = tag;
        return false;
    }
sent:
    if (w->sc->mode != SCENARIO_OPEN)
        runner_sched_sent(w, intended_ns, intended_ns);
    draw_think(ls, st, intended_ns);
    /* One that cannot be filed (out of memory) is over at its 200, as without a relay. */
    if (tag->tracked && pending_put(&w->pending, tag->message_id, MSRP_MESSAGE_ID_LEN, tag) != 0)
        tag->tracked = false;
    ls->to_issue--;
    ls->in_flight++;
    if (tag->has_early) {
        /* over already: counted now that it is filed, as though it had come a moment later.
         * The next message is not issued from in here (that would recurse once a message for
         * as long as each is over at once): the caller's loop (issue(), pace()) goes on. */
        tag->has_early = false;
        ls->settling_early = true;
        sent_outcome(ls, &tag->early);
        ls->settling_early = false;
    }
    return true;
}

static void issue_and_maybe_advance(struct lsession *ls);

static void think_over(struct net_loop *loop, struct net_timer *t)
{
    (void)loop;
    issue_and_maybe_advance(t->arg);
}

static void issue(struct lsession *ls)
{
    const struct scenario *sc = ls->w->sc;
    if (sc->mode == SCENARIO_OPEN)
        return; /* the pacing timer issues */
    while (ls->to_issue > 0 && ls->in_flight < sc->outstanding && !ls->closing &&
           !ls->w->stopping && !ls->retiring && !ls->lifetime_over &&
           !msrp_session_congested(ls->s)) {
        uint64_t now = net_now_ns();
        if (ls->think_due_ns > now) {
            /* thinking (send.think): the timer issues once it is over; the timer is free
             * while a step still has messages to issue */
            if (!net_timer_armed(&ls->timer)) {
                ls->timer.fn = think_over;
                net_timer_start(ls->w->loop, &ls->timer, ls->think_due_ns - now);
            }
            return;
        }
        (void)send_one(ls, now);
    }
}

/*
 * Open loop: every message of the session whose intended time has come leaves in this call,
 * late or not (that is what makes the corrected latency honest about coordinated omission),
 * across the send steps of a repeat, and all of them in one write: a session that fell
 * behind (the machine was busy elsewhere) catches up at the cost of one system call, not
 * one per message and loop pass, which at a rate near the loop's limit never caught up.
 * At most RUNNER_PACE_BURST at a time, so one session cannot hold the loop. The lag of each
 * (schedule.c) runs from its intended time to when that write returned: on the wire, not
 * merely handed to the session.
 */
static void pace(struct net_loop *loop, struct net_timer *t)
{
    struct lsession *ls = t->arg;
    struct worker *w = ls->w;
    uint64_t now = net_now_ns();
    struct net_conn *c = ls->s != NULL ? msrp_session_conn(ls->s) : NULL;
    if (c != NULL)
        net_conn_hold(c); /* released below: one write for what this call sends */
    ls->pacing = true;    /* cleared if the slot ends meanwhile (runner_slot_ended) */
    uint64_t sent_due[RUNNER_PACE_BURST];
    unsigned sent = 0, tries = 0;
    while (ls->pacing && ls->send != NULL && ls->to_issue > 0 && !ls->closing && !w->stopping &&
           !ls->lifetime_over &&
           ls->next_intended_ns <= now && ls->next_intended_ns < w->end_ns && /* nothing is due
                                                                                 after the end */
           tries < RUNNER_PACE_BURST) {
        if (send_one(ls, ls->next_intended_ns))
            sent_due[sent++] = ls->next_intended_ns;
        ls->next_intended_ns = runner_sched_next(ls); /* schedule.c: the rate or the stages */
        tries++;
        /* The step is issued: walk on (a repeat's next send step continues this loop, as
         * advance() leaves its timer to us while pacing). */
        if (ls->to_issue == 0)
            maybe_step_done(ls);
    }
    bool ours = ls->pacing;
    ls->pacing = false;
    if (ours && ls->send != NULL && ls->to_issue > 0 && !ls->closing && ls->timer.fn == pace)
        net_timer_start(loop, t, runner_sched_wait(w, ls->next_intended_ns, net_now_ns()));
    if (c != NULL)
        net_conn_release(c); /* the write */
    uint64_t written_ns = net_now_ns();
    for (unsigned i = 0; i < sent; i++)
        runner_sched_sent(w, sent_due[i], written_ns);
}

static bool status_expected(const struct step_expect *e, int status)
{
    for (unsigned i = 0; i < e->num_statuses; i++)
        if (e->statuses[i] == status)
            return true;
    return false;
}

static void step_done(struct lsession *ls)
{
    net_timer_stop(ls->w->loop, &ls->timer);
    ls->waiting_reports = false;
    ls->pc += ls->expect != NULL ? 2 : 1;
    ls->send = NULL;
    ls->expect = NULL;
    advance(ls);
}

static void reports_timeout(struct net_loop *loop, struct net_timer *t)
{
    (void)loop;
    struct lsession *ls = t->arg;
    uint64_t missing = ls->reports_wanted - ls->reports_got;
    ls->w->stats.reports_missing += missing;
    char what[160];
    snprintf(what, sizeof(what), "%llu REPORTs the scenario expects did not come within %g s",
             (unsigned long long)missing, (double)ls->expect->timeout_ns / 1e9);
    expectation_failed(ls, missing, what);
    step_done(ls);
}

/*
 * A send step is done when its messages are issued: the session keeps `outstanding` messages
 * in flight across steps, and each outcome meets its own step's expectation when it comes.
 * Only a step that expects REPORTs waits for every outcome and REPORT first.
 */
static void maybe_step_done(struct lsession *ls)
{
    if (ls->send == NULL || ls->to_issue > 0 || ls->waiting_reports)
        return;
    bool wants_reports = ls->expect != NULL && ls->expect->report != 0;
    if (wants_reports && ls->awaiting > 0)
        return;
    if (ls->expect != NULL && ls->expect->report != 0 && ls->reports_got < ls->reports_wanted) {
        ls->waiting_reports = true;
        ls->timer.fn = reports_timeout;
        net_timer_start(ls->w->loop, &ls->timer, ls->expect->timeout_ns);
        return;
    }
    step_done(ls);
}

static void issue_and_maybe_advance(struct lsession *ls)
{
    issue(ls);
    maybe_step_done(ls);
}

static void pause_done(struct net_loop *loop, struct net_timer *t)
{
    (void)loop;
    struct lsession *ls = t->arg;
    ls->pc++;
    advance(ls);
}

/*
 * Closes the session once its messages in flight have their outcomes (the drain: at the end
 * of a run too, bounded by the drain deadline, after which the worker aborts what is left).
 * A session ended by the end of the run has not completed its steps.
 */
void runner_finish_session(struct lsession *ls)
{
    if (ls->closing)
        return;
    if (ls->s == NULL && ls->w->topo->abandon != NULL) {
        ls->w->topo->abandon(ls); /* its topology is still setting it up: nothing to drain */
        return;
    }
    if (ls->in_flight > 0) {
        ls->close_when_idle = true; /* let the last outcomes arrive first */
        return;
    }
    ls->closing = true;
    /* one whose lifetime is over (churn) completed, even if the run ends meanwhile */
    ls->finished = ls->lifetime_over || (!ls->w->stopping && !ls->retiring);
    msrp_session_close(ls->s);
}

/* Walks steps until one has to wait. */
static void advance(struct lsession *ls)
{
    const struct scenario *sc = ls->w->sc;
    while (!ls->closing) {
        if (ls->w->stopping || ls->lifetime_over || ls->pc >= sc->num_steps) {
            runner_finish_session(ls);
            return;
        }
        const struct step *st = &sc->steps[ls->pc];
        switch (st->kind) {
        case SCN_STEP_SEND:
            ls->send = &st->u.send;
            ls->expect = ls->pc + 1 < sc->num_steps && sc->steps[ls->pc + 1].kind == SCN_STEP_EXPECT
                             ? &sc->steps[ls->pc + 1].u.expect
                             : NULL;
            ls->to_issue = st->u.send.count;
            ls->awaiting = st->u.send.count;
            ls->reports_wanted = ls->expect != NULL && ls->expect->report ? st->u.send.count : 0;
            ls->reports_got = 0;
            if (sc->mode == SCENARIO_OPEN) {
                /* One schedule per session, across steps: a step never restarts the clock,
                 * and sending goes through the timer, so a session that fell behind catches
                 * up in the loop rather than in a recursion through its steps. */
                uint64_t now = net_now_ns();
                if (ls->next_intended_ns == 0)
                    ls->next_intended_ns = runner_sched_first(ls, now);
                ls->timer.fn = pace;
                if (!ls->pacing) /* else pace() is on it now */
                    net_timer_start(ls->w->loop, &ls->timer,
                                    runner_sched_wait(ls->w, ls->next_intended_ns, now));
                return;
            }
            issue(ls);
            if (ls->to_issue > 0 || (ls->expect != NULL && ls->expect->report != 0))
                return; /* the rest leaves as outcomes free room */
            ls->send = NULL; /* issued: on to the next step while these are in flight */
            ls->pc += ls->expect != NULL ? 2 : 1;
            ls->expect = NULL;
            break;
        case SCN_STEP_EXPECT:
            ls->pc++; /* only reached when not right after a send: the loader forbids it */
            break;
        case SCN_STEP_PAUSE:
            ls->timer.fn = pause_done;
            net_timer_start(ls->w->loop, &ls->timer,
                            st->pause_dist.max > 0
                                ? (uint64_t)(distrib_draw(&st->pause_dist, &ls->rng) * 1e9)
                                : st->u.pause_ns);
            return;
        case SCN_STEP_REPEAT_BEGIN:
            ls->repeat_left[ls->pc] = st->u.repeat.times;
            ls->pc++;
            break;
        case SCN_STEP_REPEAT_END: {
            unsigned begin = st->u.repeat.other;
            uint32_t times = sc->steps[begin].u.repeat.times;
            if (times == 0 || --ls->repeat_left[begin] > 0)
                ls->pc = begin + 1;
            else
                ls->pc++;
            break;
        }
        case SCN_STEP_CLOSE:
            runner_finish_session(ls);
            return;
        case SCN_STEP_RAW:
            if (runner_raw_start(ls, &st->u.raw))
                return; /* on_raw_result (or on_sent, for a close step) goes on */
            ls->pc++;
            break;
        case SCN_STEP_RECEIVE: /* case files only: `run` refuses them */
            ls->pc++;
            break;
        }
    }
}

/* ---- session callbacks -------------------------------------------------------------------- */

static void on_bound(struct msrp_session *s)
{
    struct lsession *ls = msrp_session_user(s);
    struct worker *w = ls->w;
    uint64_t now = net_now_ns();
    ls->bound = true;
    w->stats.sessions_bound++;
    if (counting(w, now)) {
        struct msrp_session_timing t;
        msrp_session_timing(s, &t);
        histogram_record(&w->stats.lat[LAT_BIND], (now - ls->started_ns) / 1000);
        /* Only a connection the session made itself: an adopted one (the relay's, after
         * AUTH) was counted by its topology when it came up. */
        if (t.connected_ns >= t.started_ns && t.connected_ns != 0) {
            histogram_record(&w->stats.lat[LAT_CONNECT], (t.connected_ns - t.started_ns) / 1000);
            runner_record_handshakes(w, w->sc->end_transport[SCENARIO_CALLER], t.connected_ns,
                                     t.secured_ns, t.open_ns);
        }
    }
    advance(ls);
}

/* How long a message the relay has answered may take to arrive: its response timeout. */
static uint64_t delivery_timeout_ns(const struct msg_tag *tag)
{
    return tag->expect != NULL && tag->expect->timeout_ns > 0 ? tag->expect->timeout_ns
                                                              : MSRP_DEFAULT_RESPONSE_TIMEOUT_NS;
}

/* Whether a message's outcome is what its step expects (without an expect step: a 200). */
static bool outcome_met(const struct msg_tag *tag, const struct outcome *o, bool undelivered)
{
    if (undelivered || o->status == 0)
        return false;
    if (tag->expect == NULL)
        return o->status == 200;
    return status_expected(tag->expect, o->status) &&
           !(tag->expect->answered >= 0 && (bool)tag->expect->answered == o->local);
}

/*
 * Counts one message's outcome (after warm-up) and checks it against its step's expectation.
 * Messages are counted when their outcome comes, so that sent = succeeded + failed + lost +
 * unfinished over the measured window. Status 0: the session ended first (lost, or cut off
 * by the end of the run).
 */
static void count_outcome(struct lsession *ls, const struct msg_tag *tag, const struct outcome *o,
                          bool undelivered, uint64_t now)
{
    struct worker *w = ls->w;
    bool ok = o->status == 200 && !undelivered;
    /* Warm-up included: a run whose every message met its expectation early still did. */
    if (outcome_met(tag, o, undelivered))
        w->msgs_met++;
    /* The current second's latencies size the batching window and the progress line's p99,
     * warm-up included, so that the window is right when measuring starts. */
    if (ok)
        histogram_record(&w->interval, (o->done_ns - o->first_sent_ns) / 1000);
    if (!counting(w, now))
        return;
    struct run_stats *st = &w->stats;
    st->msgs_sent++;
    /* cut by the run, or by a churn ending that does not wait (a clean one waits: what it
     * loses is lost) */
    if (o->status == 0 &&
        (w->stopping || (ls->lifetime_over && ls->ending != SCENARIO_ENDING_CLEAN))) {
        st->msgs_unfinished++; /* neither a success nor a failure */
        return;
    }
    if (undelivered)
        st->msgs_undelivered++;
    else if (o->status == 0)
        st->msgs_lost++;
    else {
        stats_count_status(st, o->status);
        if (o->local) {
            o->status == 408 ? st->timeouts_local_408++ : st->timeouts_local_200++;
            if ((unsigned)tag->failure_report < 4)
                st->timeouts_by_fr[tag->failure_report]++;
        }
    }
    if (ok) {
        st->msgs_ok++;
        st->payload_bytes += o->bytes;
        histogram_record(&st->lat[LAT_MESSAGE], (o->done_ns - o->first_sent_ns) / 1000);
        if (w->sc->mode == SCENARIO_OPEN && tag->intended_ns <= o->done_ns)
            histogram_record(&st->lat[LAT_MESSAGE_CORRECTED],
                             (o->done_ns - tag->intended_ns) / 1000);
    } else if (o->status != 0) {
        st->msgs_failed++; /* a lost one (status 0) is counted as lost only */
    }
    st->chunks_sent += o->chunks;
    struct stats_second *sec = second(w, now);
    if (sec != NULL) {
        ok ? sec->msgs_ok++ : sec->msgs_failed++;
        sec->chunks += o->chunks;
        sec->payload_bytes += ok ? o->bytes : 0;
        if (ok) {
            uint64_t us = (o->done_ns - o->first_sent_ns) / 1000;
            sec->msg_latency_sum_us += us;
            if (us > sec->msg_latency_max_us)
                sec->msg_latency_max_us = us;
        }
    }
    __atomic_add_fetch(ok ? &w->prog_msgs : &w->prog_errors, 1, __ATOMIC_RELAXED);
    if (ok)
        __atomic_add_fetch(&w->prog_bytes, o->bytes, __ATOMIC_RELAXED);
    if (tag->expect == NULL)
        return;
    bool status_ok = status_expected(tag->expect, o->status);
    bool answered_ok = !(tag->expect->answered >= 0 && (bool)tag->expect->answered == o->local);
    if (!undelivered && status_ok && answered_ok)
        return;
    char what[256];
    if (!wants_text(w)) {
        expectation_failed(ls, 1, NULL); /* counted; its text would go nowhere */
        return;
    }
    if (undelivered)
        snprintf(what, sizeof(what),
                 "a message the relay answered %d never reached the other end within %.1f s",
                 o->status, (double)delivery_timeout_ns(tag) / 1e9);
    else if (!status_ok && o->status == 0 && o->local)
        snprintf(what, sizeof(what),
                 "a message was lost with its connection (%.150s) where the scenario expects %d",
                 ls->s != NULL ? msrp_session_end_detail(ls->s) : "", tag->expect->statuses[0]);
    else if (!status_ok)
        snprintf(what, sizeof(what), "a message got %d where the scenario expects %d", o->status,
                 tag->expect->statuses[0]);
    else
        snprintf(what, sizeof(what), "a message's %d was %s where the scenario expects %s",
                 o->status, o->local ? "made up locally" : "the peer's answer",
                 o->local ? "an answer" : "none");
    expectation_failed(ls, 1, what);
}

/* The message is over: its tag goes back and its room in the window is free again. */
static void message_over(struct lsession *ls, struct msg_tag *tag, bool session_ending)
{
    struct worker *w = ls->w;
    if (runner_cpim_park(ls, tag, session_ending))
        return; /* over when its notification comes (runner_cpim.c) */
    tag->next_free = w->free_tags;
    w->free_tags = tag;
    if (ls->in_flight > 0)
        ls->in_flight--;
    if (ls->awaiting > 0)
        ls->awaiting--;
    if (session_ending)
        return; /* on_end follows */
    if (ls->close_when_idle) {
        if (ls->in_flight == 0) {
            ls->close_when_idle = false;
            runner_finish_session(ls);
        }
        return;
    }
    if (ls->raw_after_idle) {
        if (ls->in_flight == 0) {
            ls->raw_after_idle = false;
            advance(ls); /* back to the raw step, which now finds nothing in flight */
        }
        return;
    }
    if (ls->settling_early)
        return; /* send_one's caller issues the next and walks on (issue(), pace(), advance()) */
    issue_and_maybe_advance(ls);
}

/* ls->undelivered is in the order of the relay's answers, so its head runs out first. */
static void undelivered_append(struct lsession *ls, struct msg_tag *tag)
{
    tag->next = NULL;
    tag->prev = ls->undelivered_tail;
    if (ls->undelivered_tail != NULL)
        ls->undelivered_tail->next = tag;
    else
        ls->undelivered = tag;
    ls->undelivered_tail = tag;
}

static void undelivered_unlink(struct lsession *ls, struct msg_tag *tag)
{
    if (tag->prev != NULL)
        tag->prev->next = tag->next;
    else
        ls->undelivered = tag->next;
    if (tag->next != NULL)
        tag->next->prev = tag->prev;
    else
        ls->undelivered_tail = tag->prev;
}

static void sent_outcome(struct lsession *ls, const struct msrp_sent *m)
{
    struct worker *w = ls->w;
    struct msg_tag *tag = m->cookie;
    if (tag->ft != NULL && runner_file_sent(ls, tag, m))
        return; /* the interrupted first part of a resumed file transfer */
    struct outcome o = {m->status, m->local, m->bytes, m->chunks, m->first_sent_ns, m->done_ns};
    runner_cpim_answered(ls, tag, m->status);
    if (tag->tracked) {
        if (m->status == 200 && !tag->delivered) {
            /* The relay has it: the message is over when our other end has it too. */
            tag->answered = true;
            tag->answer = o;
            undelivered_append(ls, tag);
            return;
        }
        if (!tag->delivered)
            pending_take(&w->pending, tag->message_id, MSRP_MESSAGE_ID_LEN);
    }
    count_outcome(ls, tag, &o, false, net_now_ns());
    message_over(ls, tag, m->status == 0);
}

static void on_sent(struct msrp_session *s, const struct msrp_sent *m)
{
    struct msg_tag *tag = m->cookie;
    if (tag->in_send) {
        /* reported from inside msrp_session_send: send_one counts it once it is filed */
        tag->early = *m;
        tag->early.message_id = NULL; /* the session's copy is gone; tag->message_id stays */
        tag->has_early = true;
        return;
    }
    sent_outcome(msrp_session_user(s), m);
}

/*
 * Relay topology: a message reached our answering end. Its sender's outcome is counted now if
 * the relay has answered it already (latency runs to this moment), else when the answer comes
 * (which is later, so latency runs to it).
 */
void runner_delivered(struct worker *w, const char *message_id, uint64_t now)
{
    struct msg_tag *tag = pending_take(&w->pending, message_id, strlen(message_id));
    if (tag == NULL)
        return;
    if (!tag->answered) {
        tag->delivered = true;
        return;
    }
    undelivered_unlink(tag->ls, tag);
    tag->answer.done_ns = now;
    count_outcome(tag->ls, tag, &tag->answer, false, now);
    message_over(tag->ls, tag, false);
}

/*
 * Gives up on a message the relay answered but our other end never received: its response
 * timeout ran out (expired: a failure, and the session goes on), or its session ended.
 */
static void give_up_delivery(struct lsession *ls, struct msg_tag *tag, bool expired, uint64_t now)
{
    undelivered_unlink(ls, tag);
    pending_take(&ls->w->pending, tag->message_id, MSRP_MESSAGE_ID_LEN);
    struct outcome gone = {.status = 0, .local = true};
    count_outcome(ls, tag, expired ? &tag->answer : &gone, expired, now);
    message_over(ls, tag, !expired);
}

/* Messages the relay answered that never arrived within their response timeout. */
void runner_message_over(struct lsession *ls, struct msg_tag *tag, bool session_ending)
{
    message_over(ls, tag, session_ending);
}

void runner_expire_undelivered(struct lsession *ls, uint64_t now)
{
    runner_cpim_expire(ls, now);
    while (ls->undelivered != NULL &&
           ls->undelivered->answer.done_ns + delivery_timeout_ns(ls->undelivered) <= now)
        give_up_delivery(ls, ls->undelivered, true, now);
}

/* The calling session ended: what it still awaited is lost with it (or cut off by the stop). */
static void drop_undelivered(struct lsession *ls, uint64_t now)
{
    while (ls->undelivered != NULL)
        give_up_delivery(ls, ls->undelivered, false, now);
}

static void on_chunk(struct msrp_session *s, const struct msrp_chunk_result *r)
{
    struct lsession *ls = msrp_session_user(s);
    if (counting(ls->w, r->done_ns) && r->status == 200 && !r->local)
        histogram_record(&ls->w->stats.lat[LAT_CHUNK], (r->done_ns - r->sent_ns) / 1000);
}

static void on_report(struct msrp_session *s, const struct msrp_report_in *r)
{
    struct lsession *ls = msrp_session_user(s);
    if (ls->expect == NULL || ls->expect->report == 0)
        return;
    if (r->status == ls->expect->report) {
        ls->reports_got++;
        if (counting(ls->w, net_now_ns()))
            ls->w->stats.reports_ok++;
    }
    if (ls->waiting_reports && ls->reports_got >= ls->reports_wanted)
        step_done(ls);
}

static void on_writable(struct msrp_session *s)
{
    issue_and_maybe_advance(msrp_session_user(s));
}

static void on_raw_result(struct msrp_session *s, void *cookie, int status, bool closed,
                          const struct msrp_chunk *response)
{
    struct lsession *ls = msrp_session_user(s);
    const struct topology_ops *topo = ls->w->topo;
    if (topo->raw_result != NULL && topo->raw_result(ls, cookie, closed, response))
        return; /* the topology's own exchange (the relay's refresh AUTH) */
    const struct step_raw *st = cookie;
    if (ls->raw != st)
        return;
    if (closed) {
        /* on_end follows at once and knows why the session ended: it judges. */
        ls->raw_closed = true;
        return;
    }
    ls->raw = NULL;
    if (ls->closing)
        return; /* the run is ending: neither met nor failed */
    runner_raw_check(ls, st, status, MSRP_END_NONE);
    ls->pc++;
    advance(ls);
}

/* The slot is free again (its session, if it had one, is gone): the next one may start. */

static void on_end(struct msrp_session *s, enum msrp_session_end why, const char *detail)
{
    struct lsession *ls = msrp_session_user(s);
    struct worker *w = ls->w;
    net_timer_stop(w->loop, &ls->timer);
    uint64_t now = net_now_ns();
    uint64_t wire_in, wire_out;
    msrp_session_wire_bytes(s, &wire_in, &wire_out);
    w->stats.wire_bytes_in += wire_in;
    w->stats.wire_bytes_out += wire_out;
    unsigned close_code = msrp_session_peer_close_code(s);
    if (close_code != 0)
        stats_count_ws_close(&w->stats, close_code, 1);
    struct stats_second *sec = second(w, now);
    bool failed = !(ls->finished && why == MSRP_END_CLOSED);
    if ((w->stopping || ls->retiring) && why == MSRP_END_CLOSED)
        failed = false; /* closed by the end of the run (or a stage), not by a fault */
    /* A raw step that expected the peer to close the connection: that is how this session
     * was meant to end, so it completed (the steps after it are not walked). */
    bool raw_met = false;
    if (ls->raw != NULL && ls->raw_closed && !ls->closing)
        raw_met = runner_raw_check(ls, ls->raw, 0, why);
    ls->raw = NULL;
    if (raw_met) {
        failed = false;
        ls->finished = true;
    }
    /* A close the scenario asked for is counted as an orderly end, not as an error kind. */
    enum msrp_session_end counted = raw_met ? MSRP_END_CLOSED : why;
    if ((unsigned)counted < STATS_END_KINDS)
        w->stats.session_ends[counted]++;
    w->stats.session_endings[ls->lifetime_over ? ls->ending : STATS_ENDINGS - 1]++;
    if (failed) {
        w->stats.sessions_failed++;
        char what[256];
        snprintf(what, sizeof(what), "session %s: %s (%s)", ls->local_uri,
                 msrp_session_end_name(why), detail);
        note_error(w, what);
        failure_note(w->failures, counted, now, ls->local_uri, msrp_session_peer(s), detail,
                     msrp_session_trace(s));
    } else if (ls->finished) {
        w->stats.sessions_completed++;
    } else {
        w->stats.sessions_unfinished++; /* cut off by the end of the run */
        if (!ls->bound) {
            char what[400];
            snprintf(what, sizeof(what),
                     "session %s: not bound when the run ended (no answer to its binding SEND "
                     "to %.100s)", ls->local_uri, msrp_session_peer_path(s));
            note_error(w, what);
            failure_note(w->failures, FAILURE_UNBOUND_AT_END, now, ls->local_uri,
                         msrp_session_peer(s),
                         "no answer to the binding SEND by the end of the run",
                         msrp_session_trace(s));
        }
    }
    if (sec != NULL) {
        sec->sessions_ended++;
        sec->sessions_failed += failed;
    }
    runner_cpim_session_end(ls);
    drop_undelivered(ls, now);
    if (w->topo->session_ended != NULL)
        w->topo->session_ended(ls);
    runner_slot_ended(ls);
}

static void on_received(struct msrp_session *s, const struct msrp_received *m)
{
    runner_cpim_calling_received(msrp_session_user(s), s, m);
}

const struct msrp_session_handlers runner_calling_handlers = {
    .on_received = on_received,
    .on_bound = on_bound,
    .on_sent = on_sent,
    .on_chunk_result = on_chunk,
    .on_report = on_report,
    .on_writable = on_writable,
    .on_end = on_end,
    .on_raw_result = on_raw_result,
};

void runner_record_handshakes(struct worker *w, enum scenario_transport t, uint64_t connected_ns,
                              uint64_t secured_ns, uint64_t open_ns)
{
    if (connected_ns == 0)
        return;
    if (scenario_transport_secure(t) && secured_ns >= connected_ns)
        histogram_record(&w->stats.lat[LAT_TLS_HANDSHAKE], (secured_ns - connected_ns) / 1000);
    if (scenario_transport_ws(t) && secured_ns != 0 && open_ns >= secured_ns)
        histogram_record(&w->stats.lat[LAT_WS_HANDSHAKE], (open_ns - secured_ns) / 1000);
}

/* A whole message reached one of our answering ends (user: its worker). With
 * answer.check_sha256 its bytes are compared with what the runner sends: the shared payload's
 * first `total` bytes (the loader refuses the check with content files). A message/cpim body
 * is the wrapper around those bytes, checked by its CPIM rules instead (cpim_peer.c). */
void runner_count_delivery(struct worker *w, const struct msrp_received *m, uint64_t now)
{
    /* a file transfer's message: its check is the whole file's (runner_file.c) */
    bool file = runner_file_received(w, m);
    if (m->aborted)
        return;
    struct msrp_media_type mt;
    bool cpim = msrp_media_type_parse(m->content_type, &mt) &&
                msrp_span_eq_nocase(mt.type, msrp_span_cstr("message")) &&
                msrp_span_eq_nocase(mt.subtype, msrp_span_cstr("cpim"));
    if (w->sc->answer_check_sha256 && !file && !cpim) {
        unsigned char want[32];
        unsigned int len = 0;
        bool same = m->info->total <= w->body_len &&
                    EVP_Digest(w->body, (size_t)m->info->total, want, &len, EVP_sha256(),
                               NULL) == 1 &&
                    len == 32 && memcmp(want, m->info->sha256, 32) == 0;
        if (!same) {
            w->stats.expect_failures++;
            char what[200];
            snprintf(what, sizeof(what), "message %.40s: its %llu bytes arrived with another "
                     "SHA-256 than the bytes sent", m->info->message_id,
                     (unsigned long long)m->info->total);
            note_error(w, what);
            return;
        }
        if (counting(w, now))
            w->stats.msgs_checked++;
    }
    if (counting(w, now))
        w->stats.msgs_delivered++;
}
