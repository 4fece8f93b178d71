/*
 * listen_judge.c - the verdicts of conform --listen's client cases (listen_int.h): for each
 * requirement a case names, whether what the client sent exercised it at all, and whether it
 * broke it, naming the chunk. Rules that wire/rules.c and msrp/peerrules.c check per chunk
 * (serve's own checks) arrive as breaches in the capture; the rest are judged here over the
 * kept chunks. A requirement the capture did not exercise is never a pass: the case is skip,
 * with the reason. Owns no I/O.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conform/listen_int.h"

struct judged {
    bool exercised, breached;
    char text[600]; /* why not exercised, or what broke it */
};

static bool is_send(const struct lchunk *ch)
{
    return ch->kind == MSRP_REQUEST && ch->method == MSRP_METHOD_SEND;
}

/* The most chunks, up to 2, any one message (Message-ID) of the client came in, among its
 * first MOST_CHUNKS_SCAN chunks: the scan is quadratic, and a client may send 200,000. */
#define MOST_CHUNKS_SCAN 4096
static size_t most_chunks(const struct lcapture *c)
{
    size_t best = 0;
    size_t end = c->nchunks < MOST_CHUNKS_SCAN ? c->nchunks : MOST_CHUNKS_SCAN;
    for (size_t i = 0; i < end && best < 2; i++) {
        if (!is_send(&c->chunks[i]) || c->chunks[i].mid[0] == '\0')
            continue;
        size_t n = 0;
        for (size_t j = i; j < end && n < 2; j++)
            if (is_send(&c->chunks[j]) && strcmp(c->chunks[j].mid, c->chunks[i].mid) == 0)
                n++;
        best = n > best ? n : best;
    }
    return best;
}

/* The smallest standard alphabet holding every character of the tids: digits, lower-case
 * hex, letters and digits, or the whole ident-char set of RFC 4975 section 9. */
static double alphabet_bits(const struct lcapture *c)
{
    bool digits_only = true, hex = true, alnum = true;
    for (size_t i = 0; i < c->nchunks; i++)
        for (const char *p = c->chunks[i].tid; *p != '\0'; p++) {
            bool d = *p >= '0' && *p <= '9';
            digits_only &= d;
            hex &= d || (*p >= 'a' && *p <= 'f');
            alnum &= d || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z');
        }
    return log2(digits_only ? 10.0 : hex ? 16.0 : alnum ? 62.0 : 66.0);
}

/*
 * An upper bound of the randomness of the client's request tids: the positions (of the
 * shortest tid) whose character varies across them, times the bits of the alphabet they are
 * drawn from. A counter varies in few positions however long the id; an id with 64 random
 * bits varies in enough of them. With the tids seen, the repeats among them.
 */
double listen_tid_bits(const struct lcapture *c, size_t *ntids, size_t *repeats,
                       char *repeat_tid, size_t cap)
{
    size_t n = 0, shortest = LISTEN_TID_MAX;
    *repeats = 0;
    repeat_tid[0] = '\0';
    for (size_t i = 0; i < c->nchunks; i++) {
        const struct lchunk *ch = &c->chunks[i];
        if (ch->kind != MSRP_REQUEST)
            continue;
        n++;
        shortest = strlen(ch->tid) < shortest ? strlen(ch->tid) : shortest;
        /* a repeat: the same tid on an earlier request (quadratic, over at most the chunks a
         * tid case asks for; bounded by the first 4096 requests) */
        for (size_t j = 0; j < i && n <= 4096; j++)
            if (c->chunks[j].kind == MSRP_REQUEST && strcmp(c->chunks[j].tid, ch->tid) == 0) {
                if (*repeats == 0)
                    snprintf(repeat_tid, cap, "%s", ch->tid);
                (*repeats)++;
                break;
            }
    }
    *ntids = n;
    size_t varying = 0;
    for (size_t pos = 0; pos < shortest && n > 1; pos++) {
        char first = 0;
        bool varies = false;
        for (size_t i = 0; i < c->nchunks && !varies; i++) {
            if (c->chunks[i].kind != MSRP_REQUEST)
                continue;
            if (first == 0)
                first = c->chunks[i].tid[pos];
            else if (c->chunks[i].tid[pos] != first)
                varies = true;
        }
        varying += varies;
    }
    return (double)varying * alphabet_bits(c);
}

/* The first breach of requirement id the chunk checks recorded. */
static const struct lbreach *breach_of(const struct lcapture *c, const char *id)
{
    for (size_t i = 0; i < c->nbreaches; i++)
        if (strcmp(c->breaches[i].requirement, id) == 0)
            return &c->breaches[i];
    return NULL;
}

/* RFC 4975 section 7.1: "The transaction identifier MUST NOT collide with that of other
 * transactions that exist at the same time. Therefore, it MUST contain at least 64 bits of
 * randomness." Needs at least 16 requests to say anything. */
static void judge_tids(const struct lcapture *c, struct judged *j)
{
    size_t n, repeats;
    char rep[LISTEN_TID_MAX];
    double bits = listen_tid_bits(c, &n, &repeats, rep, sizeof rep);
    if (n < 16) {
        snprintf(j->text, sizeof j->text,
                 "only %zu requests: the randomness of transaction ids is judged over 16 or more",
                 n);
        return;
    }
    j->exercised = true;
    if (repeats > 0) {
        j->breached = true;
        snprintf(j->text, sizeof j->text, "%zu of the %zu request transaction ids repeat an "
                 "earlier one (first: %s); ids with 64 random bits all but never repeat",
                 repeats, n, rep);
    } else if (bits < 64) {
        j->breached = true;
        snprintf(j->text, sizeof j->text,
                 "the %zu request transaction ids vary in too few characters: at most %.1f "
                 "bits of randomness (positions that vary times the bits of their alphabet), "
                 "below the 64 required", n, bits);
    }
}

/* RFC 4975 section 7.1.1: "any chunk with a body of greater than 2048 octets will have a "*"
 * character in the range-end field" (senders MUST NOT send larger ones otherwise). */
static void judge_star_end(const struct lcapture *c, struct judged *j)
{
    for (size_t i = 0; i < c->nchunks; i++) {
        const struct lchunk *ch = &c->chunks[i];
        if (!is_send(ch) || ch->body_len <= 2048)
            continue;
        j->exercised = true;
        if (ch->has_range && ch->end != MSRP_RANGE_UNKNOWN) {
            j->breached = true;
            snprintf(j->text, sizeof j->text,
                     "chunk %zu (tid %s) has a body of %llu octets and the numeric range end "
                     "%llu instead of \"*\"", i + 1, ch->tid, (unsigned long long)ch->body_len,
                     (unsigned long long)ch->end);
            return;
        }
    }
    if (!j->exercised)
        snprintf(j->text, sizeof j->text, "no chunk had a body over 2048 octets");
}

/* RFC 4975 section 7.1.1: a Byte-Range "referring to nonexistent or zero-length content MUST
 * still have a range-start value of 1. For example, "1-0/0"." */
static void judge_empty_range(const struct lcapture *c, struct judged *j)
{
    for (size_t i = 0; i < c->nchunks; i++) {
        const struct lchunk *ch = &c->chunks[i];
        if (!is_send(ch) || ch->body_len > 0 || ch->range_start_text < 0)
            continue;
        j->exercised = true;
        if (ch->range_start_text != 1) {
            j->breached = true;
            snprintf(j->text, sizeof j->text,
                     "chunk %zu (tid %s), an empty SEND, has a Byte-Range starting at %lld", i + 1,
                     ch->tid, ch->range_start_text);
            return;
        }
    }
    if (!j->exercised)
        snprintf(j->text, sizeof j->text, "no empty SEND with a Byte-Range came");
}

/* RFC 4975 section 10.5: after a 413 "it MUST NOT send any further chunks in the message". A
 * chunk may have been on its way when the 413 left; a client that went on sends the message
 * to its last byte, which the cases make far larger than what a connection holds in flight. */
static void judge_413(const struct lcapture *c, struct judged *j)
{
    if (!c->sent_413) {
        snprintf(j->text, sizeof j->text, "the checker answered no chunk with 413 (it does so "
                 "only in a case that asks for it, with --client-cmd)");
        return;
    }
    uint64_t before = 0, after = 0, total = 0;
    size_t nafter = 0, last_idx = 0;
    bool reached_end = false;
    for (size_t i = 0; i < c->nchunks; i++) {
        const struct lchunk *ch = &c->chunks[i];
        if (!is_send(ch) || strcmp(ch->mid, c->mid_413) != 0)
            continue;
        if (ch->has_range && ch->total != MSRP_RANGE_UNKNOWN)
            total = ch->total;
        if (!ch->after_413) {
            before += ch->body_len;
            continue;
        }
        after += ch->body_len;
        nafter++;
        uint64_t last = ch->has_range ? ch->start + ch->body_len - 1 : 0;
        if ((total > 0 && last >= total) || ch->flag == '$') {
            reached_end = true;
            last_idx = i;
        }
    }
    if (total > 0 && before >= total) {
        snprintf(j->text, sizeof j->text, "the whole message had arrived before the 413 left");
        return;
    }
    j->exercised = true;
    if (reached_end) {
        j->breached = true;
        snprintf(j->text, sizeof j->text,
                 "after the 413 the client went on with %zu more chunks (%llu octets) of "
                 "Message-ID %s, up to its last byte (chunk %zu)", nafter,
                 (unsigned long long)after, c->mid_413, last_idx + 1);
    }
}

/* RFC 4975 section 7.1: "If the chunk represents the data that forms the end of the complete
 * message, the flag value MUST be a "$". If the sender is aborting an incomplete message [...]
 * the flag MUST be a "#". Otherwise, the flag MUST be a "+"." Judged on the SEND chunks whose
 * message has a known total: the last byte a chunk holds says whether it ends the message. */
static void judge_flags(const struct lcapture *c, struct judged *j)
{
    bool saw_plus = false, saw_end = false;
    for (size_t i = 0; i < c->nchunks; i++) {
        const struct lchunk *ch = &c->chunks[i];
        if (!is_send(ch) || !ch->has_range || ch->total == MSRP_RANGE_UNKNOWN ||
            ch->error != MSRP_OK)
            continue;
        uint64_t last = ch->start + ch->body_len - 1; /* 0 for "1-0/0" */
        bool ends = last >= ch->total;
        saw_end |= ends;
        saw_plus |= !ends;
        if ((ends && ch->flag != '$') || (!ends && ch->flag == '$')) {
            j->exercised = j->breached = true;
            snprintf(j->text, sizeof j->text,
                     "chunk %zu (tid %s) holds bytes %llu-%llu of %llu and ends in \"%c\"", i + 1,
                     ch->tid, (unsigned long long)ch->start, (unsigned long long)last,
                     (unsigned long long)ch->total, ch->flag);
            return;
        }
    }
    j->exercised = saw_plus && saw_end;
    if (!j->exercised)
        snprintf(j->text, sizeof j->text,
                 "no message with a known total came in more than one chunk");
}

/* RFC 4975 section 7.2: a request with Failure-Report "yes" (the checker's SEND says so) gets
 * a response at once (MUST); "The transaction identifier in the response start line MUST
 * match the transaction identifier from the original request"; a response to a SEND has the
 * first URI of the request's From-Path as its To-Path and the responder's URI as its
 * From-Path (stated without a keyword). URIs compared without regard to case (section 6.1
 * compares scheme and host so; the session-id part is the checker's own spelling). */
static void judge_response(const struct lcapture *c, const char *id, bool passive,
                           struct judged *j)
{
    if (!c->send_sent) {
        snprintf(j->text, sizeof j->text, "%s",
                 passive ? "the checker sends the client a message only when a case runs the "
                           "client (--client-cmd)"
                         : "the client sent no request, so the checker sent it no message");
        return;
    }
    j->exercised = true;
    if (strcmp(id, "4975-7.2/response-tid") == 0) {
        if (!c->send_answered && c->stray_responses > 0) {
            j->breached = true;
            snprintf(j->text, sizeof j->text,
                     "no response carried the tid %s of the checker's SEND; %zu response(s) "
                     "answered no request of the checker (first: tid %s)", c->send_tid,
                     c->stray_responses, c->stray_tid);
        } else if (!c->send_answered) {
            j->exercised = false;
            snprintf(j->text, sizeof j->text, "no response came at all");
        }
    } else if (strcmp(id, "4975-7.2/respond-fr-yes") == 0) {
        if (!c->send_answered && c->stray_responses == 0) {
            j->breached = true;
            snprintf(j->text, sizeof j->text, "no response to the checker's SEND (tid %s, "
                     "Failure-Report yes)", c->send_tid);
        }
    } else if (!c->send_answered) {
        j->exercised = false;
        snprintf(j->text, sizeof j->text, "no response to the checker's SEND came");
    } else if (strcasecmp(c->send_resp_to, c->my_uri) != 0 ||
               strcasecmp(c->send_resp_from, c->client_uri) != 0) {
        j->breached = true;
        snprintf(j->text, sizeof j->text,
                 "the response (tid %s) has To-Path %.100s and From-Path %.100s; the SEND came "
                 "from %.100s to %.100s", c->send_tid, c->send_resp_to, c->send_resp_from,
                 c->my_uri, c->client_uri);
    }
}

/* RFC 4975 section 7.1.1: "transfer encoding is always "binary", and transfer-encoding
 * parameters MUST NOT be present." Judged on the client's SENDs with a body. */
static void judge_transfer_encoding(const struct lcapture *c, struct judged *j)
{
    for (size_t i = 0; i < c->nchunks; i++) {
        const struct lchunk *ch = &c->chunks[i];
        if (!is_send(ch) || !ch->has_body)
            continue;
        j->exercised = true;
        if (ch->transfer_encoding) {
            j->breached = true;
            snprintf(j->text, sizeof j->text,
                     "chunk %zu (tid %s) has a Content-Transfer-Encoding header", i + 1, ch->tid);
            return;
        }
    }
    if (!j->exercised)
        snprintf(j->text, sizeof j->text, "no SEND with a body came");
}

static void judge_one(const struct lcapture *c, const char *id, bool passive, struct judged *j)
{
    memset(j, 0, sizeof *j);
    bool any_body = false, any_bodiless = false, any_send = false, any_report = false;
    for (size_t i = 0; i < c->nchunks; i++) {
        const struct lchunk *ch = &c->chunks[i];
        if (ch->kind != MSRP_REQUEST)
            continue;
        any_body |= ch->has_body;
        any_bodiless |= !ch->has_body;
        any_send |= ch->method == MSRP_METHOD_SEND;
        any_report |= ch->method == MSRP_METHOD_REPORT;
    }
    size_t chunks = most_chunks(c);
    if (strcmp(id, "4975-7.1/transaction-id-unique") == 0) {
        judge_tids(c, j);
    } else if (strcmp(id, "4975-7.1.1/no-transfer-encoding") == 0) {
        judge_transfer_encoding(c, j);
    } else if (strcmp(id, "4975-7.1.1/over-2048-star-end") == 0) {
        judge_star_end(c, j);
    } else if (strcmp(id, "4975-7.2/response-tid") == 0 ||
               strcmp(id, "4975-7.2/respond-fr-yes") == 0 ||
               strcmp(id, "4975-7.2/response-paths") == 0) {
        judge_response(c, id, passive, j);
    } else if (strcmp(id, "4975-7.1/continuation-flags") == 0) {
        judge_flags(c, j);
    } else if (strcmp(id, "4975-7.1.1/empty-range-starts-at-one") == 0) {
        judge_empty_range(c, j);
    } else if (strcmp(id, "4975-10.5/stop-after-413") == 0 ||
               strcmp(id, "4975-7.3.2/report-read-as-response") == 0) {
        judge_413(c, j);
    } else if (strcmp(id, "4975-5.4/active-sends-first") == 0) {
        j->exercised = true;
        if (c->first_request_s < 0) {
            j->breached = true;
            snprintf(j->text, sizeof j->text, "the client connected but sent no request (%s)",
                     c->end_why);
        } else {
            const struct lchunk *first = NULL;
            for (size_t i = 0; i < c->nchunks && first == NULL; i++)
                if (c->chunks[i].kind == MSRP_REQUEST)
                    first = &c->chunks[i];
            if (first != NULL && first->method != MSRP_METHOD_SEND) {
                j->breached = true;
                snprintf(j->text, sizeof j->text, "its first request (tid %s) is not a SEND",
                         first->tid);
            }
        }
    } else if (strcmp(id, "4975-7.1.2/no-response-to-report") == 0) {
        j->exercised = c->report_sent;
        if (!c->report_sent)
            snprintf(j->text, sizeof j->text, "%s",
                     passive ? "the checker sends a REPORT only when a case runs the client "
                               "(--client-cmd)"
                             : "the client's message never completed, so no REPORT was sent");
        else if (c->report_answered) {
            j->breached = true;
            snprintf(j->text, sizeof j->text,
                     "the client answered the checker's REPORT (tid %s) with a response",
                     c->report_tid);
        }
    } else {
        /* Rules of the chunk checks: exercised by what kind of chunk they look at. */
        bool multi = strcmp(id, "4975-7.1.1/byte-range-present") == 0 ||
                     strcmp(id, "4975-7.1.1/same-report-headers-on-all-chunks") == 0 ||
                     strcmp(id, "4975-7.1.1/chunks-in-order") == 0;
        bool report = strncmp(id, "4975-7.1.2/report-", 18) == 0;
        if (multi) {
            j->exercised = chunks >= 2;
            snprintf(j->text, sizeof j->text, "no message came in more than one chunk");
        } else if (report) {
            j->exercised = any_report;
            snprintf(j->text, sizeof j->text, "%s",
                     passive ? "the client sent no REPORT"
                             : "the client sent no REPORT for the checker's message");
        } else if (strcmp(id, "4975-7.1/body-has-content-type") == 0) {
            j->exercised = any_body;
            snprintf(j->text, sizeof j->text, "no request had a body");
        } else if (strcmp(id, "4975-7.1/no-body-no-mime-headers") == 0) {
            j->exercised = any_bodiless;
            snprintf(j->text, sizeof j->text, "no request came without a body");
        } else if (strcmp(id, "4975-7.1.1/message-id-in-every-chunk") == 0) {
            j->exercised = any_send;
            snprintf(j->text, sizeof j->text, "no SEND came");
        } else {
            snprintf(j->text, sizeof j->text, "conform --listen does not check %s", id);
        }
        if (j->exercised)
            j->text[0] = '\0';
        const struct lbreach *b = breach_of(c, id);
        /* the parser's chunk errors that stand for one of these rules */
        for (size_t i = 0; b == NULL && i < c->nchunks; i++) {
            const struct lchunk *ch = &c->chunks[i];
            if ((ch->error == MSRP_E_BODY_WITHOUT_CONTENT_TYPE &&
                 strcmp(id, "4975-7.1/body-has-content-type") == 0) ||
                (ch->error == MSRP_E_STATUS_HEADER &&
                 strcmp(id, "4975-7.1.2/report-has-status") == 0)) {
                j->exercised = j->breached = true;
                snprintf(j->text, sizeof j->text, "chunk %zu (tid %s): %s", i + 1, ch->tid,
                         msrp_error_text(ch->error));
            }
        }
        if (b != NULL) {
            j->exercised = j->breached = true;
            snprintf(j->text, sizeof j->text, "%s", b->detail);
        }
    }
}

void listen_judge(const struct lcapture *c, const struct scenario_case *k, bool passive,
                  struct conform_result *r)
{
    char skipped[1500] = "", broke[1500] = "";
    size_t so = 0, bo = 0;
    bool any_breach = false, any_skip = false;
    /* Cases whose exchange the checker must drive cannot be judged from a passive capture. */
    if (passive && (k->client.answer != CASE_ANSWER_200 || k->client.report_back ||
                    k->client.send_to_client)) {
        r->verdict = CONFORM_SKIP;
        snprintf(r->observed, sizeof r->observed,
                 "the checker must act in this case (%s): it needs --client-cmd",
                 k->client.answer != CASE_ANSWER_200 ? "it answers 413"
                 : k->client.report_back             ? "it sends a REPORT"
                                                     : "it sends the client a message");
        return;
    }
    for (unsigned i = 0; i < k->num_requirements; i++) {
        struct judged j;
        judge_one(c, k->requirements[i], passive, &j);
        if (j.breached) {
            any_breach = true;
            if (bo < sizeof broke - 1)
                bo += (size_t)snprintf(broke + bo, sizeof broke - bo, "%s%s: %s",
                                       bo > 0 ? "; " : "", k->requirements[i], j.text);
        } else if (!j.exercised) {
            any_skip = true;
            if (so < sizeof skipped - 1)
                so += (size_t)snprintf(skipped + so, sizeof skipped - so, "%s%s: %s",
                                       so > 0 ? "; " : "", k->requirements[i], j.text);
        }
    }
    if (any_breach) {
        r->verdict = conform_verdict_unmet(k->level);
        snprintf(r->observed, sizeof r->observed, "%s", broke);
    } else if (any_skip) {
        r->verdict = CONFORM_SKIP;
        snprintf(r->observed, sizeof r->observed, "not exercised by what the client sent: %s",
                 skipped);
    } else {
        r->verdict = CONFORM_PASS;
    }
}
