/*
 * bench.c - `msrpload bench`: figures for the wire layer, one `bench <name> <value> <unit>` per
 * line on stdout, each measured beside the limit it should be compared with (memchr speed for
 * body scanning; raw TCP and raw TLS loops for throughput: bench_net.c, bench_tls.c). Every figure runs for a fixed time, so the whole run is bounded.
 *
 * Owns: the bench command line, the wire-layer figures and the printing of every figure. May
 * not touch: the layers it measures (it calls their public functions as any caller would).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/bench.h"
#include "cli/cli.h"
#include "wire/idgen.h"
#include "wire/parser.h"
#include "wire/scan.h"
#include "wire/uri.h"
#include "wire/values.h"
#include "wire/writer.h"

#define SMALL_COPIES 1024

static const char to_path[] = "msrp://biloxi.example.com:12763/kjhd37s2s20w2a;tcp";
static const char from_path[] = "msrp://atlanta.example.com:7654/jshA7weztas;tcp";

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Keeps results alive so the compiler cannot drop the work that made them. */
static volatile size_t sink;

static void print_figure(const char *name, double value, const char *unit)
{
    printf("bench %s %.0f %s\n", name, value, unit);
    fflush(stdout);
}

/* The small SEND of the issue: To-Path, From-Path, Message-ID, Byte-Range, Content-Type and a
 * 100-byte body, as a real sender would write it. */
static size_t small_send(char *out, size_t cap, unsigned n)
{
    char body[101];
    memset(body, 'x', 100);
    body[100] = '\0';
    int len = snprintf(out, cap,
                       "MSRP t%07uk SEND\r\nTo-Path: %s\r\nFrom-Path: %s\r\nMessage-ID: m%07uq\r\n"
                       "Byte-Range: 1-100/100\r\nContent-Type: text/plain\r\n\r\n%s\r\n"
                       "-------t%07uk$\r\n",
                       n, to_path, from_path, n, body, n);
    return (size_t)len;
}

/* Parses every chunk of stream and every structured header value the receiver needs. */
static size_t parse_all(const char *stream, size_t len, struct msrp_chunk *c)
{
    struct msrp_parser p;
    msrp_parser_init(&p, NULL);
    size_t pos = 0, chunks = 0, acc = 0;
    while (pos < len) {
        ssize_t r = msrp_parse(&p, stream + pos, len - pos, c);
        if (r <= 0 || c->error != MSRP_OK) {
            fprintf(stderr, "bench: the benchmark stream does not parse at %zu\n", pos);
            exit(EXIT_FAILED);
        }
        pos += (size_t)r;
        struct msrp_uri uri;
        int uris = 0;
        for (enum msrp_header_id id = MSRP_H_TO_PATH; id <= MSRP_H_FROM_PATH; id++) {
            struct msrp_span rest = msrp_chunk_header(c, id)->value;
            int r2;
            while ((r2 = msrp_uri_list_next(&rest, &uri)) == 1) {
                acc += uri.port + uri.session_id.len;
                uris++;
            }
            if (r2 < 0)
                uris = -100;
        }
        /* The figure counts only chunks parsed the whole way: one URI in each path. */
        if (uris != 2) {
            fprintf(stderr, "bench: the benchmark paths do not parse\n");
            exit(EXIT_FAILED);
        }
        struct msrp_media_type mt;
        if (msrp_media_type_parse(msrp_chunk_header(c, MSRP_H_CONTENT_TYPE)->value, &mt))
            acc += mt.subtype.len;
        acc += (size_t)c->byte_range.total + c->body.len;
        chunks++;
    }
    sink = acc;
    return chunks;
}

static void bench_parse_small(double seconds)
{
    size_t cap = SMALL_COPIES * 512, len = 0;
    char *stream = malloc(cap);
    for (unsigned i = 0; i < SMALL_COPIES; i++)
        len += small_send(stream + len, cap - len, i);
    struct msrp_header headers[16];
    struct msrp_chunk c = {.headers = headers, .headers_cap = 16};
    size_t chunks = 0;
    double start = bench_now(), elapsed;
    do {
        chunks += parse_all(stream, len, &c);
        elapsed = bench_now() - start;
    } while (elapsed < seconds);
    print_figure("parse_small_chunks_per_s", (double)chunks / elapsed, "chunks/s");
    print_figure("parse_small_bytes_per_s", (double)chunks * (double)len / SMALL_COPIES / elapsed,
                 "bytes/s");
    free(stream);
}

/* Random bytes except 0xff, so memchr for 0xff scans the whole body like the parser does. */
static char *random_body(size_t n)
{
    char *b = malloc(n);
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        b[i] = (char)(x % 255);
    }
    return b;
}

static double bench_parse_large(size_t body_len, double seconds, const char *name)
{
    char *body = random_body(body_len);
    char head[512];
    int hl = snprintf(head, sizeof(head),
                      "MSRP bigf1le9 SEND\r\nTo-Path: %s\r\nFrom-Path: %s\r\nMessage-ID: big1\r\n"
                      "Byte-Range: 1-%zu/%zu\r\nContent-Type: application/octet-stream\r\n\r\n",
                      to_path, from_path, body_len, body_len);
    size_t len = (size_t)hl + body_len + 2 + 7 + 8 + 3;
    char *chunk = malloc(len);
    memcpy(chunk, head, (size_t)hl);
    memcpy(chunk + hl, body, body_len);
    memcpy(chunk + hl + body_len, "\r\n-------bigf1le9$\r\n", 20);
    struct msrp_header headers[16];
    struct msrp_chunk c = {.headers = headers, .headers_cap = 16};
    uint64_t bytes = 0;
    double start = bench_now(), elapsed;
    do {
        for (int k = 0; k < 16; k++) {
            struct msrp_parser p;
            msrp_parser_init(&p, NULL);
            ssize_t r = msrp_parse(&p, chunk, len, &c);
            if (r != (ssize_t)len || c.body.len != body_len) {
                fprintf(stderr, "bench: large chunk did not parse whole\n");
                exit(EXIT_FAILED);
            }
            bytes += c.body.len;
        }
        elapsed = bench_now() - start;
    } while (elapsed < seconds);
    double rate = (double)bytes / elapsed;
    print_figure(name, rate, "bytes/s");

    /* The limit beside it: memchr over the same body for a byte it does not contain. */
    if (body_len == (1u << 20)) {
        bytes = 0;
        start = bench_now();
        do {
            for (int k = 0; k < 16; k++) {
                sink = (size_t)memchr(body, 0xff, body_len);
                bytes += body_len;
            }
            elapsed = bench_now() - start;
        } while (elapsed < seconds);
        print_figure("memchr_bytes_per_s", (double)bytes / elapsed, "bytes/s");
    }
    free(chunk);
    free(body);
    return rate;
}

static void bench_write_small(double seconds)
{
    struct msrp_idgen ids;
    if (msrp_idgen_init(&ids) != 0) {
        fprintf(stderr, "bench: the CSPRNG failed\n");
        exit(EXIT_FAILED);
    }
    char body[100];
    memset(body, 'x', sizeof(body));
    struct msrp_byte_range range = {1, 100, 100};
    struct msrp_out out = {
        .kind = MSRP_REQUEST,
        .method = MSRP_SPAN_LIT("SEND"),
        .to_path = MSRP_SPAN_LIT(to_path),
        .from_path = MSRP_SPAN_LIT(from_path),
        .message_id = MSRP_SPAN_LIT("m0000001q"),
        .byte_range = &range,
        .content_type = MSRP_SPAN_LIT("text/plain"),
        .body = msrp_span_make(body, sizeof(body)),
        .flag = '$',
    };
    char head[1024];
    struct msrp_wire_chunk w;
    uint64_t chunks = 0;
    size_t acc = 0;
    double start = bench_now(), elapsed;
    do {
        for (int k = 0; k < 1024; k++) {
            /* A new transaction id for every chunk, as a sender draws them. */
            if (msrp_write(&out, &ids, head, sizeof(head), &w) != MSRP_W_OK) {
                fprintf(stderr, "bench: the writer failed\n");
                exit(EXIT_FAILED);
            }
            acc += w.total;
        }
        chunks += 1024;
        elapsed = bench_now() - start;
    } while (elapsed < seconds);
    sink = acc;
    print_figure("write_small_chunks_per_s", (double)chunks / elapsed, "chunks/s");
}

bool bench_selected(const char *group, const char *only)
{
    return strncmp(group, only, strlen(only)) == 0;
}

static void bench_usage(FILE *out)
{
    fprintf(out, "usage: msrpload bench [--seconds S] [--only PREFIX]\n"
                 "\n"
                 "Measures the wire layer on one core and prints one line per figure,\n"
                 "`bench <name> <value> <unit>`:\n"
                 "  parse_small_chunks_per_s      small SENDs parsed, paths, Byte-Range and\n"
                 "                                Content-Type included\n"
                 "  parse_large_body_64k_bytes_per_s, parse_large_body_1m_bytes_per_s\n"
                 "                                body bytes scanned for the end-line\n"
                 "  parse_large_body_bytes_per_s  the lower of the two\n"
                 "  memchr_bytes_per_s            memchr over the same 1 MiB: the limit to compare with\n"
                 "  write_small_chunks_per_s      small SENDs formatted with a fresh transaction id\n"
                 "  tcp_raw_bytes_per_s           write/read over one loopback TCP connection: the\n"
                 "                                limit for the next figure\n"
                 "  e2e_64k_bytes_per_s           payload over one MSRP connection, 64 KiB chunks,\n"
                 "                                Failure-Report no (receiver does not hash)\n"
                 "  e2e_64k_percent_of_raw        the same as a share of tcp_raw_bytes_per_s\n"
                 "  e2e_ws_64k_bytes_per_s        e2e_64k over one WebSocket (RFC 7977) on TCP,\n"
                 "                                one chunk per message, client frames masked\n"
                 "  e2e_ws_64k_percent_of_raw     the same as a share of tcp_raw_bytes_per_s\n"
                 "  e2e_ws_64k_percent_of_e2e     the same as a share of e2e_64k_bytes_per_s of\n"
                 "                                the same run (so e2e_ws_64k runs e2e_64k too)\n"
                 "  tls_raw_bytes_per_s           SSL_write/SSL_read of 1 MiB buffers over one\n"
                 "                                loopback connection with the TLS contexts of\n"
                 "                                msrps (version and cipher on stderr): the\n"
                 "                                limit for the next figure\n"
                 "  e2e_tls_64k_bytes_per_s       e2e_64k over one msrps (TLS) connection\n"
                 "  e2e_tls_64k_percent_of_raw    the same as a share of tls_raw_bytes_per_s\n"
                 "  e2e_small_tx_per_s            100-byte messages, Failure-Report yes, 100\n"
                 "                                sessions, 8 in flight each, both ends here\n"
                 "  e2e_small_p50_us, e2e_small_p99_us  their transaction latency\n"
                 "  idle_session_rss_bytes        memory per idle bound session over 10,000\n"
                 "  run_small_msgs_per_s, run_small_p99_us  msrpload run, embedded, 100 sessions,\n"
                 "                                100-byte messages, Failure-Report yes, 4 in\n"
                 "                                flight each, 2 threads, the default batching\n"
                 "                                window (run --batch-window auto)\n"
                 "  run_thread_scaling            the same with 2 threads over 1 thread\n"
                 "  timer_wake_p99_us             the limit of the next figure: p99 of how late\n"
                 "                                an idle thread wakes from a timed wait of\n"
                 "                                0.1-1 ms (epoll_pwait2, timer slack 1 us)\n"
                 "  open_loop_lag_p99_us          the same traffic in the open loop (2 threads)\n"
                 "                                at half of run_small_msgs_per_s: p99 of how\n"
                 "                                late the write carrying each message returned\n"
                 "                                after its intended send time\n"
                 "  open_loop_rate_ratio          that run's messages sent / the schedule's,\n"
                 "                                after warm-up (1.0000: on time, every one)\n"
                 "  run_small_*_10000_sessions    10,000 sessions, one thread, against msrpload's\n"
                 "                                answering endpoints in a child process\n"
                 "  relay_tx_per_s, relay_p99_us  the run_small traffic (1 thread) through a real\n"
                 "                                Kamailio relay, both ends authenticated;\n"
                 "                                messages count once delivered end to end\n"
                 "  relay_cpu_ratio               msrpload's CPU seconds over Kamailio's for that\n"
                 "                                traffic (skipped without kamailio)\n"
                 "  relay_ws_tx_per_s, relay_ws_p99_us, relay_ws_cpu_ratio  the same with both\n"
                 "                                ends WebSocket clients (RFC 7977) of the\n"
                 "                                relay's ws port (skipped without Kamailio's\n"
                 "                                websocket module)\n"
                 "  sip_parse_build_per_s         an INVITE with an MSRP SDP offer (src/sip/)\n"
                 "                                parsed, its SDP read, and written out again\n"
                 "                                with a Via added, as a proxy would\n"
                 "  sip_dialog_find_1k_ns         finding an answering agent's dialog among\n"
                 "                                1,000 live ones (src/sip/dialog.c): the\n"
                 "                                limit for the next figure\n"
                 "  sip_dialog_find_100k_ns       the same among 100,000 live dialogs\n"
                 "  sip_calls_per_s               whole calls through the scripted Kamailio\n"
                 "                                proxy of tools/sip (run's topology sip over\n"
                 "                                UDP, 2 threads, 10 at once, after 100\n"
                 "                                REGISTERs): INVITE, 407 and digest, 200,\n"
                 "                                ACK, the MSRP session bound, one 100-byte\n"
                 "                                message answered 200, BYE\n"
                 "  sip_setup_p99_us              p99 of INVITE sent -> MSRP session bound\n"
                 "  sip_cpu_ratio                 msrpload's CPU seconds over Kamailio's for\n"
                 "                                those calls (skipped without kamailio)\n"
                 "Each figure runs for S seconds (default 1). --only runs the groups whose\n"
                 "name starts with PREFIX (parse_small, parse_large, write_small, tcp_raw,\n"
                 "e2e_64k, e2e_ws_64k, tls_raw, e2e_tls_64k, e2e_small, idle_session, run,\n"
                 "relay, sip_parse_build, sip_dialog_find, sip_calls);\n"
                 "a figure given as a share of a limit runs that limit too.\n");
}

int cmd_bench(int argc, char **argv)
{
    double seconds = 1.0;
    const char *only = "";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            bench_usage(stdout);
            return EXIT_OK;
        }
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            char *end;
            seconds = strtod(argv[++i], &end);
            if (*end != '\0' || seconds <= 0 || seconds > 600) {
                fprintf(stderr, "msrpload bench: --seconds takes a number from 0 to 600\n");
                return EXIT_USAGE;
            }
            continue;
        }
        if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            only = argv[++i];
            continue;
        }
        fprintf(stderr, "msrpload bench: unknown argument '%s'\n", argv[i]);
        bench_usage(stderr);
        return EXIT_USAGE;
    }
    fprintf(stderr, "# msrpload bench: one core, %.1f s per figure, end-line scan: %s\n", seconds,
            msrp__scan_impl());
    if (bench_selected("parse_small", only))
        bench_parse_small(seconds);
    if (bench_selected("parse_large", only)) {
        double r64 = bench_parse_large(64u << 10, seconds, "parse_large_body_64k_bytes_per_s");
        double r1m = bench_parse_large(1u << 20, seconds, "parse_large_body_1m_bytes_per_s");
        print_figure("parse_large_body_bytes_per_s", r64 < r1m ? r64 : r1m, "bytes/s");
    }
    if (bench_selected("write_small", only))
        bench_write_small(seconds);
    bench_sip(seconds, only);
    bench_net(seconds, only);
    bench_run(seconds, only);
    bench_relay(seconds, only);
    return EXIT_OK;
}
