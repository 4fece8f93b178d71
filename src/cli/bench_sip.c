/*
 * bench_sip.c - `msrpload bench`'s SIP figure: sip_parse_build_per_s, an INVITE carrying an MSRP
 * SDP offer parsed (SIP through src/sip/msg.c, its SDP through src/sip/sdp_msrp.c) and written
 * out again, on one core.
 *
 * Owns: that figure. May not touch: src/sip/ (it calls its public functions as a caller would).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/bench.h"
#include "cli/cli.h"
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

void bench_sip(double seconds, const char *only)
{
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
