/*
 * check_run.c - `msrpload run` end to end, as a user runs it: small embedded runs and their
 * report files, exit codes for met and failed expectations, bad scenarios and unreachable
 * targets, a run cut short by SIGINT that still writes a valid report, and raw steps whose
 * expectations are met or not.
 *
 * The binary under test is $MSRPLOAD_BIN, or ./msrpload from the top of the tree.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "load/runner.h"
#include "suites.h"
#include "testutil.h"


static char *write_scenario(struct tmp *t, const char *name, const char *json)
{
    char *path;
    ck_assert_int_ge(asprintf(&path, "%s/%s", t->dir, name), 0);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(json, f);
    fclose(f);
    return path;
}

/* Runs `prefix timeout LIMIT msrpload args` in a shell (prefix: e.g. "ulimit -n 64;", or "");
 * stdout and stderr go to files in t. Returns the exit code (124 when the limit cut it). */
static int run_limited(struct tmp *t, const char *prefix, int limit_s, const char *args)
{
    char *cmd;
    ck_assert_int_ge(asprintf(&cmd, "%s timeout %d %s %s >%s/out 2>%s/err", prefix, limit_s,
                              msrpload_binary(), args, t->dir, t->dir),
                     0);
    int st = system(cmd);
    free(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Runs msrpload with args; stdout and stderr go to files in t. Returns the exit code. */
static int run_msrpload(struct tmp *t, const char *args)
{
    return run_limited(t, "", 60, args);
}

static char *tmp_read(struct tmp *t, const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", t->dir, name);
    size_t len;
    char *data = read_file(path, &len);
    data = realloc(data, len + 1);
    data[len] = '\0';
    return data;
}

static json_t *load_summary(struct tmp *t, const char *out)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s/summary.json", t->dir, out);
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    ck_assert_msg(j != NULL, "%s: %s", path, e.text);
    return j;
}

static json_int_t jint(json_t *root, const char *a, const char *b)
{
    json_t *o = json_object_get(root, a);
    ck_assert_ptr_nonnull(o);
    json_t *v = json_object_get(o, b);
    ck_assert_msg(json_is_integer(v), "%s.%s is not an integer", a, b);
    return json_integer_value(v);
}

#define SMALL_LOAD "\"load\": {\"threads\": 2, \"sessions\": 6, \"concurrency\": 3, \"duration\": 20}"

START_TEST(small_embedded_run_and_report)
{
    struct tmp t;
    tmp_make(&t);
    char *sc = write_scenario(&t, "small.json",
                              "{\"name\": \"small\", " SMALL_LOAD ", \"steps\": ["
                              "{\"send\": {\"count\": 5, \"size\": 3000, \"chunk_size\": 1000,"
                              " \"failure_report\": \"yes\"}}, {\"expect\": {\"status\": 200}},"
                              "{\"pause\": 0.01},"
                              "{\"repeat\": {\"times\": 2, \"steps\": [{\"send\": {\"size\": 10}}]}}"
                              "]}");
    char args[512];
    snprintf(args, sizeof(args), "run %s --quiet --out %s/report", sc, t.dir);
    int code = run_msrpload(&t, args);
    char *out = tmp_read(&t, "out"), *err = tmp_read(&t, "err");
    ck_assert_msg(code == 0, "exit %d\nstdout: %s\nstderr: %s", code, out, err);
    ck_assert_ptr_nonnull(strstr(out, "expectations: all met"));
    ck_assert_ptr_nonnull(strstr(out, "delivered:  42 messages reached msrpload's answering ends\n"));
    ck_assert_ptr_nonnull(strstr(out, "report:"));

    json_t *j = load_summary(&t, "report");
    ck_assert_int_eq(json_integer_value(json_object_get(j, "version")), 1);
    /* 6 sessions, each 5 + 2 messages, every one answered 200. */
    ck_assert_int_eq(jint(j, "sessions", "started"), 6);
    ck_assert_int_eq(jint(j, "sessions", "completed"), 6);
    ck_assert_int_eq(jint(j, "sessions", "failed"), 0);
    ck_assert_int_eq(jint(j, "messages", "sent"), 42);
    ck_assert_int_eq(jint(j, "messages", "ok"), 42);
    /* the embedded answering ends count what reaches them */
    ck_assert_int_eq(jint(j, "messages", "delivered"), 42);
    ck_assert_int_eq(jint(j, "messages", "undelivered"), 0);
    ck_assert_int_eq(jint(j, "expectations", "failures"), 0);
    json_t *lat = json_object_get(json_object_get(j, "latency_us"), "chunk");
    /* 30 messages of 3 chunks and 12 of one: 102 transactions. */
    ck_assert_int_eq(json_integer_value(json_object_get(lat, "count")), 102);
    ck_assert(json_integer_value(json_object_get(lat, "p99")) >=
              json_integer_value(json_object_get(lat, "p50")));
    ck_assert(json_is_false(json_object_get(json_object_get(j, "run"), "incomplete")));
    json_decref(j);

    /* The other files: time series, histograms, the scenario as run. */
    char *csv = tmp_read(&t, "report/timeseries.csv");
    ck_assert(strncmp(csv, "second,warm_up,msgs_ok,", 23) == 0);
    ck_assert_ptr_nonnull(strstr(csv, "\n0,0,"));
    char *hgrm = tmp_read(&t, "report/latency-chunk.hgrm");
    ck_assert_ptr_nonnull(strstr(hgrm, "Percentile"));
    ck_assert_ptr_nonnull(strstr(hgrm, "#[Max"));
    char *copy = tmp_read(&t, "report/scenario.json");
    size_t len;
    char *orig = read_file(sc, &len);
    ck_assert(strncmp(copy, orig, len) == 0);

    /* A second run into the same directory refuses to overwrite it, before it starts. */
    code = run_msrpload(&t, args);
    char *err2 = tmp_read(&t, "err");
    ck_assert_int_eq(code, 2);
    ck_assert_ptr_nonnull(strstr(err2, "never written over"));
    free(err2);
    free(orig);
    free(copy);
    free(hgrm);
    free(csv);
    free(out);
    free(err);
    free(sc);
    tmp_remove(&t);
}
END_TEST

START_TEST(failed_expectation_exits_1)
{
    struct tmp t;
    tmp_make(&t);
    /* The embedded side answers 403; the scenario expects 200. */
    char *sc = write_scenario(&t, "refused.json",
                              "{\"name\": \"refused\", " SMALL_LOAD ", \"steps\": ["
                              "{\"send\": {\"count\": 2}}, {\"expect\": {\"status\": 200}}],"
                              "\"answer\": {\"status\": 403}}");
    char args[512];
    snprintf(args, sizeof(args), "run %s --quiet --out %s/r", sc, t.dir);
    int code = run_msrpload(&t, args);
    char *out = tmp_read(&t, "out");
    ck_assert_msg(code == 1, "exit %d: %s", code, out);
    ck_assert_ptr_nonnull(strstr(out, "FAILED"));
    json_t *j = load_summary(&t, "r");
    ck_assert_int_eq(jint(j, "expectations", "failures"), 12);
    json_t *by = json_object_get(json_object_get(j, "messages"), "by_status");
    ck_assert_int_eq(json_integer_value(json_object_get(by, "403")), 12);
    json_decref(j);

    /* The same run expecting 403 meets its expectations. */
    char *sc2 = write_scenario(&t, "refused-ok.json",
                               "{\"name\": \"refusedok\", " SMALL_LOAD ", \"steps\": ["
                               "{\"send\": {\"count\": 2}}, {\"expect\": {\"status\": [403]}}],"
                               "\"answer\": {\"status\": 403}}");
    snprintf(args, sizeof(args), "run %s --quiet --out %s/r2", sc2, t.dir);
    code = run_msrpload(&t, args);
    ck_assert_int_eq(code, 0);
    free(out);
    free(sc);
    free(sc2);
    tmp_remove(&t);
}
END_TEST

START_TEST(bad_scenario_exits_2)
{
    struct tmp t;
    tmp_make(&t);
    char *sc = write_scenario(&t, "bad.json",
                              "{\"name\": \"bad\", \"steps\": [{\"send\": {\"failure_report\":"
                              " \"sometimes\"}}]}");
    char args[512];
    snprintf(args, sizeof(args), "run %s --quiet", sc);
    int code = run_msrpload(&t, args);
    char *err = tmp_read(&t, "err");
    ck_assert_int_eq(code, 2);
    ck_assert_msg(strstr(err, "$.steps[0].send.failure_report") != NULL, "stderr: %s", err);
    ck_assert_int_eq(run_msrpload(&t, "run /nonexistent/x.json --quiet"), 2);
    ck_assert_int_eq(run_msrpload(&t, "run --bogus"), 2);
    ck_assert_int_eq(run_msrpload(&t, "run --help"), 0);
    /* The help documents the interruption codes and the PARTIAL file. */
    char *help = tmp_read(&t, "out");
    ck_assert_msg(strstr(help, "130 interrupted by SIGINT, 143 by SIGTERM") != NULL &&
                      strstr(help, "PARTIAL") != NULL,
                  "run --help: %s", help);
    free(help);
    free(err);
    free(sc);
    tmp_remove(&t);
}
END_TEST

START_TEST(unreachable_target_exits_3)
{
    struct tmp t;
    tmp_make(&t);
    char *sc = write_scenario(&t, "far.json",
                              "{\"name\": \"far\", \"load\": {\"threads\": 1, \"sessions\": 2,"
                              " \"duration\": 5}, \"steps\": [{\"send\": {}}]}");
    char args[512];
    /* Port 1 on loopback: nothing listens there. */
    snprintf(args, sizeof(args), "run %s --quiet --target 'msrp://127.0.0.1:1/x;tcp' --out %s/r",
             sc, t.dir);
    int code = run_msrpload(&t, args);
    char *err = tmp_read(&t, "err");
    ck_assert_msg(code == 3, "exit %d: %s", code, err);
    ck_assert_ptr_nonnull(strstr(err, "could reach"));
    free(err);
    free(sc);
    tmp_remove(&t);
}
END_TEST

START_TEST(sigint_still_writes_report)
{
    struct tmp t;
    tmp_make(&t);
    char *sc = write_scenario(&t, "long.json",
                              "{\"name\": \"long\", \"load\": {\"threads\": 1, \"sessions\": 4,"
                              " \"duration\": 30}, \"steps\": [{\"repeat\": {\"times\": 0,"
                              " \"steps\": [{\"send\": {}}]}}]}");
    char outdir[128];
    snprintf(outdir, sizeof(outdir), "%s/r", t.dir);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, 1);
        dup2(fd, 2);
        execl(msrpload_binary(), msrpload_binary(), "run", sc, "--quiet", "--out", outdir, (char *)NULL);
        _exit(127);
    }
    sleep(1);
    kill(pid, SIGINT);
    int status = 0;
    /* Bounded: the drain lasts at most 2 s. */
    for (int i = 0; i < 100 && waitpid(pid, &status, WNOHANG) == 0; i++)
        usleep(100000);
    if (waitpid(pid, &status, WNOHANG) == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        ck_abort_msg("msrpload run did not stop within 10 s of SIGINT");
    }
    /* Interrupted: its own exit code (the shell's 128 + SIGINT), and a whole report. */
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 130, "status 0x%x", status);
    json_t *j = load_summary(&t, "r");
    ck_assert(json_is_true(json_object_get(json_object_get(j, "run"), "incomplete")));
    ck_assert_int_gt(jint(j, "messages", "ok"), 0);
    json_decref(j);
    char partial[256];
    snprintf(partial, sizeof(partial), "%s/PARTIAL", outdir);
    ck_assert_msg(access(partial, F_OK) != 0, "%s is still there", partial);
    free(sc);
    tmp_remove(&t);
}
END_TEST

START_TEST(second_sigint_stops_at_once)
{
    /* Every answer is dropped, so the drain after the first signal would last its full bound;
     * the second signal must end the run at once, and the report must still be written. */
    struct tmp t;
    tmp_make(&t);
    char *sc = write_scenario(&t, "stuck.json",
                              "{\"name\": \"stuck\", \"load\": {\"threads\": 1, \"sessions\": 4,"
                              " \"duration\": 30}, \"steps\": [{\"repeat\": {\"times\": 0,"
                              " \"steps\": [{\"send\": {\"failure_report\": \"yes\"}}]}}],"
                              " \"answer\": {\"drop\": 1}}");
    char outdir[128];
    snprintf(outdir, sizeof(outdir), "%s/r", t.dir);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, 1);
        dup2(fd, 2);
        execl(msrpload_binary(), msrpload_binary(), "run", sc, "--quiet", "--out", outdir, (char *)NULL);
        _exit(127);
    }
    sleep(1);
    kill(pid, SIGINT);
    usleep(200000);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    kill(pid, SIGINT);
    int status = 0;
    for (int i = 0; i < 100 && waitpid(pid, &status, WNOHANG) == 0; i++)
        usleep(20000);
    if (waitpid(pid, &status, WNOHANG) == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        ck_abort_msg("msrpload run did not stop within 2 s of the second SIGINT");
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double waited = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    /* The drain would have taken 2 s from the first signal: the second cut it short. */
    ck_assert_msg(waited < 1.5, "stopped %.2f s after the second signal", waited);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 130, "status 0x%x", status);
    json_t *j = load_summary(&t, "r");
    ck_assert(json_is_true(json_object_get(json_object_get(j, "run"), "incomplete")));
    json_decref(j);
    free(sc);
    tmp_remove(&t);
}
END_TEST

/* A scenario that would run for 30 s: a usage error must come long before the 10 s limit the
 * tests give it (timeout's 124 otherwise), with no summary printed. */
#define LONG_SCENARIO                                                                              \
    "{\"name\": \"long\", \"load\": {\"threads\": 1, \"sessions\": 2, \"duration\": 30},"          \
    " \"steps\": [{\"repeat\": {\"times\": 0, \"steps\": [{\"send\": {}}]}}]}"

static void assert_refused_before_load(struct tmp *t, int code, const char *what,
                                       const char *named)
{
    char *out = tmp_read(t, "out"), *err = tmp_read(t, "err");
    ck_assert_msg(code == 2, "%s: exit %d (124: the load ran)\nstdout: %s\nstderr: %s", what,
                  code, out, err);
    ck_assert_msg(out[0] == '\0', "%s: the run printed a summary: %s", what, out);
    ck_assert_msg(strstr(err, named) != NULL, "%s: stderr does not name %s: %s", what, named,
                  err);
    free(out);
    free(err);
}

/* --out is checked (and made) before the load: a directory that exists, even empty, a parent
 * that is a file, an empty path. */
START_TEST(out_dir_checked_before_load)
{
    struct tmp t;
    tmp_make(&t);
    char *sc = write_scenario(&t, "long.json", LONG_SCENARIO);
    char *args;
    ck_assert_int_eq(mkdir(t.dir, 0700) == 0 || errno == EEXIST, 1);
    char path[256];
    snprintf(path, sizeof(path), "%s/exists", t.dir);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/file", t.dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    static const struct {
        const char *out, *named;
    } cases[] = {
        {"%s/exists", "exists: File exists"},
        {"%s/file/r", "file/r: Not a directory"},
        {"''", "--out: an empty path"},
        {"%s/missing/r", "missing/r: No such file or directory"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[256];
        snprintf(out, sizeof(out), cases[i].out, t.dir);
        ck_assert_int_ge(asprintf(&args, "run %s --quiet --out %s", sc, out), 0);
        assert_refused_before_load(&t, run_limited(&t, "", 10, args), out, cases[i].named);
        free(args);
    }
    /* The existing directory was left as it was: empty. */
    snprintf(path, sizeof(path), "%s/exists", t.dir);
    ck_assert_int_eq(rmdir(path), 0);

    /* Without --out, the default under results/: here results is a file. */
    char *bin = realpath(msrpload_binary(), NULL);
    ck_assert_ptr_nonnull(bin);
    char prefix[512];
    snprintf(prefix, sizeof(prefix), "cd %s && touch results &&", t.dir);
    ck_assert_int_ge(asprintf(&args, "run %s --quiet", sc), 0);
    char *cmd;
    ck_assert_int_ge(asprintf(&cmd, "%s timeout 10 %s %s >%s/out 2>%s/err", prefix, bin, args,
                              t.dir, t.dir),
                     0);
    int st = system(cmd);
    assert_refused_before_load(&t, WIFEXITED(st) ? WEXITSTATUS(st) : -1, "results a file",
                               "cannot create results/long-");
    free(cmd);
    free(args);
    free(bin);

    /* A directory the user may not write into. Root writes anywhere but on a read-only
     * file system: a tmpfs mounted read-only in a mount namespace of its own. */
    if (geteuid() == 0 && system("unshare -m true >/dev/null 2>&1") != 0) {
        printf("out_dir_checked_before_load: unwritable parent: skipped: running as root "
               "without mount namespaces\n");
    } else if (geteuid() == 0) {
        snprintf(path, sizeof(path), "%s/ro", t.dir);
        ck_assert_int_eq(mkdir(path, 0755), 0);
        char prefix_ro[512];
        snprintf(prefix_ro, sizeof(prefix_ro),
                 "unshare -m sh -c 'mount -t tmpfs -o ro msrpload-ro %s && exec \"$0\" \"$@\"'",
                 path);
        ck_assert_int_ge(asprintf(&args, "run %s --quiet --out %s/ro/r", sc, t.dir), 0);
        assert_refused_before_load(&t, run_limited(&t, prefix_ro, 10, args), "read-only",
                                   "ro/r: Read-only file system");
        free(args);
    } else {
        snprintf(path, sizeof(path), "%s/ro", t.dir);
        ck_assert_int_eq(mkdir(path, 0555), 0);
        ck_assert_int_ge(asprintf(&args, "run %s --quiet --out %s/ro/r", sc, t.dir), 0);
        assert_refused_before_load(&t, run_limited(&t, "", 10, args), "unwritable",
                                   "ro/r: Permission denied");
        free(args);
    }
    free(sc);
    tmp_remove(&t);
}
END_TEST

/* Bad values on the command line and in the file: each a message naming the option or the
 * file's JSON path, exit 2, before anything starts. */
static const struct {
    const char *scenario; /* NULL: LONG_SCENARIO */
    const char *options;
    const char *named;
} bad_values[] = {
    {NULL, "--threads 300", "--threads takes an integer from 1 to 256, got '300'"},
    {NULL, "--sessions 8589934592", "--sessions 8589934592: without --concurrency"},
    {NULL, "--concurrency 8589934592", "--concurrency takes an integer from 1 to 1000000"},
    {NULL, "--sessions 10000000000000", "--sessions takes an integer from 1 to 1000000000000"},
    {NULL, "--duration nan", "--duration takes a number of seconds > 0"},
    {NULL, "--rate nan", "--rate takes a number of messages per second > 0"},
    {NULL, "--rate inf", "--rate takes a number of messages per second > 0"},
    {NULL, "--session-rate nan", "--session-rate takes a number of sessions per second >= 0"},
    {NULL, "--target 'msrp://127.0.0.1:9/x;udp'", "the transport must be tcp (;tcp) or ws (;ws), got ;udp"},
    {NULL, "--relay 'msrp://127.0.0.1:9;udp' --relay-user u",
     "--relay msrp://127.0.0.1:9;udp: the transport must be tcp"},
    {NULL,
     "--relay 'msrp://127.0.0.1:9;tcp' --relay-users 10 --relay-user "
     "u123456789012345678901234567890123456789012345678901234567890123456789012345678901234567"
     "89%040d",
     "--relay-user u1234"},
    {"{\"name\": \"big\", \"load\": {\"sessions\": 8589934592}, \"steps\": [{\"send\": {}}]}",
     "", "$.load.sessions: expected at most 1000000 sessions"},
    {"{\"name\": \"big\", \"load\": {\"sessions\": 8589934592, \"concurrency\": 8589934592},"
     " \"steps\":"
     " [{\"send\": {}}]}",
     "", "$.load.concurrency: expected an integer 1..1000000"},
    {"{\"name\": \"u\", \"topology\": {\"kind\": \"relay\", \"relay\": {\"uri\":"
     " \"msrp://127.0.0.1:9;tcp\", \"users\": 10, \"user\": \"u12345678901234567890123456789012"
     "34567890123456789012345678901234567890123456789012345678%040d\"}}, \"steps\":"
     " [{\"send\": {}}]}",
     "", "$.topology.relay.user: user names of at most 127 characters"},
    /* 100 sessions at once in the embedded topology need about 2 x 100 descriptors. */
    {NULL, "--sessions 100 --concurrency 100", "RLIMIT_NOFILE allows 64 (hard limit 64)"},
    /* 10,000 at once need 2 x 10,000 connections of 20 KiB or more: 390 MiB. */
    {NULL, "--sessions 10000 --concurrency 10000", "above RLIMIT_AS (256 MiB)"},
};

START_TEST(bad_values_refused_before_load)
{
    struct tmp t;
    tmp_make(&t);
    const char *json = bad_values[_i].scenario != NULL ? bad_values[_i].scenario : LONG_SCENARIO;
    char *sc = write_scenario(&t, "s.json", json);
    char *args;
    ck_assert_int_ge(
        asprintf(&args, "run %s --quiet --out %s/r %s", sc, t.dir, bad_values[_i].options), 0);
    const char *prefix = "MSRPLOAD_RELAY_PASSWORD=pw";
    if (strstr(bad_values[_i].named, "RLIMIT_NOFILE") != NULL)
        prefix = "ulimit -n 64 &&";
    if (strstr(bad_values[_i].named, "RLIMIT_AS") != NULL) {
        /* A sanitized binary maps terabytes of shadow memory: it cannot start under any
         * address-space limit. */
        if (strstr(msrpload_binary(), "asan") != NULL) {
            printf("bad_values_refused_before_load: %s: skipped: a sanitized binary cannot run "
                   "under RLIMIT_AS\n", bad_values[_i].options);
            free(args);
            free(sc);
            tmp_remove(&t);
            return;
        }
        prefix = "ulimit -v 262144 &&";
    }
    int code = run_limited(&t, prefix, 10, args);
    assert_refused_before_load(&t, code, bad_values[_i].options, bad_values[_i].named);
    char path[256];
    snprintf(path, sizeof(path), "%s/r", t.dir);
    ck_assert_msg(access(path, F_OK) != 0, "a refused run left %s behind", path);
    free(args);
    free(sc);
    tmp_remove(&t);
}
END_TEST

/* A soft descriptor limit below the need, under a hard limit above it, is raised: the run
 * goes ahead and every session completes. */
START_TEST(soft_descriptor_limit_is_raised)
{
    struct tmp t;
    tmp_make(&t);
    char *sc = write_scenario(&t, "many.json",
                              "{\"name\": \"many\", \"load\": {\"threads\": 1, \"sessions\": 100,"
                              " \"duration\": 20}, \"steps\": [{\"send\": {}},"
                              " {\"expect\": {\"status\": 200}}, {\"pause\": 0.3}]}");
    char args[512];
    snprintf(args, sizeof(args), "run %s --quiet --out %s/r", sc, t.dir);
    int code = run_limited(&t, "ulimit -Sn 64 && ulimit -Hn 4096 &&", 60, args);
    char *out = tmp_read(&t, "out"), *err = tmp_read(&t, "err");
    ck_assert_msg(code == 0, "exit %d\nstdout: %s\nstderr: %s", code, out, err);
    json_t *j = load_summary(&t, "r");
    ck_assert_int_eq(jint(j, "sessions", "completed"), 100);
    ck_assert_int_eq(jint(j, "messages", "ok"), 100);
    json_decref(j);
    free(out);
    free(err);
    free(sc);
    tmp_remove(&t);
}
END_TEST

/*
 * Sessions spread over the targets across worker threads: 2 threads, 4 sessions at once, 4
 * targets (one `msrpload serve` with 4 session ids, each bound by one connection at a time).
 * Numbered per thread, both threads would start at the first target and two sessions would be
 * refused with 481.
 */
START_TEST(targets_spread_over_threads)
{
    struct tmp t;
    tmp_make(&t);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "%s/uris", t.dir);
    FILE *f = fopen(cmd, "w"); /* there before the first look at it */
    ck_assert_ptr_nonnull(f);
    fclose(f);
    pid_t serve = fork();
    ck_assert_int_ge(serve, 0);
    if (serve == 0) {
        int fd = open(cmd, O_WRONLY);
        int null = open("/dev/null", O_WRONLY);
        dup2(fd, 1);
        dup2(null, 2);
        execl(msrpload_binary(), msrpload_binary(), "serve", "--listen", "127.0.0.1:0",
              "--session-id", "t0", "--session-id", "t1", "--session-id", "t2", "--session-id",
              "t3", (char *)NULL);
        _exit(127);
    }
    /* Its URIs, one a line, once it listens (bounded: 10 s). */
    char *uris = NULL;
    int lines = 0;
    for (int i = 0; i < 500 && lines < 4; i++) {
        usleep(20000);
        free(uris);
        uris = tmp_read(&t, "uris");
        lines = 0;
        for (char *p = uris; *p != '\0'; p++)
            lines += *p == '\n';
    }
    if (lines < 4) {
        kill(serve, SIGKILL);
        waitpid(serve, NULL, 0);
        ck_abort_msg("serve printed %d URIs in 10 s: %s", lines, uris);
    }
    char targets[1024] = "";
    char *save = NULL;
    for (char *u = strtok_r(uris, "\n", &save); u != NULL; u = strtok_r(NULL, "\n", &save)) {
        strncat(targets, " --target '", sizeof(targets) - strlen(targets) - 1);
        strncat(targets, u, sizeof(targets) - strlen(targets) - 1);
        strncat(targets, "'", sizeof(targets) - strlen(targets) - 1);
    }
    char *sc = write_scenario(&t, "spread.json",
                              "{\"name\": \"spread\", \"load\": {\"threads\": 2, \"sessions\": 4,"
                              " \"concurrency\": 4, \"duration\": 20}, \"steps\": [{\"send\": {}},"
                              " {\"expect\": {\"status\": 200}}, {\"pause\": 0.5}]}");
    char *args;
    ck_assert_int_ge(asprintf(&args, "run %s --quiet --out %s/r%s", sc, t.dir, targets), 0);
    int code = run_msrpload(&t, args);
    kill(serve, SIGKILL);
    waitpid(serve, NULL, 0);
    char *out = tmp_read(&t, "out"), *err = tmp_read(&t, "err");
    ck_assert_msg(code == 0, "exit %d\nstdout: %s\nstderr: %s", code, out, err);
    json_t *j = load_summary(&t, "r");
    ck_assert_int_eq(jint(j, "sessions", "bound"), 4);
    ck_assert_int_eq(jint(j, "sessions", "completed"), 4);
    ck_assert_int_eq(jint(j, "sessions", "failed"), 0);
    ck_assert_int_eq(jint(j, "messages", "ok"), 4);
    json_decref(j);
    free(args);
    free(out);
    free(err);
    free(sc);
    free(uris);
    tmp_remove(&t);
}
END_TEST

START_TEST(success_reports_and_tls)
{
    struct tmp t;
    tmp_make(&t);
    char *sc = write_scenario(&t, "rep.json",
                              "{\"name\": \"rep\", " SMALL_LOAD ", \"topology\": {\"transport\":"
                              " \"tls\"}, \"steps\": [{\"send\": {\"size\": 5000, \"chunk_size\":"
                              " 2048, \"success_report\": \"yes\"}}, {\"expect\": {\"status\": 200,"
                              " \"report\": 200, \"timeout\": 5}}]}");
    char args[512];
    snprintf(args, sizeof(args), "run %s --quiet --out %s/r", sc, t.dir);
    int code = run_msrpload(&t, args);
    char *out = tmp_read(&t, "out"), *err = tmp_read(&t, "err");
    ck_assert_msg(code == 0, "exit %d\n%s\n%s", code, out, err);
    json_t *j = load_summary(&t, "r");
    ck_assert_int_eq(jint(j, "expectations", "reports_ok"), 6);
    ck_assert_int_eq(jint(j, "expectations", "reports_missing"), 0);
    /* Every session connected and shook hands once (no warm-up: all counted). */
    json_t *lat = json_object_get(j, "latency_us");
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(lat, "connect"), "count")),
                     6);
    ck_assert_int_eq(
        json_integer_value(json_object_get(json_object_get(lat, "tls-handshake"), "count")), 6);
    /* Headers, REPORTs and TLS records come on top of the 6 x 5000 payload bytes. */
    ck_assert_int_gt(jint(j, "throughput", "wire_bytes_out"), 6 * 5000);
    ck_assert_int_gt(jint(j, "throughput", "wire_bytes_in"), 0);
    json_decref(j);
    free(out);
    free(err);
    free(sc);
    tmp_remove(&t);
}
END_TEST

static const char *shipped[] = {"quickstart", "chunking", "byte-range", "failure-report-timeouts",
                                "raw-malformed", "chat-mix"};

START_TEST(shipped_scenarios_meet_expectations)
{
    struct tmp t;
    tmp_make(&t);
    char args[512];
    snprintf(args, sizeof(args),
             "run scenarios/%s.json --sessions 4 --threads 1 --duration 5 --quiet --out %s/r",
             shipped[_i], t.dir);
    int code = run_msrpload(&t, args);
    char *out = tmp_read(&t, "out"), *err = tmp_read(&t, "err");
    ck_assert_msg(code == 0, "%s: exit %d\n%s\n%s", shipped[_i], code, out, err);
    ck_assert_ptr_nonnull(strstr(out, "expectations: all met"));
    json_t *j = load_summary(&t, "r");
    ck_assert_int_gt(jint(j, "messages", "sent"), 0);
    ck_assert_int_eq(jint(j, "sessions", "failed"), 0);
    json_decref(j);
    free(out);
    free(err);
    tmp_remove(&t);
}
END_TEST

START_TEST(open_loop_latency_with_known_delay)
{
    /* The answering side holds every response 50 ms: both latencies must show it, and the
     * corrected one (from the intended send time) can only be longer. */
    struct tmp t;
    tmp_make(&t);
    char *sc = write_scenario(&t, "open.json",
                              "{\"name\": \"open\", \"load\": {\"threads\": 1, \"sessions\": 4,"
                              " \"duration\": 2, \"mode\": \"open\", \"rate\": 100},"
                              " \"steps\": [{\"repeat\": {\"times\": 0, \"steps\": ["
                              "{\"send\": {\"failure_report\": \"yes\"}}]}}],"
                              " \"answer\": {\"delay\": 0.05}}");
    char args[512];
    snprintf(args, sizeof(args), "run %s --quiet --out %s/r", sc, t.dir);
    int code = run_msrpload(&t, args);
    char *out = tmp_read(&t, "out");
    ck_assert_msg(code == 0, "exit %d: %s", code, out);
    json_t *j = load_summary(&t, "r");
    json_t *lat = json_object_get(j, "latency_us");
    json_t *plain = json_object_get(lat, "message");
    json_t *corrected = json_object_get(lat, "message-corrected");
    json_int_t n = json_integer_value(json_object_get(plain, "count"));
    /* 100 messages a second for 2 s, give or take the edges of the window. */
    ck_assert_int_gt(n, 150);
    ck_assert_int_le(n, 210);
    ck_assert_int_eq(json_integer_value(json_object_get(corrected, "count")), n);
    json_int_t p50 = json_integer_value(json_object_get(plain, "p50"));
    json_int_t c50 = json_integer_value(json_object_get(corrected, "p50"));
    json_int_t min = json_integer_value(json_object_get(plain, "min"));
    ck_assert_msg(min >= 50000, "a response came back in %lld us, before the 50 ms delay",
                  (long long)min);
    ck_assert_int_ge(p50, 50000);
    ck_assert_int_ge(c50, p50 - 1000); /* same bucket or later: never earlier than written */
    json_decref(j);
    free(out);
    free(sc);
    tmp_remove(&t);
}
END_TEST

/* A raw SEND of "hello" with the given Byte-Range and extra header lines, as JSON text. */
#define RAW_SEND(range, extra)                                                                     \
    "MSRP {tid} SEND\\r\\nTo-Path: {to_path}\\r\\nFrom-Path: {from_path}\\r\\n"                    \
    "Message-ID: {message_id}\\r\\nByte-Range: " range "\\r\\n" extra                              \
    "Content-Type: text/plain\\r\\n\\r\\nhello\\r\\n-------{tid}$\\r\\n"
#define RAW_FROB                                                                                   \
    "MSRP {tid} FROB\\r\\nTo-Path: {to_path}\\r\\nFrom-Path: {from_path}\\r\\n-------{tid}$\\r\\n"
#define RAW_STEP(template, rest) "{\"raw\": {\"template\": \"" template "\"" rest "}}"

START_TEST(raw_steps_meet_expectations)
{
    struct tmp t;
    tmp_make(&t);
    /* 4 messages in flight before the peer is made to close: the close step waits for them,
     * so none is lost with the connection. */
    /* A scenario reads best one step a line. */
    /* clang-format off */
    char *sc = write_scenario(
        &t, "raw.json",
        "{\"name\": \"raw\", \"load\": {\"threads\": 2, \"sessions\": 6, \"concurrency\": 3,"
        " \"duration\": 20, \"outstanding\": 4}, \"steps\": ["
        RAW_STEP(RAW_SEND("1-5/5", ""), "") ","
        RAW_STEP(RAW_SEND("1-x/5", ""), ", \"status\": 400") ","
        RAW_STEP(RAW_FROB, ", \"status\": [400, 501], \"timeout\": 2") ","
        RAW_STEP(RAW_SEND("1-5/5", "Failure-Report: no\\r\\n"), ", \"expect\": \"none\","
                 " \"timeout\": 0.3") ","
        "{\"send\": {\"count\": 8, \"size\": 20000, \"chunk_size\": 1000,"
        " \"failure_report\": \"yes\"}}, {\"expect\": {\"status\": 200}},"
        RAW_STEP("HELLO\\r\\n", ", \"expect\": \"close\", \"timeout\": 2") ","
        "{\"send\": {}}]}");
    /* clang-format on */
    char args[512];
    snprintf(args, sizeof(args), "run %s --quiet --out %s/r", sc, t.dir);
    int code = run_msrpload(&t, args);
    char *out = tmp_read(&t, "out"), *err = tmp_read(&t, "err");
    ck_assert_msg(code == 0, "exit %d\nstdout: %s\nstderr: %s", code, out, err);
    ck_assert_ptr_nonnull(strstr(out, "expectations: all met"));
    json_t *j = load_summary(&t, "r");
    /* Every session ended as its last raw step meant: the peer closed, and that completes it;
     * the send after that step never ran. */
    ck_assert_int_eq(jint(j, "sessions", "completed"), 6);
    ck_assert_int_eq(jint(j, "sessions", "failed"), 0);
    /* The close each session's last raw step asked for is an orderly end, not an error kind
     * (the summary lists error kinds from these counts). */
    json_t *ends = json_object_get(json_object_get(j, "sessions"), "ends");
    ck_assert_int_eq(json_integer_value(json_object_get(ends, "closed")), 6);
    ck_assert_ptr_null(json_object_get(ends, "peer-closed"));
    ck_assert_ptr_null(strstr(out, "peer-closed"));
    ck_assert_int_eq(jint(j, "messages", "sent"), 48);
    ck_assert_int_eq(jint(j, "messages", "ok"), 48);
    ck_assert_int_eq(jint(j, "messages", "lost"), 0);
    ck_assert_int_eq(jint(j, "expectations", "failures"), 0);
    json_decref(j);
    free(out);
    free(err);
    free(sc);
    tmp_remove(&t);
}
END_TEST

/* Each way a raw expectation can be missed counts once per session, and names itself. */
struct raw_miss {
    const char *steps;
    int failures_per_session;
    bool session_fails; /* the connection went where the step did not expect it */
    const char *first_error;
};

/* One case a line or two, as written. */
/* clang-format off */
static const struct raw_miss raw_misses[] = {
    {RAW_STEP(RAW_SEND("1-x/5", ""), ""), 1, false,
     "a raw step got 400 where the scenario expects 200"},
    {RAW_STEP(RAW_FROB, ", \"status\": [400, 415]"), 1, false,
     "a raw step got 501 where the scenario expects one of 400, 415"},
    {RAW_STEP(RAW_SEND("1-5/5", "Failure-Report: no\\r\\n"), ", \"timeout\": 0.2"), 1, false,
     "a raw step got no response within 0.2 s where the scenario expects 200"},
    {RAW_STEP(RAW_SEND("1-5/5", ""), ", \"expect\": \"none\", \"timeout\": 0.3"), 1, false,
     "a raw step got 200 where the scenario expects no response"},
    {RAW_STEP(RAW_SEND("1-5/5", ""), ", \"expect\": \"close\", \"timeout\": 0.3"), 1, false,
     "a raw step got 200 where the scenario expects the peer to close the connection"},
    {RAW_STEP(RAW_SEND("1-5/5", "Failure-Report: no\\r\\n"), ", \"expect\": \"close\","
              " \"timeout\": 0.2"),
     1, false,
     "a raw step saw the connection stay open for 0.2 s where the scenario expects the peer to "
     "close it"},
    {RAW_STEP("HELLO\\r\\n", ", \"status\": 400"), 1, true,
     "a raw step saw the session end (peer-closed) where the scenario expects 400"},
    {RAW_STEP("HELLO\\r\\n", ", \"expect\": \"none\""), 1, true,
     "a raw step saw the session end (peer-closed) where the scenario expects no response"},
    /* two misses in one session, and the steps go on after each */
    {RAW_STEP(RAW_SEND("1-x/5", ""), ", \"status\": 200") "," RAW_STEP(RAW_FROB, "") ","
     "{\"send\": {}}, {\"expect\": {\"status\": 200}}",
     2, false, "a raw step got 400 where the scenario expects 200"},
};
/* clang-format on */

START_TEST(raw_wrong_expectation_exits_1)
{
    const struct raw_miss *rm = &raw_misses[_i];
    struct tmp t;
    tmp_make(&t);
    char *json;
    ck_assert_int_ge(
        asprintf(&json, "{\"name\": \"rawmiss\", " SMALL_LOAD ", \"steps\": [%s]}", rm->steps), 0);
    char *sc = write_scenario(&t, "miss.json", json);
    char args[512];
    snprintf(args, sizeof(args), "run %s --quiet --out %s/r", sc, t.dir);
    int code = run_msrpload(&t, args);
    char *out = tmp_read(&t, "out"), *err = tmp_read(&t, "err");
    ck_assert_msg(code == 1, "case %d: exit %d\nstdout: %s\nstderr: %s", _i, code, out, err);
    ck_assert_ptr_nonnull(strstr(out, "FAILED"));
    json_t *j = load_summary(&t, "r");
    ck_assert_int_eq(jint(j, "expectations", "failures"), 6 * rm->failures_per_session);
    ck_assert_int_eq(jint(j, "sessions", "failed"), rm->session_fails ? 6 : 0);
    ck_assert_int_eq(jint(j, "sessions", "completed"), rm->session_fails ? 0 : 6);
    const char *first = json_string_value(json_object_get(j, "first_error"));
    ck_assert_msg(first != NULL && strcmp(first, rm->first_error) == 0, "case %d: first_error %s",
                  _i, first != NULL ? first : "(none)");
    json_decref(j);
    free(out);
    free(err);
    free(sc);
    free(json);
    tmp_remove(&t);
}
END_TEST

/* The window "auto" picks from the median latency: a tenth, capped. */
/* Messages with Failure-Report no, issued after a pause (from a timer, the session idle), are
 * each over inside msrp_session_send: a step of 300,000 of them runs flat, not one call deeper
 * per message (it overflowed a 4 MB stack), within a 1 MB stack. */
START_TEST(messages_over_while_sent_run_flat)
{
    struct tmp t;
    tmp_make(&t);
    char *path = write_scenario(&t, "deep.json",
                                "{\"name\": \"deep\", \"load\": {\"sessions\": 1, \"threads\": 1,"
                                " \"duration\": 30, \"outstanding\": 4},"
                                " \"steps\": [{\"pause\": 0.05}, {\"send\": {\"count\": 300000,"
                                " \"size\": 10, \"failure_report\": \"no\"}}]}");
    char args[512];
    snprintf(args, sizeof(args), "run %s --out %s/r", path, t.dir);
    int rc = run_limited(&t, "ulimit -s 1024;", 60, args);
    char *err = tmp_read(&t, "err");
    ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
    json_t *j = load_summary(&t, "r");
    ck_assert_int_eq(jint(j, "messages", "sent"), 300000);
    ck_assert_int_eq(jint(j, "messages", "ok"), 300000);
    ck_assert_int_eq(jint(j, "sessions", "completed"), 1);
    json_decref(j);
    free(err);
    free(path);
    tmp_remove(&t);
}
END_TEST

START_TEST(auto_batch_window_rule)
{
    ck_assert_uint_eq(runner_auto_batch_window_ns(0), 0);
    ck_assert_uint_eq(runner_auto_batch_window_ns(100), 10000);
    ck_assert_uint_eq(runner_auto_batch_window_ns(5000), 500000);
    ck_assert_uint_eq(runner_auto_batch_window_ns(10000), RUNNER_AUTO_BATCH_MAX_NS);
    ck_assert_uint_eq(runner_auto_batch_window_ns(3600000000ull), RUNNER_AUTO_BATCH_MAX_NS);
}
END_TEST

/*
 * Responses held 50 ms: "auto" sizes the window from that latency (a tenth is 5 ms, so the
 * cap), the report says so, and no latency comes out below the delay. A fixed window and 0
 * are used as given.
 */
static const struct {
    const char *option; /* "" for the default */
    double config;      /* config.batch_window: -1 for "auto", else seconds */
    double max_us;      /* run.batch_window_max_us */
} windows[] = {
    {"", -1, RUNNER_AUTO_BATCH_MAX_NS / 1e3},
    {"--batch-window 0.0002", 0.0002, 200},
    {"--batch-window 0", 0, 0},
};

START_TEST(batch_window_in_report)
{
    struct tmp t;
    tmp_make(&t);
    char *sc = write_scenario(&t, "held.json",
                              "{\"name\": \"held\", \"load\": {\"threads\": 1, \"sessions\": 4,"
                              " \"duration\": 1.5, \"mode\": \"open\", \"rate\": 200},"
                              " \"steps\": [{\"repeat\": {\"times\": 0, \"steps\": ["
                              "{\"send\": {\"failure_report\": \"yes\"}}]}}],"
                              " \"answer\": {\"delay\": 0.05}}");
    char args[512];
    snprintf(args, sizeof(args), "run %s --quiet --out %s/r %s", sc, t.dir, windows[_i].option);
    int code = run_msrpload(&t, args);
    char *out = tmp_read(&t, "out");
    ck_assert_msg(code == 0, "exit %d: %s", code, out);
    json_t *j = load_summary(&t, "r");
    json_t *config = json_object_get(json_object_get(j, "config"), "batch_window");
    if (windows[_i].config < 0)
        ck_assert_str_eq(json_string_value(config), "auto");
    else
        ck_assert(json_is_number(config) && json_number_value(config) == windows[_i].config);
    json_t *w = json_object_get(json_object_get(j, "run"), "batch_window_max_us");
    ck_assert_msg(json_is_number(w) && json_number_value(w) == windows[_i].max_us,
                  "%s: batch_window_max_us %g", windows[_i].option, json_number_value(w));
    /* The terminal summary names the window only when there was one. */
    ck_assert((strstr(out, "batching:") != NULL) == (windows[_i].max_us > 0));
    json_t *lat = json_object_get(json_object_get(j, "latency_us"), "message");
    ck_assert_int_gt(json_integer_value(json_object_get(lat, "count")), 100);
    ck_assert_int_ge(json_integer_value(json_object_get(lat, "min")), 50000);
    json_decref(j);
    free(out);
    free(sc);
    tmp_remove(&t);
}
END_TEST

START_TEST(batch_window_usage_errors)
{
    static const char *const bad[] = {"fast", "-0.001", "0.2", "", "1e-3x"};
    struct tmp t;
    tmp_make(&t);
    char *sc = write_scenario(&t, "s.json", "{\"name\": \"s\", \"steps\": [{\"send\": {}}]}");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char args[512];
        snprintf(args, sizeof(args), "run %s --quiet --out %s/r --batch-window '%s'", sc, t.dir,
                 bad[i]);
        ck_assert_int_eq(run_msrpload(&t, args), 2);
        char *err = tmp_read(&t, "err");
        ck_assert_msg(strstr(err, "--batch-window takes auto or seconds from 0 to 0.1") != NULL,
                      "%s: %s", bad[i], err);
        free(err);
    }
    free(sc);
    tmp_remove(&t);
}
END_TEST

Suite *make_run_suite(void)
{
    Suite *s = suite_create("run");
    TCase *tc = tcase_create("Run");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, small_embedded_run_and_report);
    tcase_add_test(tc, failed_expectation_exits_1);
    tcase_add_test(tc, bad_scenario_exits_2);
    tcase_add_test(tc, unreachable_target_exits_3);
    tcase_add_test(tc, sigint_still_writes_report);
    tcase_add_test(tc, second_sigint_stops_at_once);
    tcase_add_test(tc, out_dir_checked_before_load);
    tcase_add_loop_test(tc, bad_values_refused_before_load, 0,
                        (int)(sizeof(bad_values) / sizeof(bad_values[0])));
    tcase_add_test(tc, soft_descriptor_limit_is_raised);
    tcase_add_test(tc, targets_spread_over_threads);
    tcase_add_test(tc, success_reports_and_tls);
    tcase_add_test(tc, messages_over_while_sent_run_flat);
    tcase_add_loop_test(tc, shipped_scenarios_meet_expectations, 0,
                        (int)(sizeof(shipped) / sizeof(shipped[0])));
    tcase_add_test(tc, open_loop_latency_with_known_delay);
    tcase_add_test(tc, auto_batch_window_rule);
    tcase_add_loop_test(tc, batch_window_in_report, 0,
                        (int)(sizeof(windows) / sizeof(windows[0])));
    tcase_add_test(tc, batch_window_usage_errors);
    tcase_add_test(tc, raw_steps_meet_expectations);
    tcase_add_loop_test(tc, raw_wrong_expectation_exits_1, 0,
                        (int)(sizeof(raw_misses) / sizeof(raw_misses[0])));
    suite_add_tcase(s, tc);
    return s;
}
