/*
 * framerules.c - rules that every chunk the peer writes must keep, whatever the case is
 * about: the URIs it writes (RFC 4975 section 6), how it builds requests (7.1) and REPORTs
 * (7.1.2: no Success-Report or Failure-Report, a Status of the section 9 form, a Message-ID).
 * The executor runs them on each frame as it arrives (cx_frame_rules, from endpoints.c). The
 * predicates themselves are src/wire/rules.c, shared with serve's check of its clients; this
 * file decides what a breach does to a case, and keeps the transaction ids seen.
 *
 * A broken rule fails the case only when the case lists the rule's requirement id in its
 * "requirements": those cases provoke the frames the rule is about (responses, REPORTs) and
 * have a wrong peer that breaks just that rule. In every other case the breach is written to
 * the wire record as a note, so that it is seen, but it does not change that case's verdict
 * (its level is about another sentence).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "conform/cx.h"
#include "wire/rules.h"

static bool case_lists(const struct cx *x, const char *req)
{
    for (unsigned i = 0; i < x->k->num_requirements; i++)
        if (strcmp(x->k->requirements[i], req) == 0)
            return true;
    return false;
}

/* A rule broken by a frame endpoint e received: fails the case if it checks req, else a note. */
static void broken(struct cx *x, const struct ep *e, const struct msrp_chunk *ch, const char *req,
                   const char *what)
{
    char msg[768];
    bool resp = ch->kind == MSRP_RESPONSE;
    snprintf(msg, sizeof msg, "the %.*s (transaction %.*s) received by endpoint %c %s (%s)",
             resp ? 8 : (int)ch->method.len, resp ? "response" : ch->method.ptr,
             (int)ch->tid.len, ch->tid.ptr, 'a' + (int)e->idx, what, req);
    if (case_lists(x, req))
        cx_fail(x, "%s", msg);
    else
        cx_wire_note(x, "rule broken, not what this case checks: %s", msg);
}

struct frame_check {
    struct cx *x;
    const struct ep *e;
    const struct msrp_chunk *ch;
};

static void rule_broken(const struct msrp_rule_breach *b, void *user)
{
    const struct frame_check *fc = user;
    broken(fc->x, fc->e, fc->ch, b->requirement, b->detail);
}

/* RFC 4975 section 7.1 (MUST): a transaction id holds at least 64 bits of randomness and does
 * not collide with another in progress. Two requests of the peer on one connection with the
 * same id are all but impossible with 64 random bits (under n*n/2^65 for n requests), so a
 * repeat shows the rule broken. */
static void check_tid(struct cx *x, struct ep *e, const struct msrp_chunk *ch)
{
    for (size_t i = 0; i < e->npeer_tids; i++)
        if (cx_span_is(ch->tid, e->peer_tids[i])) {
            broken(x, e, ch, "4975-7.1/transaction-id-unique",
                   "uses a transaction id the peer already used for an earlier request");
            return;
        }
    if (e->npeer_tids < CX_PEER_TIDS && ch->tid.len < sizeof e->peer_tids[0]) {
        memcpy(e->peer_tids[e->npeer_tids], ch->tid.ptr, ch->tid.len);
        e->peer_tids[e->npeer_tids][ch->tid.len] = '\0';
        e->npeer_tids++;
    }
}

void cx_frame_rules(struct cx *x, struct ep *e, const struct frame *f)
{
    struct msrp_header hdrs[CX_MAX_HEADERS];
    struct msrp_chunk ch;
    if (!cx_frame_parse(f, &ch, hdrs))
        return;
    struct frame_check fc = {x, e, &ch};
    msrp_rules_check_chunk(&ch, rule_broken, &fc);
    if (ch.kind == MSRP_REQUEST)
        check_tid(x, e, &ch);
}
