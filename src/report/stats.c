/* stats.c - run statistics: per-thread recording, exact merging. */
#include "report/stats.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char *const stats_ending_names[STATS_ENDINGS] = {"clean", "abrupt", "reset", "silent",
                                                     "no_close_notify", "no_reauth", "other"};

/* 1 us to 1 hour at 3 significant digits, as the report asks. */
#define LAT_HIGHEST (3600ull * 1000000ull)

const char *lat_kind_name(enum lat_kind k)
{
    switch (k) {
    case LAT_CHUNK:
        return "chunk";
    case LAT_MESSAGE:
        return "message";
    case LAT_MESSAGE_CORRECTED:
        return "message-corrected";
    case LAT_BIND:
        return "bind";
    case LAT_CONNECT:
        return "connect";
    case LAT_TLS_HANDSHAKE:
        return "tls-handshake";
    case LAT_AUTH:
        return "auth";
    case LAT_WS_HANDSHAKE:
        return "ws-handshake";
    case LAT_SCHEDULE_LAG:
        return "schedule-lag";
    case LAT_IMDN_DELIVERY:
        return "imdn-delivery";
    case LAT_SIP_REGISTER:
        return "sip-register";
    case LAT_SIP_INVITE_1XX:
        return "sip-invite-1xx";
    case LAT_SIP_INVITE_2XX:
        return "sip-invite-2xx";
    case LAT_SIP_SETUP_BIND:
        return "sip-setup-bind";
    case LAT_SIP_BYE:
        return "sip-bye";
    case LAT__COUNT:
        break;
    }
    return "unknown";
}

int stats_init(struct run_stats *s)
{
    memset(s, 0, sizeof(*s));
    for (int k = 0; k < LAT__COUNT; k++) {
        int e = histogram_init(&s->lat[k], 1, LAT_HIGHEST, 3);
        if (e != 0) {
            for (int j = 0; j < k; j++)
                histogram_free(&s->lat[j]);
            return e;
        }
    }
    return 0;
}

void stats_free(struct run_stats *s)
{
    for (int k = 0; k < LAT__COUNT; k++)
        histogram_free(&s->lat[k]);
    free(s->series);
    s->series = NULL;
    free(s->files.list);
    s->files.list = NULL;
    s->files.list_len = 0;
}

struct stats_second *stats_second_at(struct run_stats *s, size_t sec)
{
    if (sec >= s->series_cap) {
        size_t cap = s->series_cap ? s->series_cap : 64;
        while (cap <= sec)
            cap *= 2;
        struct stats_second *p = realloc(s->series, cap * sizeof(*p));
        if (p == NULL)
            return NULL;
        memset(p + s->series_cap, 0, (cap - s->series_cap) * sizeof(*p));
        s->series = p;
        s->series_cap = cap;
    }
    if (sec >= s->series_len)
        s->series_len = sec + 1;
    return &s->series[sec];
}

void stats_count_ws_close(struct run_stats *s, unsigned code, uint64_t n)
{
    for (unsigned i = 0; i < s->ws_close_len; i++)
        if (s->ws_close[i].code == code) {
            s->ws_close[i].n += n;
            return;
        }
    if (s->ws_close_len == STATS_WS_CLOSE_CODES) {
        s->ws_close_other += n;
        return;
    }
    s->ws_close[s->ws_close_len++] = (struct stats_ws_close){.code = code, .n = n};
}

void stats_count_status(struct run_stats *s, int status)
{
    if (status >= STATS_STATUS_MIN && status <= STATS_STATUS_MAX)
        s->status_counts[status - STATS_STATUS_MIN]++;
}

int stats_merge(struct run_stats *dst, const struct run_stats *src)
{
    return stats_merge_at(dst, src, 0);
}

int stats_merge_at(struct run_stats *dst, const struct run_stats *src, size_t offset)
{
    /* Check every layout first, so that a mismatch leaves dst as it was. */
    for (int k = 0; k < LAT__COUNT; k++) {
        const struct histogram *a = &dst->lat[k], *b = &src->lat[k];
        if (a->highest != b->highest || a->unit_magnitude != b->unit_magnitude ||
            a->sub_bucket_count != b->sub_bucket_count || a->counts_len != b->counts_len)
            return EINVAL;
    }
    if (src->series_len > 0 && stats_second_at(dst, offset + src->series_len - 1) == NULL)
        return ENOMEM;
    for (int k = 0; k < LAT__COUNT; k++) {
        int e = histogram_add(&dst->lat[k], &src->lat[k]);
        if (e != 0)
            return e;
    }
#define ADD(f) dst->f += src->f
    ADD(sip.register_ok);
    ADD(sip.register_failed);
    ADD(sip.register_unfinished);
    ADD(sip.topology);
    ADD(sip.calls);
    ADD(sip.calls_established);
    ADD(sip.calls_failed);
    ADD(sip.calls_unfinished);
    ADD(sip.bye_ok);
    ADD(sip.bye_failed);
    ADD(sip.bye_unfinished);
    ADD(sip.bye_remote);
    ADD(sip.offer_sent_cema);
    ADD(sip.offer_cema);
    ADD(sip.offer_relay_first);
    ADD(sip.answer_cema);
    for (size_t i = 0; i < sizeof(dst->sip.invite_final) / sizeof(dst->sip.invite_final[0]); i++)
        ADD(sip.invite_final[i]);
    ADD(sessions_started);
    ADD(sessions_bound);
    ADD(sessions_completed);
    ADD(sessions_failed);
    ADD(sessions_unfinished);
    ADD(msgs_sent);
    ADD(msgs_ok);
    ADD(msgs_failed);
    ADD(msgs_lost);
    ADD(msgs_unfinished);
    ADD(msgs_delivered);
    ADD(msgs_undelivered);
    ADD(msgs_checked);
    ADD(files.transfers);
    ADD(files.completed);
    ADD(files.failed);
    ADD(files.abandoned);
    ADD(files.unfinished);
    ADD(files.interrupted);
    ADD(files.resumed);
    ADD(files.bytes);
    ADD(files.hash_ok);
    ADD(files.hash_failed);
    for (unsigned i = 0; i < src->files.list_len && dst->files.list_len < STATS_FILES_LISTED;
         i++) {
        if (dst->files.list == NULL &&
            (dst->files.list = calloc(STATS_FILES_LISTED, sizeof(*dst->files.list))) == NULL)
            break; /* the list is an example: counts stay whole without it */
        dst->files.list[dst->files.list_len++] = src->files.list[i];
    }
    ADD(timeouts_local_408);
    ADD(timeouts_local_200);
    ADD(wire_bytes_in);
    ADD(wire_bytes_out);
    for (int i = 0; i < 4; i++)
        dst->timeouts_by_fr[i] += src->timeouts_by_fr[i];
    ADD(chunks_sent);
    ADD(payload_bytes);
    ADD(expect_failures);
    ADD(reports_ok);
    ADD(reports_missing);
    ADD(imdn_requested);
    ADD(imdn_received);
    ADD(imdn_missing);
    ADD(imdn_unfinished);
    ADD(violations);
    ADD(relay_auth_ok);
    ADD(relay_auth_failed);
    ADD(relay_refresh_ok);
    ADD(relay_refresh_failed);
    ADD(sched_sent);
    ADD(sched_requested);
    ADD(mem_rss_start);
    ADD(mem_rss_peak_open);
    ADD(mem_ends_peak_open);
#undef ADD
    if (src->num_stages > dst->num_stages)
        dst->num_stages = src->num_stages;
    for (int i = 0; i < STATS_MAX_STAGES; i++) {
        dst->stage_sent[i] += src->stage_sent[i];
        dst->stage_session_ms[i] += src->stage_session_ms[i];
    }
    stats_note_batch_window(dst, src->batch_window_max_ns);
    if (src->relay_expires_max > dst->relay_expires_max)
        dst->relay_expires_max = src->relay_expires_max;
    for (int i = 0; i < STATS_END_KINDS; i++)
        dst->session_ends[i] += src->session_ends[i];
    for (int i = 0; i < STATS_ENDINGS; i++)
        dst->session_endings[i] += src->session_endings[i];
    for (unsigned i = 0; i < src->ws_close_len; i++)
        stats_count_ws_close(dst, src->ws_close[i].code, src->ws_close[i].n);
    dst->ws_close_other += src->ws_close_other;
    for (size_t i = 0; i < sizeof(dst->status_counts) / sizeof(dst->status_counts[0]); i++)
        dst->status_counts[i] += src->status_counts[i];
    for (size_t sec = 0; sec < src->series_len; sec++) {
        struct stats_second *d = &dst->series[offset + sec]; /* grown above */
        const struct stats_second *x = &src->series[sec];
        d->msgs_ok += x->msgs_ok;
        d->msgs_failed += x->msgs_failed;
        d->chunks += x->chunks;
        d->payload_bytes += x->payload_bytes;
        d->sessions_started += x->sessions_started;
        d->sessions_ended += x->sessions_ended;
        d->sessions_failed += x->sessions_failed;
        d->msgs_sent += x->msgs_sent;
        if (x->stage > d->stage)
            d->stage = x->stage;
        d->target_rate += x->target_rate;
        d->target_sessions += x->target_sessions;
        d->msg_latency_sum_us += x->msg_latency_sum_us;
        if (x->msg_latency_max_us > d->msg_latency_max_us)
            d->msg_latency_max_us = x->msg_latency_max_us;
    }
    return 0;
}

void stats_note_batch_window(struct run_stats *s, uint64_t ns)
{
    if (ns > s->batch_window_max_ns)
        s->batch_window_max_ns = ns;
}
