/*
 * bench_sip.c - `msrpload bench`'s SIP figures: sip_parse_build_per_s, an INVITE carrying an MSRP
 * SDP offer parsed (SIP through src/sip/msg.c, its SDP through src/sip/sdp_msrp.c) and written
 * out again, on one core; sip_dialog_find_100k_ns, finding a dialog among 100,000 live ones
 * (src/sip/dialog.c), beside the same among 1,000 (its limit: what a find costs when the table
 * is small).
 *
 * Owns: those figures. May not touch: src/sip/ (it calls its public functions as a caller would).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/bench.h"
#include "cli/cli.h"
#include "sip/dialog.h"
#include "sip/msg.h"
#include "sip/sdp_msrp.h"

static volatile size_t sip_sink;

/* The INVITE a calling agent of the sip topology would send through a proxy: built here with
 * the same functions, so what is measured is what we send. */
static size_t make_invite(char *out, size_t cap)
{
    struct sip_sdp_msrp_local l = {.path = "msrp://127.0.0.1:40123/s3cr3tS3ss10n;tcp",
                                   .accept_types = "message/cpim text/plain",
                                   .accept_wrapped_types = "text/plain", .max_size = 1048576,
                                   .setup = SIP_SDP_SETUP_ACTPASS, .cema = true,
                                   .user = "msrpload", .sess_id = 1, .sess_version = 1};
    char sdp[1024], why[200];
    size_t sdp_len, len;
    if (sip_sdp_msrp_offer(&l, sdp, sizeof sdp, &sdp_len, why, sizeof why) != 0) {
        fprintf(stderr, "bench: the SDP offer failed: %s\n", why);
        exit(EXIT_FAILED);
    }
    const char *routes[] = {"<sip:127.0.0.1:5060;transport=tcp;lr>"};
    struct sip_req r = {.method = "INVITE", .uri = "sip:user0002@msrpload.test",
                        .from = "<sip:user0001@msrpload.test>", .from_tag = "f7Hq2kLp",
                        .to = "<sip:user0002@msrpload.test>",
                        .call_id = "Zk3mQ9vX2bLw8rTa@127.0.0.1", .cseq = 1,
                        .via_transport = "TCP", .via_host = "127.0.0.1", .via_port = 50611,
                        .branch = "z9hG4bK-Qa81mZr0", .contact = "<sip:user0001@127.0.0.1:50611;"
                                                                 "transport=tcp>",
                        .routes = routes, .route_count = 1, .expires = -1,
                        .content_type = "application/sdp", .body = sdp, .body_len = sdp_len};
    if (sip_msg_build_request(&r, out, cap, &len, why, sizeof why) != 0) {
        fprintf(stderr, "bench: the INVITE failed: %s\n", why);
        exit(EXIT_FAILED);
    }
    return len;
}

/*
 * Nanoseconds per sip_dialog_find among `live` dialogs (one INVITE's copies with their own
 * Call-IDs and tags, as the answering agents of 100,000 calls would hold), finds spread over
 * the table in a scattered order so that each misses the cache as a busy agent's would.
 */
static double dialog_find_ns(size_t live, double seconds)
{
    char buf[2048], num[48], tag[24];
    size_t len = 0;
    struct sip_req q = {.method = "INVITE", .uri = "sip:sip0002@127.0.0.1:5070",
                        .from = "<sip:sip0001@msrpload.test>", .from_tag = "ftag",
                        .to = "<sip:sip0002@msrpload.test>", .call_id = "seed", .cseq = 1,
                        .via_transport = "TCP", .via_host = "127.0.0.1", .via_port = 5060,
                        .branch = "z9hG4bK-b1", .contact = "<sip:sip0001@127.0.0.1:50611>",
                        .expires = -1};
    osip_message_t *inv = NULL;
    struct sip_dialog_table *tab = sip_dialog_table_create();
    struct sip_dialog **made = calloc(live, sizeof *made);
    if (sip_msg_build_request(&q, buf, sizeof buf, &len, NULL, 0) != 0 || !tab || !made ||
        !(inv = sip_msg_parse(buf, len, NULL, 0))) {
        fprintf(stderr, "bench: the dialog table could not be set up\n");
        exit(EXIT_FAILED);
    }
    for (size_t i = 0; i < live; i++) {
        snprintf(num, sizeof num, "%zx-c%zu", i * 2654435761u, i);
        osip_free(inv->call_id->number);
        inv->call_id->number = osip_strdup(num);
        snprintf(tag, sizeof tag, "t%zu", i);
        if (!(made[i] = sip_dialog_create_uas(tab, inv, tag))) {
            fprintf(stderr, "bench: dialog %zu was not made\n", i);
            exit(EXIT_FAILED);
        }
    }
    size_t n = 0, hits = 0, k = 0;
    double start = bench_now(), elapsed;
    do {
        for (int j = 0; j < 1024; j++) {
            k = (k + 7919) % live; /* a prime stride: every dialog, in no useful order */
            /* The ids as a request inside the dialog carries them (Call-ID with its host). */
            snprintf(num, sizeof num, "%zx-c%zu", k * 2654435761u, k);
            snprintf(tag, sizeof tag, "t%zu", k);
            hits += sip_dialog_find(tab, num, tag, "ftag") == made[k];
        }
        n += 1024;
        elapsed = bench_now() - start;
    } while (elapsed < seconds);
    if (hits != n) {
        fprintf(stderr, "bench: %zu of %zu finds missed their dialog\n", n - hits, n);
        exit(EXIT_FAILED);
    }
    /* The key formatting is timed too; the same in both figures, so their ratio is the table's. */
    osip_message_free(inv);
    free(made);
    sip_dialog_table_destroy(tab);
    return elapsed * 1e9 / (double)n;
}

static void bench_sip_dialogs(double seconds)
{
    double small = dialog_find_ns(1000, seconds / 2), big = dialog_find_ns(100000, seconds / 2);
    printf("bench sip_dialog_find_1k_ns %.0f ns\n", small);
    printf("bench sip_dialog_find_100k_ns %.0f ns\n", big);
    fflush(stdout);
}

void bench_sip(double seconds, const char *only)
{
    bench_sip_calls(seconds, only); /* through a real proxy: bench_sip_calls.c */
    if (bench_selected("sip_dialog_find", only))
        bench_sip_dialogs(seconds);
    if (!bench_selected("sip_parse_build", only))
        return;
    char invite[4096], out[8192], why[200];
    size_t len = make_invite(invite, sizeof invite);
    struct sip_sdp_msrp_desc *d = malloc(sizeof *d);
    if (!d)
        exit(EXIT_FAILED);
    size_t n = 0, acc = 0;
    double start = bench_now(), elapsed;
    do {
        for (int k = 0; k < 256; k++) {
            osip_message_t *m = sip_msg_parse(invite, len, why, sizeof why);
            size_t blen = 0;
            const char *body = m ? sip_msg_body(m, &blen) : NULL;
            if (!body || sip_sdp_msrp_parse(body, blen, d, why, sizeof why) != SIP_SDP_OK) {
                fprintf(stderr, "bench: the INVITE does not parse: %s\n", why);
                exit(EXIT_FAILED);
            }
            /* A Via added, as a proxy forwarding it would: libosip2 then writes every header
             * again rather than handing back the bytes it parsed. */
            size_t olen = 0;
            if (osip_message_set_via(m, "SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK-px1") != 0 ||
                sip_msg_to_text(m, out, sizeof out, &olen) != 0 || olen <= len) {
                fprintf(stderr, "bench: the INVITE was not written again\n");
                exit(EXIT_FAILED);
            }
            acc += olen + d->port;
            osip_message_free(m);
        }
        n += 256;
        elapsed = bench_now() - start;
    } while (elapsed < seconds);
    sip_sink = acc;
    free(d);
    printf("bench sip_parse_build_per_s %.0f msgs/s\n", (double)n / elapsed);
    fflush(stdout);
}
