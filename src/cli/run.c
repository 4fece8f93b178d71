/*
 * run.c - `msrpload run SCENARIO [options]`: load a scenario, apply the command line over it,
 * run it, write the report and print the summary.
 *
 * Owns: the command line, its overrides of the scenario, --data's file for the run (read before
 * the scenario, freed at exit), the run's seed when none is given, the run directory's life, the wiring
 * of live metrics (--metrics-listen: load/live.c's snapshots rendered by report/prom.c for
 * cli/metrics_http.c, and the linger), when --relay-state samples (cli/relay_state.c) and the exit code. May not touch: how sessions run (load/, msrp/) or how the report is written (report/).
 */
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <sys/random.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/metrics_http.h"
#include "cli/relay_state.h"
#include "cli/run_capacity.h"
#include "cli/run_sip.h"
#include "cli/start_at.h"
#include "load/runner.h"
#include "scenario/scenario.h"
#include "msrp/session.h"
#include "net/tls.h"
#include "report/prom.h"
#include "report/report.h"

static volatile sig_atomic_t stop_requests;
static volatile sig_atomic_t stop_signal; /* the first signal that asked to stop */

static void on_signal(int sig)
{
    if (stop_requests == 0)
        stop_signal = sig;
    if (stop_requests < 2)
        stop_requests++;
}

static void run_usage(FILE *out)
{
    fprintf(out,
            "usage: msrpload run SCENARIO [options]\n"
            "\n"
            "Runs the load a scenario file describes (scenarios/README.md is the format) and\n"
            "writes its report under results/<name>-<UTC time>/. Options override the file:\n"
            "  --threads N          worker threads (default: the file's, else the cores)\n"
            "  --sessions N         sessions in the whole run\n"
            "  --concurrency N      sessions open at once\n"
            "  --session-rate R     new sessions per second (0: as fast as they bind)\n"
            "  --rate R             open loop: R messages per second over the run\n"
            "  --duration S         seconds of measured traffic\n"
            "  --target URI         an external answering endpoint (repeat for more); switches\n"
            "                       the topology to target\n"
            "  --relay URI          authenticate both ends of every session with this relay\n"
            "                       (RFC 4976) and send through it; switches the topology to\n"
            "                       relay (msrps:// for TLS to the relay); a message is done\n"
            "                       when the relay has answered it and the other end has it;\n"
            "                       ws://HOST:PORT/PATH, wss://... or msrp[s]://HOST:PORT;ws\n"
            "                       reach it over a WebSocket (RFC 7977)\n"
            "  --relay-ws URI       the relay's WebSocket address (ws://, wss://, ;ws) beside a\n"
            "                       TCP or TLS --relay, for ends over ws or wss (none is derived\n"
            "                       from the other)\n"
            "  --transport T        tcp, tls, ws or wss for both ends (--relay and --target\n"
            "                       URIs must suit it; --relay sets it to its own otherwise)\n"
            "  --caller-transport T, --answerer-transport T\n"
            "                       one end's own, through a relay (e.g. ws to the relay on\n"
            "                       one end, tcp on the other)\n"
            "  --relay-user USER    the AUTH user; may hold one %%d or %%0Nd (e.g. load%%04d)\n"
            "                       filled in with an account number\n"
            "  --relay-users N      spread sessions over accounts 0..N-1 of that pattern\n"
            "  --relay-password-file FILE\n"
            "                       the password, on the first line of FILE (or set\n"
            "                       MSRPLOAD_RELAY_PASSWORD; --relay-password PW also works\n"
            "                       but shows it to every user of ps, with a warning)\n"
            "  --relay-expires S    Expires asked for in AUTH (default: the relay's)\n"
            "");
    run_sip_usage(out);
    fprintf(out,
            "  --batch-window auto|S\n"
            "                       wake at most once every S seconds while events come\n"
            "                       faster, so each wake-up reads and answers more frames\n"
            "                       at once (less CPU, up to S added to each latency);\n"
            "                       auto (default): every 100 ms, 1/10 of the current\n"
            "                       second's median latency, at most 0.001; 0: wake for\n"
            "                       every event\n"
            "  --out DIR            write the report to DIR (which must not exist; its parent\n"
            "                       must); made before the load starts\n"
            "  --shard I/N          this host runs share I of N (1 <= I <= N): sessions,\n"
            "                       concurrency, session rate and rate are divided by N, and\n"
            "                       session ids start with hI- and relay accounts are split\n"
            "                       N ways (merge the N reports with 'msrpload merge')\n"
            "  --metrics-listen HOST:PORT\n"
            "                       serve live Prometheus metrics at http://HOST:PORT/metrics\n"
            "                       while the run goes (docs/metrics.md lists them); port 0\n"
            "                       picks a free one, printed on standard error\n"
            "  --metrics-linger S   keep serving the final counts for S seconds after the\n"
            "                       report is written (default 0), so that a scraper sees\n"
            "                       them: give at least two scrape intervals\n"
            "  --data FILE          per-session data: a CSV file with a header row naming its\n"
            "                       columns, which raw templates use as {column}; user and\n"
            "                       password (each relay account's), target (the session's\n"
            "                       target URI), content_file (its messages' body) are taken\n"
            "                       by name; passwords never reach logs or reports\n"
            "  --data-order sequential|random|shard\n"
            "                       which row each session (each account, through a relay)\n"
            "                       takes: in turn (default), drawn from the seed, or in\n"
            "                       turn within this --shard's slice of the rows\n"
            "  --seed N             the seed of message sizes and think times (0..2^63-1;\n"
            "                       default: load.seed, else one drawn at random); the\n"
            "                       report records it, and the same seed (with the same\n"
            "                       --threads and --shard) draws the same per session\n"
            "  --find-capacity      search for the highest open-loop rate that meets --slo\n"
            "                       over a full step: each step a run at one rate (sessions\n"
            "                       replaced as they end), the rate doubled until a step\n"
            "                       fails, then bisected; every step's report in step-NN/,\n"
            "                       capacity.json and capacity.svg beside them\n"
            "  --slo SLO            e.g. 'p99<50ms,errors<0.1%%': pNN<DURATION (us, ms, s;\n"
            "                       latency from the intended send time), errors<N%% (failed\n"
            "                       messages), achieved>=N%% (sent / requested; 95%% unless\n"
            "                       given); <= and >= also\n"
            "  --capacity-start R   the first step's rate (default 100 msg/s)\n"
            "  --capacity-max R     the highest rate tried (default 100000)\n"
            "  --capacity-factor F  each step's rate over the last before a failure (default 2)\n"
            "  --capacity-resolution P\n"
            "                       stop bisecting within P%% of the rate met (default 5)\n"
            "  --capacity-step-seconds S\n"
            "                       each step's measured seconds (default 10)\n"
            "  --capacity-warm-up S before each step, not measured (default 2)\n"
            "  --capacity-max-steps N\n"
            "                       at most N steps (default 20, at most 64)\n"
            "  --start-at UNIX_TIME start the load at this wall-clock time (seconds since 1970),\n"
            "                       once everything is set up, so that shards on several hosts\n"
            "                       start together; refused when more than 5 s past\n"
            "  --relay-state CMD    run CMD (/bin/sh -c) before the load, every\n"
            "                       --relay-state-interval seconds during it and once after\n"
            "                       it and a grace period; it prints 'name value' lines\n"
            "                       (sessions, shm_used_bytes, rss_bytes, ...; README \"Leak\n"
            "                       checks on the relay\"), kept in summary.json relay_state\n"
            "                       and relay-state.csv, with a verdict: relay sessions left\n"
            "                       over, memory growth per 1000 sessions started\n"
            "  --relay-state-interval S\n"
            "                       seconds between samples during the run (default 5)\n"
            "  --relay-state-grace S|expires|expires+S\n"
            "                       wait after the run before the last sample: S seconds\n"
            "                       (default 5), or the Expires the relay granted in AUTH\n"
            "                       (else the one asked for), plus S\n"
            "  --relay-state-timeout S\n"
            "                       bound on one run of CMD (default 10); past it CMD's\n"
            "                       process group is killed and the sample fails\n"
            "  --relay-state-max-growth B\n"
            "                       memory growth (any *_bytes value) above B bytes per\n"
            "                       1000 sessions started (default 65536; never below 1 MiB\n"
            "                       in all) makes the verdict a warning\n"
            "  --relay-state-judge NAMES\n"
            "                       the values judged for growth, comma-separated (default:\n"
            "                       every name ending in _bytes)\n"
            "  --quiet              no progress lines on standard error\n"
            "\n"
            "Everything is checked before the first session starts: values and their bounds\n"
            "(threads 1..256, sessions up to 10^12, concurrency up to 1000000), descriptors\n"
            "under RLIMIT_NOFILE (the soft limit is raised to the hard one when needed),\n"
            "memory, and the report directory, which is made then. It holds a file named\n"
            "PARTIAL until every report file is written: one that could not be written whole\n"
            "(a full disk) keeps it, saying which file failed and why.\n"
            "\n"
            "Progress is printed once a second when standard error is a terminal. SIGINT or\n"
            "SIGTERM stops new sessions, drains for up to 2 s and writes the report (marked\n"
            "incomplete); a second signal stops at once and still writes what there is.\n"
            "exit codes: 0 every expectation met, 1 some failed (or sessions failed, or no\n"
            "            message met its expectation, or the report could not be written\n"
            "            whole), 2 usage or scenario error (before anything starts), 3 no\n"
            "            session bound (target or relay unreachable, AUTH refused, every\n"
            "            SIP REGISTER or INVITE refused),\n"
            "            130 interrupted by SIGINT, 143 by SIGTERM (an interruption comes\n"
            "            before every other code); with --find-capacity: 0 a capacity was\n"
            "            found, 1 the first step failed the SLO (or a file could not be\n"
            "            written), 3 the first step reached nothing\n");
}

static char *config_json(const struct scenario *sc, unsigned shard_index, unsigned shard_count)
{
    json_t *targets = json_array();
    for (unsigned i = 0; i < sc->num_targets; i++)
        json_array_append_new(targets, json_string(sc->targets[i]));
    json_t *o = json_pack(
        "{s:I, s:I, s:I, s:f, s:f, s:f, s:f, s:s, s:I, s:f, s:s, s:s, s:o}", "threads",
        (json_int_t)sc->threads, "sessions", (json_int_t)sc->sessions, "concurrency",
        (json_int_t)sc->concurrency, "session_rate", sc->session_rate, "ramp_up", sc->ramp_up_s,
        "duration", sc->duration_s, "warm_up", sc->warm_up_s, "mode",
        sc->mode == SCENARIO_OPEN ? "open" : "closed", "outstanding", (json_int_t)sc->outstanding,
        "rate", sc->rate, "topology",
        sc->topology == SCENARIO_TARGET  ? "target"
        : sc->topology == SCENARIO_RELAY ? "relay"
        : sc->topology == SCENARIO_SIP   ? "sip"
                                         : "embedded",
        "transport", scenario_transport_name(sc->transport), "targets", targets);
    /* Each end's, as it ran (they differ only through a relay). */
    json_object_set_new(
        o, "transports",
        json_pack("{s:s, s:s}", "caller",
                  scenario_transport_name(sc->end_transport[SCENARIO_CALLER]), "answerer",
                  scenario_transport_name(sc->end_transport[SCENARIO_ANSWERER])));
    json_object_set_new(o, "batch_window", sc->batch_window_auto
                                               ? json_string("auto")
                                               : json_real(sc->batch_window_s));
    /* Who authenticated where, never with what password. */
    if (scenario_has_relay(sc))
        json_object_set_new(o, "relay",
                            json_pack("{s:s, s:s, s:s, s:I, s:I}", "uri", sc->relay.uri,
                                      "ws_uri", sc->relay.ws_uri, "user", sc->relay.user,
                                      "users", (json_int_t)sc->relay.users, "expires",
                                      (json_int_t)sc->relay.expires));
    if (sc->topology == SCENARIO_SIP)
        json_object_set_new(o, "sip", run_sip_config_json(sc));
    /* --data: which file, its columns and order; never a value (passwords) */
    if (sc->data != NULL) {
        json_t *cols = json_array();
        for (unsigned i = 0; i < sc->data->num_cols; i++)
            json_array_append_new(cols, json_string(sc->data->names[i]));
        json_object_set_new(o, "data",
                            json_pack("{s:s, s:I, s:o, s:s}", "file", sc->data->path, "rows",
                                      (json_int_t)sc->data->num_rows, "columns", cols, "order",
                                      scenario_data_order_name(sc->data->order)));
    }
    /* Given back with --seed, the run draws the same sizes and think times per session. */
    json_object_set_new(o, "seed", json_integer((json_int_t)sc->seed));
    if (shard_count > 0)
        json_object_set_new(o, "shard", json_pack("{s:I, s:I}", "index", (json_int_t)shard_index,
                                                  "count", (json_int_t)shard_count));
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return text;
}

/* A seed for a run that was given none: from the kernel's generator (the clock should it
 * fail), kept within 0..2^63-1 so that --seed takes it back. */
static uint64_t draw_seed(void)
{
    uint64_t x = 0;
    if (getrandom(&x, sizeof(x), 0) != (ssize_t)sizeof(x)) {
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        x = (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
    }
    return x & (uint64_t)INT64_MAX;
}

/* Embedded TLS: a certificate made for this run; the callers verify against it. */
static int setup_tls(const struct scenario *sc, struct run_config *rc, char *tmpdir)
{
    char err[512];
    if (!sc->tls)
        return 0;
    /* the sip topology's answering ends are ours too, unless it calls a --sip-target */
    bool ours = sc->topology == SCENARIO_EMBEDDED ||
                (sc->topology == SCENARIO_SIP && sc->sip.target[0] == '\0' &&
                 !scenario_has_relay(sc));
    if (!ours) {
        if (net_tls_client_create(&rc->client_tls, sc->ca_file[0] ? sc->ca_file : NULL, NULL,
                                  NULL, err, sizeof(err)) != 0) {
            fprintf(stderr, "msrpload run: %s\n", err);
            return -1;
        }
        return 0;
    }
    strcpy(tmpdir, "/tmp/msrpload-run-XXXXXX");
    if (mkdtemp(tmpdir) == NULL) {
        fprintf(stderr, "msrpload run: cannot create a temporary directory: %s\n",
                strerror(errno));
        return -1;
    }
    char cert[256], key[256];
    snprintf(cert, sizeof(cert), "%s/cert.pem", tmpdir);
    snprintf(key, sizeof(key), "%s/key.pem", tmpdir);
    int e = net_tls_make_self_signed(cert, key, "localhost", err, sizeof(err));
    if (e == 0)
        e = net_tls_server_create(&rc->server_tls, cert, key, NULL, err, sizeof(err));
    if (e == 0)
        e = net_tls_client_create(&rc->client_tls, cert, NULL, NULL, err, sizeof(err));
    unlink(cert);
    unlink(key);
    rmdir(tmpdir);
    if (e != 0) {
        fprintf(stderr, "msrpload run: %s\n", err);
        return -1;
    }
    return 0;
}

static void tls_free(struct run_config *rc)
{
    net_tls_destroy(rc->server_tls);
    net_tls_destroy(rc->client_tls);
    net_tls_destroy(rc->sip_tls_server);
    net_tls_destroy(rc->sip_tls_client);
}

/* The relay password: --relay-password-file, else MSRPLOAD_RELAY_PASSWORD, else the
 * scenario's password_file, else --relay-password. Its first line, without the line end. */
static int relay_password(const struct scenario *sc, const char *file, const char *on_cmdline,
                          char *out, size_t cap)
{
    const char *env = getenv("MSRPLOAD_RELAY_PASSWORD");
    if (file == NULL && env != NULL && env[0] != '\0') {
        snprintf(out, cap, "%s", env);
        return 0;
    }
    if (file == NULL && sc->relay.password_file[0] != '\0')
        file = sc->relay.password_file;
    if (file == NULL && on_cmdline != NULL) {
        snprintf(out, cap, "%s", on_cmdline);
        return 0;
    }
    if (file == NULL) {
        fprintf(stderr, "msrpload run: the relay needs a password: --relay-password-file FILE, "
                        "or MSRPLOAD_RELAY_PASSWORD in the environment\n");
        return -1;
    }
    FILE *f = fopen(file, "r");
    if (f == NULL) {
        fprintf(stderr, "msrpload run: relay password file %s: %s\n", file, strerror(errno));
        return -1;
    }
    bool got = fgets(out, (int)cap, f) != NULL;
    fclose(f);
    out[got ? strcspn(out, "\r\n") : 0] = '\0';
    if (out[0] == '\0') {
        fprintf(stderr, "msrpload run: relay password file %s: the first line is empty\n", file);
        return -1;
    }
    return 0;
}

/*
 * Descriptors a run needs at most: per session at once, 2 in the embedded topology (the
 * calling end and the accepted answering end), 2 through a relay (both ends connect to it),
 * 1 to external targets; per worker thread its epoll, wake-up and listening descriptors; per
 * SIP user a calling and an answering agent's socket and a connection to the proxy; and
 * room for standard streams, TLS files and the report.
 */
#define FDS_PER_THREAD 4
#define FDS_SLACK 32

/* --metrics-listen: its socket, its thread's epoll and wake-up, and its 8 connections. */
#define FDS_METRICS 12

static uint64_t descriptors_needed(const struct scenario *sc, bool metrics)
{
    uint64_t per_session = sc->topology == SCENARIO_TARGET ? 1 : 2;
    uint64_t threads = sc->threads < sc->concurrency ? sc->threads : sc->concurrency;
    uint64_t sip = sc->topology == SCENARIO_SIP ? 3ull * (sc->sip.users ? sc->sip.users : 1) : 0;
    return per_session * sc->concurrency + FDS_PER_THREAD * threads + FDS_SLACK + sip +
           (metrics ? FDS_METRICS : 0);
}

/* Raises RLIMIT_NOFILE's soft limit toward its hard limit when the run needs more; refuses the
 * run (returns -1, with a message) when even the hard limit is too low. */
static int descriptors_enough(const struct scenario *sc, bool metrics)
{
    uint64_t need = descriptors_needed(sc, metrics);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY ||
        (uint64_t)rl.rlim_cur >= need)
        return 0;
    if (rl.rlim_max == RLIM_INFINITY || (uint64_t)rl.rlim_max >= need) {
        struct rlimit raised = {.rlim_cur = (rlim_t)need, .rlim_max = rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
            return 0;
    }
    fprintf(stderr,
            "msrpload run: %llu sessions at once need about %llu file descriptors (%s per "
            "session, plus threads and files), but RLIMIT_NOFILE allows %llu (hard limit "
            "%llu): lower --concurrency (load.concurrency in %s) or raise the limit (ulimit -n)\n",
            (unsigned long long)sc->concurrency, (unsigned long long)need,
            sc->topology == SCENARIO_TARGET ? "1" : "2",
            (unsigned long long)rl.rlim_cur,
            rl.rlim_max == RLIM_INFINITY ? 0ull : (unsigned long long)rl.rlim_max, sc->path);
    return -1;
}

/*
 * Memory a run needs at least: a connection with traffic holds a 16 KiB read buffer (net/conn.c)
 * besides its session's state, so 20 KiB a connection is a floor, not a forecast (an idle one
 * lets its buffer go: the report's memory.bytes_per_session_end). Refused when that floor is
 * above the machine's memory or RLIMIT_AS, whichever is lower.
 */
#define BYTES_PER_CONNECTION (20u * 1024u)

static int memory_enough(const struct scenario *sc)
{
    uint64_t conns = (sc->topology == SCENARIO_TARGET ? 1 : 2) * sc->concurrency;
    uint64_t need = conns * BYTES_PER_CONNECTION;
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    uint64_t limit = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : UINT64_MAX;
    const char *which = "the machine's memory";
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        (uint64_t)rl.rlim_cur < limit) {
        limit = (uint64_t)rl.rlim_cur;
        which = "RLIMIT_AS";
    }
    if (need <= limit)
        return 0;
    fprintf(stderr,
            "msrpload run: %llu sessions at once need at least %llu MiB (%llu connections of "
            "20 KiB or more), above %s (%llu MiB): lower --concurrency (load.concurrency in "
            "%s)\n",
            (unsigned long long)sc->concurrency, (unsigned long long)(need >> 20),
            (unsigned long long)conns, which, (unsigned long long)(limit >> 20), sc->path);
    return -1;
}

/* What the command line says beyond the scenario's overrides. */
struct run_options {
    const char *path, *out_dir, *relay_pw_file, *relay_pw;
    const char *metrics_listen; /* NULL: no live metrics */
    const char *violate;        /* hidden --violate NAME: conform --listen's wrong client */
    double metrics_linger;      /* seconds the final counts stay served */
    double start_at;            /* --start-at: UNIX time; 0: at once */
    bool quiet;
    struct scenario_overrides over;
    const char *data_path;              /* --data FILE, or NULL */
    const char *data_order;             /* --data-order, or NULL (sequential) */
    struct capacity_options cap; /* --find-capacity and its options */
    struct relay_state_opts rstate; /* --relay-state and its options */
    struct run_sip_options sip;     /* --sip-* */
};

/* Reads the command line into ro. Returns -1 to go on, or the exit code (usage, --help). */
static int read_options(int argc, char **argv, struct run_options *ro)
{
    char err[1024];
    memset(ro, 0, sizeof(*ro));
    scenario_overrides_init(&ro->over);
    capacity_options_init(&ro->cap);
    relay_state_opts_init(&ro->rstate);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            run_usage(stdout);
            return EXIT_OK;
        }
        if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            ro->quiet = true;
            continue;
        }
        int cap = capacity_option(&ro->cap, a, v, err, sizeof(err));
        if (cap < 0) {
            fprintf(stderr, "msrpload run: %s\n", err);
            return EXIT_USAGE;
        }
        if (cap > 0) {
            i += cap == 1;
            continue;
        }
        int sip = run_sip_option(&ro->sip, a, v, err, sizeof(err));
        if (sip < 0) {
            fprintf(stderr, "msrpload run: %s\n", err);
            return EXIT_USAGE;
        }
        if (sip > 0) {
            i += sip == 1;
            continue;
        }
        if (a[0] == '-' && v == NULL) {
            fprintf(stderr, "msrpload run: %s needs a value\n", a);
            return EXIT_USAGE;
        }
        int rs = relay_state_option(&ro->rstate, a, v, err, sizeof(err));
        if (rs < 0) {
            fprintf(stderr, "msrpload run: %s\n", err);
            return EXIT_USAGE;
        }
        if (rs > 0) {
            i++;
            continue;
        }
        int bad = scenario_override_option(&ro->over, a, v, err, sizeof(err));
        if (bad == 1) {
            i++;
            continue;
        }
        if (bad < 0) {
            fprintf(stderr, "msrpload run: %s\n", err);
            return EXIT_USAGE;
        }
        if (strcmp(a, "--out") == 0) {
            ro->out_dir = v;
        } else if (strcmp(a, "--data") == 0) {
            ro->data_path = v;
        } else if (strcmp(a, "--data-order") == 0) {
            ro->data_order = v;
        } else if (strcmp(a, "--relay-password-file") == 0) {
            ro->relay_pw_file = v;
        } else if (strcmp(a, "--metrics-listen") == 0) {
            ro->metrics_listen = v;
        } else if (strcmp(a, "--violate") == 0) {
            /* Hidden, as serve's: the calling side breaks one rule of RFC 4975 on purpose, so
             * that conform --listen's sender cases can be shown to fail (msrp/session.h). */
            if (!msrp_session_violation_known(v)) {
                fprintf(stderr, "msrpload run: --violate: unknown violation '%s'\n", v);
                return EXIT_USAGE;
            }
            ro->violate = v;
        } else if (strcmp(a, "--metrics-linger") == 0) {
            char *end;
            errno = 0;
            ro->metrics_linger = strtod(v, &end);
            if (errno != 0 || end == v || *end != '\0' || !(ro->metrics_linger >= 0) ||
                ro->metrics_linger > 3600) {
                fprintf(stderr, "msrpload run: --metrics-linger %s: expected seconds from 0 to "
                                "3600\n", v);
                return EXIT_USAGE;
            }
        } else if (strcmp(a, "--start-at") == 0) {
            if (start_at_parse(v, &ro->start_at, err, sizeof(err)) != 0 ||
                start_at_check(ro->start_at, err, sizeof(err)) != 0) {
                fprintf(stderr, "msrpload run: %s\n", err);
                return EXIT_USAGE;
            }
        } else if (strcmp(a, "--relay-password") == 0) {
            ro->relay_pw = v;
            fprintf(stderr, "msrpload run: warning: a password on the command line can be read "
                            "by every user of this machine (ps); prefer --relay-password-file "
                            "or MSRPLOAD_RELAY_PASSWORD\n");
        } else if (a[0] == '-') {
            fprintf(stderr, "msrpload run: unknown option '%s'\n\n", a);
            run_usage(stderr);
            return EXIT_USAGE;
        } else if (ro->path == NULL) {
            ro->path = a;
            continue;
        } else {
            fprintf(stderr, "msrpload run: only one scenario file may be given\n");
            return EXIT_USAGE;
        }
        i++;
    }
    if (ro->path == NULL) {
        run_usage(stderr);
        return EXIT_USAGE;
    }
    if (ro->metrics_linger > 0 && ro->metrics_listen == NULL) {
        fprintf(stderr, "msrpload run: --metrics-linger needs --metrics-listen\n");
        return EXIT_USAGE;
    }
    if (capacity_options_check(&ro->cap, &ro->over, ro->metrics_listen != NULL, err,
                               sizeof(err)) != 0) {
        fprintf(stderr, "msrpload run: %s\n", err);
        return EXIT_USAGE;
    }
    if (relay_state_opts_check(&ro->rstate, err, sizeof(err)) != 0) {
        fprintf(stderr, "msrpload run: %s\n", err);
        return EXIT_USAGE;
    }
    if (ro->cap.on && ro->rstate.cmd != NULL) {
        fprintf(stderr, "msrpload run: --find-capacity does not go with --relay-state (run the "
                        "rate found once with it)\n");
        return EXIT_USAGE;
    }
    if (ro->cap.on && ro->start_at > 0) {
        fprintf(stderr, "msrpload run: --find-capacity does not go with --start-at (the search "
                        "runs on one host)\n");
        return EXIT_USAGE;
    }
    return -1;
}


/* --metrics-listen: the workers' live figures (load/live.c), rendered for each scrape. */
struct live_metrics {
    struct runner_live *live;
    struct metrics_http *http;
    struct prom_run_meta meta;
    char shard[32];
};

/* On the HTTP thread: the sum of what the workers last published, as Prometheus text. */
static char *render_run(void *arg, size_t *len)
{
    struct live_metrics *lm = arg;
    struct metrics_snapshot *snap = malloc(sizeof(*snap));
    if (snap == NULL)
        return NULL;
    runner_live_read(lm->live, snap);
    char *text = prom_render_run(snap, &lm->meta, len);
    free(snap);
    return text;
}

static void live_metrics_stop(struct live_metrics *lm)
{
    metrics_http_stop(lm->http); /* first: no scrape reads lm->live after this */
    lm->http = NULL;
    runner_live_free(lm->live);
    lm->live = NULL;
}

/* Listens before anything starts, so that a bad value or a port in use is a usage error. */
static int live_metrics_start(struct live_metrics *lm, const struct scenario *sc,
                              const struct scenario_overrides *over, const char *listen,
                              bool quiet)
{
    char err[512];
    memset(lm, 0, sizeof(*lm));
    snprintf(lm->shard, sizeof(lm->shard), "%u/%u", over->shard_count > 0 ? over->shard_index : 1,
             over->shard_count > 0 ? over->shard_count : 1);
    lm->meta.scenario = sc->name;
    lm->meta.shard = lm->shard;
    lm->meta.topology = sc->topology == SCENARIO_TARGET  ? "target"
                        : sc->topology == SCENARIO_RELAY ? "relay"
                        : sc->topology == SCENARIO_SIP   ? "sip"
                                                         : "embedded";
    for (int i = 0; i < STATS_END_KINDS; i++) /* "none" is no way to end */
        lm->meta.end_names[i] = i == MSRP_END_NONE ? NULL : runner_end_name((unsigned)i);
    if (runner_live_create(&lm->live) != 0) {
        fprintf(stderr, "msrpload run: out of memory\n");
        return -1;
    }
    if (metrics_http_start(&lm->http, listen, render_run, lm, err, sizeof(err)) != 0) {
        fprintf(stderr, "msrpload run: %s\n", err);
        live_metrics_stop(lm);
        return -1;
    }
    /* A port of 0 is known only now: said even with --quiet. */
    size_t n = strlen(listen);
    if (!quiet || (n >= 2 && strcmp(listen + n - 2, ":0") == 0))
        fprintf(stderr, "msrpload run: metrics at %s\n", metrics_http_url(lm->http));
    return 0;
}

/*
 * --metrics-linger: the final counts stay served for that long after the report, so that the
 * next scrape sees them. A signal ends it at once; a run stopped by a signal does not linger.
 */
static void live_metrics_linger(double seconds, bool quiet)
{
    if (seconds <= 0 || stop_requests != 0)
        return;
    if (!quiet)
        fprintf(stderr, "msrpload run: serving the final metrics for %.3g s more\n", seconds);
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do {
        usleep(50000);
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while (stop_requests == 0 &&
             (double)(now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9 < seconds);
}

/* --relay-state's part of the report, filled in by cmd_run after the grace period and
 * written by run_report_write (NULL json: no --relay-state). */
static struct relay_state_report relay_report;

int run_stop_signal(void)
{
    return stop_signal;
}

/* Writes the run's report into dir and prints its summary (when summary); returns the run's
 * exit code. */
int run_report_write(const struct scenario *sc, const struct scenario_overrides *over,
                     const struct run_stats *stats, const struct run_outcome *outcome,
                     const char *dir, bool summary)
{
    char err[1024];
    char *cfg_json = config_json(sc, over->shard_index, over->shard_count);
    struct report_meta meta = {
        .scenario_name = sc->name,
        .scenario_file = sc->path,
        .scenario_description = sc->description,
        .scenario_text = sc->text,
        .scenario_text_len = sc->text_len,
        .config_json = cfg_json != NULL ? cfg_json : "{}",
        .started_unix = outcome->started_unix,
        .elapsed_s = outcome->elapsed_s,
        .measured_s = outcome->measured_s,
        .warm_up_s = sc->warm_up_s,
        .incomplete = outcome->incomplete,
        .first_error = outcome->first_error,
        .version = msrpload_version(),
        .end_closed = MSRP_END_CLOSED,
    };
    for (int i = 0; i < STATS_END_KINDS; i++)
        meta.end_names[i] = runner_end_name((unsigned)i);
    struct report_stage stages[SCENARIO_MAX_STAGES];
    for (unsigned i = 0; i < sc->num_stages; i++)
        stages[i] = (struct report_stage){sc->stages[i].start_s, sc->stages[i].duration_s,
                                          sc->stages[i].from, sc->stages[i].target,
                                          sc->stages[i].ramp};
    meta.stages = stages;
    meta.num_stages = sc->num_stages;
    meta.stages_sessions = sc->mode == SCENARIO_CLOSED;
    for (unsigned i = 0; i < sc->num_steps && !outcome->incomplete; i++)
        if (sc->steps[i].kind == SCN_STEP_SEND)
            meta.no_message_met = outcome->msgs_met == 0;
    /* Failure forensics: errors.jsonl and the summary's failure lines. */
    char *errors_jsonl = failure_jsonl(outcome->failures, &meta.errors_jsonl_len);
    char *failures_text = failure_summary(outcome->failures);
    meta.errors_jsonl = errors_jsonl != NULL ? errors_jsonl : "";
    meta.failures_text = failures_text;
    meta.relay_state_json = relay_report.json;
    int werr = report_write_files(stats, &meta, dir, err, sizeof(err));
    if (werr == 0 && relay_report.csv != NULL &&
        (werr = report_write_file(dir, "relay-state.csv", relay_report.csv,
                                  relay_report.csv_len, err, sizeof(err))) != 0)
        report_mark_partial(dir, err);
    if (werr == 0)
        werr = report_finish_dir(dir, err, sizeof(err));
    if (summary)
        report_print(stdout, stats, &meta, werr == 0 ? dir : NULL);
    if (summary && relay_report.json != NULL)
        fprintf(stdout, "%s\n", relay_report.verdict);
    if (werr != 0)
        fprintf(stderr, "msrpload run: %s (%s/" REPORT_PARTIAL_FILE " marks the report as "
                        "partial)\n", err, dir);

    /* README "Exit codes": a run that achieved nothing never exits 0. */
    int code = EXIT_OK;
    if (!summary) {
        code = werr != 0 ? EXIT_FAILED : EXIT_OK; /* the caller judges the run */
    } else if (outcome->unreachable) {
        fprintf(stderr, "msrpload run: %s: %s\n",
                stats->relay_auth_ok == 0 && stats->session_ends[RUNNER_END_AUTH_FAILED] > 0
                    ? "the relay accepted no AUTH"
                    : "no session could reach its endpoint",
                outcome->first_error[0] ? outcome->first_error : "no session bound");
        code = EXIT_UNREACHABLE;
    } else if (stats->expect_failures > 0 || stats->sessions_failed > 0 || werr != 0) {
        code = EXIT_FAILED;
    } else if (meta.no_message_met) {
        fprintf(stderr, "msrpload run: no message met its expectation%s%s\n",
                outcome->first_error[0] ? ": " : "", outcome->first_error);
        code = EXIT_FAILED;
    }
    /* An interruption comes first (README's run exit codes): the shell's 128 + the signal. */
    if (summary && outcome->incomplete && stop_signal != 0)
        code = 128 + stop_signal;
    free(cfg_json);
    free(errors_jsonl);
    free(failures_text);
    return code;
}

/* run --data: read before the scenario, whose templates may name its columns; it holds
 * passwords, so it is wiped and freed at exit however the command ends. */
static struct scenario_data *run_data;

static void free_run_data(void)
{
    scenario_data_free(run_data);
    run_data = NULL;
}

/* --data FILE and --data-order into run_data, its targets (a target column) among the
 * overrides' --target URIs. Returns 0, or -1 after saying why. */
static int load_data(struct run_options *ro)
{
    char err[1024];
    enum scenario_data_order order = SCENARIO_DATA_SEQUENTIAL;
    if (ro->data_order != NULL && ro->data_path == NULL) {
        fprintf(stderr, "msrpload run: --data-order needs --data FILE\n");
        return -1;
    }
    if (ro->data_path == NULL)
        return 0;
    if (ro->data_order != NULL && scenario_data_order_parse(ro->data_order, &order) != 0) {
        fprintf(stderr, "msrpload run: --data-order takes sequential, random or shard, got "
                        "'%s'\n", ro->data_order);
        return -1;
    }
    if (order == SCENARIO_DATA_SHARD && ro->over.shard_count == 0) {
        fprintf(stderr, "msrpload run: --data-order shard needs --shard I/N\n");
        return -1;
    }
    if (scenario_data_load(ro->data_path, &run_data, err, sizeof(err)) != 0) {
        fprintf(stderr, "msrpload run: --data %s\n", err);
        return -1;
    }
    atexit(free_run_data);
    run_data->order = order;
    if (run_data->col_target < 0)
        return 0;
    if (ro->over.num_targets > 0) {
        fprintf(stderr, "msrpload run: --target and --data %s's target column exclude each "
                        "other\n", ro->data_path);
        return -1;
    }
    if (scenario_data_targets(run_data, ro->over.targets, &ro->over.num_targets, err,
                              sizeof(err)) != 0) {
        fprintf(stderr, "msrpload run: --data %s\n", err);
        return -1;
    }
    return 0;
}

int cmd_run(int argc, char **argv)
{
    struct run_options ro;
    int early = read_options(argc, argv, &ro);
    if (early >= 0)
        return early;
    const char *path = ro.path, *out_dir = ro.out_dir;
    const struct scenario_overrides *over = &ro.over;
    bool quiet = ro.quiet;
    char err[1024];

    static struct scenario sc;
    if (load_data(&ro) != 0)
        return EXIT_USAGE;
    if (scenario_load_with_data(path, run_data, &sc, err, sizeof(err)) != 0) {
        fprintf(stderr, "msrpload run: %s\n", err);
        return EXIT_USAGE;
    }
    if (sc.kase != NULL) {
        fprintf(stderr, "msrpload run: %s: a conformance case; run it with msrpload conform\n",
                path);
        scenario_free(&sc);
        return EXIT_USAGE;
    }
    ro.sip.shard_index = over->shard_index;
    ro.sip.shard_count = over->shard_count;
    if (scenario_apply_overrides(&sc, over, err, sizeof(err)) != 0 ||
        run_sip_apply(&sc, &ro.sip, err, sizeof(err)) != 0) {
        fprintf(stderr, "msrpload run: %s\n", err);
        scenario_free(&sc);
        return EXIT_USAGE;
    }
    /* The search's steps are open loops, whose rate says when messages leave: a think time
     * would be dropped without a word. */
    for (unsigned i = 0; ro.cap.on && i < sc.num_steps; i++)
        if (sc.steps[i].kind == SCN_STEP_SEND && sc.steps[i].u.send.think.max > 0) {
            fprintf(stderr, "msrpload run: --find-capacity: not allowed with the scenario's "
                            "send.think (step %u): a think time paces a closed loop only\n", i);
            scenario_free(&sc);
            return EXIT_USAGE;
        }
    /* the answering end hashes what it expects from the run's one body pattern */
    if (run_data != NULL && run_data->col_content_file >= 0 && sc.answer_check_sha256) {
        fprintf(stderr, "msrpload run: --data %s: a content_file column is not allowed with "
                        "answer.check_sha256\n", run_data->path);
        scenario_free(&sc);
        return EXIT_USAGE;
    }
    if (ro.rstate.grace_expires && !scenario_has_relay(&sc)) {
        fprintf(stderr, "msrpload run: --relay-state-grace %s: only through a relay (--relay "
                        "or topology.kind relay), whose AUTH grants the Expires\n",
                ro.rstate.grace_spec);
        scenario_free(&sc);
        return EXIT_USAGE;
    }
    if (!sc.seed_given)
        sc.seed = draw_seed();
    static char password[512];
    /* run --data's password column gives every account's password */
    if (scenario_has_relay(&sc) && !(run_data != NULL && run_data->col_password >= 0) &&
        relay_password(&sc, ro.relay_pw_file, ro.relay_pw, password, sizeof(password)) != 0) {
        scenario_free(&sc);
        return EXIT_USAGE;
    }
    static char sip_password[512];
    if (sc.topology == SCENARIO_SIP &&
        run_sip_password(&sc, &ro.sip, sip_password, sizeof(sip_password)) != 0) {
        scenario_free(&sc);
        return EXIT_USAGE;
    }
    if (memory_enough(&sc) != 0 || descriptors_enough(&sc, ro.metrics_listen != NULL) != 0) {
        scenario_free(&sc);
        return EXIT_USAGE;
    }
    static struct live_metrics lm; /* its address is the HTTP thread's until it stops */
    if (ro.metrics_listen != NULL &&
        live_metrics_start(&lm, &sc, over, ro.metrics_listen, quiet) != 0) {
        scenario_free(&sc);
        return EXIT_USAGE;
    }

    struct run_config rc = {.sc = &sc, .stop = &stop_requests, .drain_s = 2,
                            .shard_index = over->shard_index, .shard_count = over->shard_count,
                            .relay_password = password, .sip_password = sip_password,
                            .live = lm.live,
                            .violate = ro.violate};
    rc.progress = !quiet && isatty(STDERR_FILENO);
    char tmpdir[64];
    if (setup_tls(&sc, &rc, tmpdir) != 0 ||
        run_sip_tls_setup(&sc, &rc.sip_tls_client, &rc.sip_tls_server) != 0) {
        tls_free(&rc);
        live_metrics_stop(&lm);
        scenario_free(&sc);
        return EXIT_USAGE;
    }
    /* The report's directory is made now, so that a run never measures for nothing: a path
     * that cannot be a new directory is a usage error before any session starts. */
    char dir[1024];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int derr = report_make_dir("results", out_dir, sc.name, (double)now.tv_sec, dir, sizeof(dir),
                               err, sizeof(err));
    if (derr != 0) {
        fprintf(stderr, "msrpload run: %s%s\n", out_dir != NULL ? "--out: " : "", err);
        tls_free(&rc);
        live_metrics_stop(&lm);
        scenario_free(&sc);
        return EXIT_USAGE;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    if (ro.cap.on) {
        int code = run_capacity(&sc, over, &rc, &ro.cap, dir, quiet);
        explicit_bzero(password, sizeof(password));
        tls_free(&rc);
        scenario_free(&sc);
        return code;
    }
    char shard_note[48] = "";
    if (over->shard_count > 0)
        snprintf(shard_note, sizeof(shard_note), ", shard %u/%u", over->shard_index,
                 over->shard_count);
    /* Closed-loop stages leave the total open: no number to print for it then. */
    char total[48] = "as many sessions as the stages open";
    if (sc.sessions < SCENARIO_MAX_SESSIONS || sc.num_stages == 0)
        snprintf(total, sizeof(total), "%llu sessions", (unsigned long long)sc.sessions);
    if (!quiet)
        fprintf(stderr, "msrpload run: %s: %s, %llu at once, %u threads, %s loop, %s%s, seed %llu\n",
                sc.name, total, (unsigned long long)sc.concurrency,
                sc.threads, sc.mode == SCENARIO_OPEN ? "open" : "closed",
                sc.topology == SCENARIO_TARGET  ? "external targets"
                : sc.topology == SCENARIO_RELAY ? "both ends through the relay"
                : sc.topology == SCENARIO_SIP   ? "sessions set up by SIP"
                                                : "embedded endpoints",
                shard_note, (unsigned long long)sc.seed);
    /* --relay-state: the first sample before the load; a command that fails now is a usage
     * error, before any session starts. */
    struct relay_sampler *sampler = NULL;
    if (ro.rstate.cmd != NULL &&
        relay_sampler_start(&sampler, &ro.rstate, &stop_requests, quiet, err, sizeof(err)) != 0) {
        fprintf(stderr, "msrpload run: %s\n", err);
        report_discard_dir(dir);
        tls_free(&rc);
        live_metrics_stop(&lm);
        scenario_free(&sc);
        return EXIT_USAGE;
    }
    /* --start-at: last, so that every shard has spent its own set-up time before it. */
    if (ro.start_at > 0) {
        if (!quiet)
            fprintf(stderr, "msrpload run: waiting for --start-at %.3f\n", ro.start_at);
        if (start_at_wait(ro.start_at, &stop_requests) != 0) {
            report_discard_dir(dir); /* nothing ran: nothing to report */
            relay_sampler_free(sampler);
            tls_free(&rc);
            live_metrics_stop(&lm);
            scenario_free(&sc);
            return 128 + stop_signal;
        }
    }
    struct run_stats stats;
    if (stats_init(&stats) != 0) {
        fprintf(stderr, "msrpload run: out of memory\n");
        report_discard_dir(dir);
        relay_sampler_free(sampler);
        live_metrics_stop(&lm);
        return EXIT_FAILED;
    }
    struct run_outcome outcome;
    int rc_run = runner_run(&rc, &stats, &outcome, err, sizeof(err));
    explicit_bzero(password, sizeof(password));
    explicit_bzero(sip_password, sizeof(sip_password));
    tls_free(&rc);
    if (rc_run != 0) {
        fprintf(stderr, "msrpload run: %s\n", err);
        report_discard_dir(dir); /* nothing ran: nothing to report */
        relay_sampler_free(sampler);
        free(outcome.failures);
        stats_free(&stats);
        live_metrics_stop(&lm);
        scenario_free(&sc);
        return EXIT_FAILED;
    }
    /* From now on a scrape sees the merged counts, the very ones summary.json gets. */
    if (lm.live != NULL && runner_live_finish(lm.live, &stats) != 0)
        fprintf(stderr, "msrpload run: out of memory for the final metrics\n");

    if (sampler != NULL)
        relay_state_conclude(sampler, &ro.rstate, sc.relay.expires, stats.relay_expires_max,
                             stats.sessions_started, outcome.started_unix, &relay_report);
    int code = run_report_write(&sc, over, &stats, &outcome, dir, true);
    relay_sampler_free(sampler);
    relay_state_report_free(&relay_report);
    if (lm.http != NULL)
        live_metrics_linger(ro.metrics_linger, quiet);
    live_metrics_stop(&lm);
    free(outcome.failures);
    stats_free(&stats);
    scenario_free(&sc);
    return code;
}
