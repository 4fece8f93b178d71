/*
 * check_relay_state.c - `run --relay-state CMD` (cli/relay_state.c, report/relaystate.c): the
 * `name value` parser and its warnings, the bounded series, the verdict (sessions left,
 * memory growth against the threshold), relay-state.csv; then msrpload runs with fake state
 * commands (shell scripts counting their calls: changing numbers, a leak, a failing one, a
 * hanging one, malformed lines, an interrupted run) and one through the scripted Kamailio
 * with tools/relay/state.sh (a visible skip without Kamailio; REQUIRE_RELAY=1 fails instead).
 * Every run is bounded by `timeout`; nothing asserts a duration.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "report/relaystate.h"
#include "suites.h"
#include "testutil.h"

/* ---- the parser and the verdict ----------------------------------------------------------- */

struct warns {
    int n;
    char last[256];
};

static void collect(void *arg, const char *w)
{
    struct warns *ws = arg;
    ws->n++;
    snprintf(ws->last, sizeof(ws->last), "%s", w);
}

static double value(const struct relay_state *rs, size_t sample, const char *name)
{
    int k = relay_state_name_index(rs, name);
    ck_assert_msg(k >= 0, "no name %s", name);
    ck_assert_msg(rs->samples[sample].has >> k & 1u, "sample %zu has no %s", sample, name);
    return rs->samples[sample].values[k];
}

START_TEST(parse_lines_and_warnings)
{
    struct relay_state rs;
    ck_assert_int_eq(relay_state_init(&rs), 0);
    struct warns w = {0};
    const char *out = "# a comment\n"
                      "sessions 12\n"
                      "\n"
                      "  shm_used_bytes\t1.5e6  \r\n"
                      "rss_bytes 7\n"
                      "garbage line here\n"
                      "sessions 13\n"
                      "pss_bytes nan\n"
                      "x.y-z 4";
    size_t n = relay_state_add(&rs, 100, RELAY_STATE_BEFORE, out, strlen(out), collect, &w);
    ck_assert_uint_eq(n, 4);
    ck_assert_double_eq(value(&rs, 0, "sessions"), 12); /* the first value is kept */
    ck_assert_double_eq(value(&rs, 0, "shm_used_bytes"), 1.5e6);
    ck_assert_double_eq(value(&rs, 0, "rss_bytes"), 7);
    ck_assert_double_eq(value(&rs, 0, "x.y-z"), 4);
    ck_assert_int_eq(w.n, 3);
    ck_assert_uint_eq(rs.warnings, 3);
    ck_assert_msg(strstr(rs.first_warning, "line 'garbage line here'") != NULL, "%s",
                  rs.first_warning);
    ck_assert_msg(strstr(w.last, "pss_bytes nan") != NULL && strstr(w.last, "finite") != NULL,
                  "%s", w.last);
    /* a non-printable byte is quoted as '?', a long line is cut */
    char longline[300];
    memset(longline, 'a', sizeof(longline));
    longline[0] = '\x01';
    n = relay_state_add(&rs, 101, RELAY_STATE_DURING, longline, sizeof(longline), collect, &w);
    ck_assert_uint_eq(n, 0);
    ck_assert_msg(strstr(w.last, "line '?aaa") != NULL && strstr(w.last, "...'") != NULL, "%s",
                  w.last);
    ck_assert_uint_eq(rs.len, 2); /* an empty sample is kept: the series shows it */
    relay_state_free(&rs);
}
END_TEST

START_TEST(names_are_bounded)
{
    struct relay_state rs;
    ck_assert_int_eq(relay_state_init(&rs), 0);
    char out[4096] = "";
    for (int i = 0; i < RELAY_STATE_MAX_NAMES + 3; i++) {
        char line[64];
        snprintf(line, sizeof(line), "n%d %d\n", i, i);
        strcat(out, line);
    }
    strcat(out, "averyveryveryveryveryveryveryveryveryverylongname_over_48 1\n");
    struct warns w = {0};
    size_t n = relay_state_add(&rs, 1, RELAY_STATE_BEFORE, out, strlen(out), collect, &w);
    ck_assert_uint_eq(n, RELAY_STATE_MAX_NAMES);
    ck_assert_uint_eq(rs.num_names, RELAY_STATE_MAX_NAMES);
    ck_assert_int_eq(w.n, 4);
    ck_assert_msg(strstr(w.last, "too long") != NULL, "%s", w.last);
    relay_state_free(&rs);
}
END_TEST

START_TEST(series_is_thinned_not_grown)
{
    struct relay_state rs;
    ck_assert_int_eq(relay_state_init(&rs), 0);
    relay_state_add(&rs, 0, RELAY_STATE_BEFORE, "v 0", 3, NULL, NULL);
    for (int i = 1; i <= 3 * RELAY_STATE_MAX_SAMPLES; i++) {
        char line[32];
        int len = snprintf(line, sizeof(line), "v %d", i);
        relay_state_add(&rs, i, RELAY_STATE_DURING, line, (size_t)len, NULL, NULL);
        ck_assert_uint_le(rs.len, RELAY_STATE_MAX_SAMPLES);
    }
    relay_state_add(&rs, 1e6, RELAY_STATE_AFTER, "v -1", 4, NULL, NULL);
    ck_assert_uint_ge(rs.thinned, 1);
    ck_assert_uint_le(rs.len, RELAY_STATE_MAX_SAMPLES);
    ck_assert_int_eq(rs.samples[0].phase, RELAY_STATE_BEFORE);
    ck_assert_double_eq(value(&rs, 0, "v"), 0);
    ck_assert_int_eq(rs.samples[rs.len - 1].phase, RELAY_STATE_AFTER);
    ck_assert_double_eq(value(&rs, rs.len - 1, "v"), -1);
    for (size_t i = 1; i < rs.len; i++) /* still in time order */
        ck_assert(rs.samples[i].unix_s > rs.samples[i - 1].unix_s);
    relay_state_free(&rs);
}
END_TEST

static void two_samples(struct relay_state *rs, const char *before, const char *after)
{
    ck_assert_int_eq(relay_state_init(rs), 0);
    relay_state_add(rs, 1000, RELAY_STATE_BEFORE, before, strlen(before), NULL, NULL);
    relay_state_add(rs, 1010, RELAY_STATE_DURING, "sessions 500", 12, NULL, NULL);
    relay_state_add(rs, 1030, RELAY_STATE_AFTER, after, strlen(after), NULL, NULL);
}

static struct relay_state_run run_of(uint64_t sessions)
{
    return (struct relay_state_run){.started_unix = 1001, .sessions_started = sessions,
                                    .grace_s = 10, .waited_s = 10,
                                    .max_growth_per_1000 = RELAY_STATE_DEFAULT_MAX_GROWTH,
                                    .growth_floor = RELAY_STATE_GROWTH_FLOOR};
}

START_TEST(verdict_clean)
{
    struct relay_state rs;
    two_samples(&rs, "sessions 2\nshm_used_bytes 1000000\nrss_bytes 5000000\n",
                "sessions 2\nshm_used_bytes 1200000\nrss_bytes 5000000\n");
    struct relay_state_run run = run_of(200000);
    struct relay_state_verdict v;
    relay_state_judge(&rs, &run, &v);
    ck_assert(v.comparable);
    ck_assert(!v.warning);
    ck_assert_double_eq(v.sessions_left, 0);
    ck_assert_uint_eq(v.num_growth, 2);
    ck_assert_double_eq(v.growth[0].delta, 200000);
    ck_assert_double_eq(v.growth[0].per_1000, 1000);
    ck_assert_msg(strcmp(v.text, "relay state: 0 sessions left (2 before, 2 after), shm +200.0 KB, "
                                 "rss +0 B after 200k sessions, 10 s after the run") == 0,
                  "%s", v.text);
    relay_state_free(&rs);
}
END_TEST

START_TEST(verdict_sessions_left_and_growth)
{
    struct relay_state rs;
    two_samples(&rs, "sessions 0\nshm_used_bytes 1000000\n",
                "sessions 7\nshm_used_bytes 9000000\n");
    struct relay_state_run run = run_of(100000); /* allowed: max(1 MiB, 6.5 MB) */
    struct relay_state_verdict v;
    relay_state_judge(&rs, &run, &v);
    ck_assert(v.comparable && v.warning);
    ck_assert_double_eq(v.sessions_left, 7);
    ck_assert(v.growth[0].over);
    ck_assert_msg(strstr(v.text, "WARNING: 7 sessions left") != NULL, "%s", v.text);
    ck_assert_msg(strstr(v.text, "WARNING: shm +8.0 MB (80.0 KB per 1000 sessions, above the "
                                 "6.6 MB allowed)") != NULL, "%s", v.text);
    /* sessions msrpload still holds are not left over */
    run.msrpload_open = 7;
    run.max_growth_per_1000 = 100000;
    relay_state_judge(&rs, &run, &v);
    ck_assert_msg(!v.warning, "%s", v.text);
    ck_assert_msg(strstr(v.text, "0 sessions left beyond the 7 msrpload holds") != NULL, "%s",
                  v.text);
    /* the floor: a small run's growth up to 1 MiB is never a warning */
    relay_state_free(&rs);
    two_samples(&rs, "shm_used_bytes 0\n", "shm_used_bytes 1000000\n");
    run = run_of(10);
    relay_state_judge(&rs, &run, &v);
    ck_assert_msg(!v.warning && strstr(v.text, "no 'sessions' to compare") != NULL, "%s",
                  v.text);
    run.growth_floor = 0;
    relay_state_judge(&rs, &run, &v);
    ck_assert_msg(v.warning, "%s", v.text);
    /* --relay-state-judge: only the names listed are judged */
    run.judge = "rss_bytes,shm_used";
    relay_state_judge(&rs, &run, &v);
    ck_assert_msg(!v.warning && v.num_growth == 0, "%s", v.text);
    run.judge = "x,shm_used_bytes";
    relay_state_judge(&rs, &run, &v);
    ck_assert_msg(v.warning && v.num_growth == 1, "%s", v.text);
    relay_state_free(&rs);
}
END_TEST

START_TEST(verdict_without_after_sample)
{
    struct relay_state rs;
    ck_assert_int_eq(relay_state_init(&rs), 0);
    relay_state_add(&rs, 1000, RELAY_STATE_BEFORE, "sessions 1", 10, NULL, NULL);
    relay_state_failed(&rs, "--relay-state: 'x' exited with status 1");
    struct relay_state_run run = run_of(5);
    run.grace_cut = true;
    struct relay_state_verdict v;
    relay_state_judge(&rs, &run, &v);
    ck_assert(!v.comparable && v.warning);
    ck_assert_msg(strstr(v.text, "no comparison (the after-the-run sample missing") != NULL &&
                      strstr(v.text, "exited with status 1") != NULL,
                  "%s", v.text);
    relay_state_free(&rs);
}
END_TEST

START_TEST(json_and_csv)
{
    struct relay_state rs;
    two_samples(&rs, "sessions 1\nshm_used_bytes 10\n", "sessions 1\nrss_bytes 3\n");
    struct relay_state_run run = run_of(3);
    struct relay_state_verdict v;
    relay_state_judge(&rs, &run, &v);
    size_t len = 0;
    char *csv = relay_state_csv(&rs, 1001, &len);
    ck_assert_str_eq(csv, "t_s,phase,sessions,shm_used_bytes,rss_bytes\n"
                          "-1.000,before,1,10,\n"
                          "9.000,during,500,,\n"
                          "29.000,after,1,,3\n");
    ck_assert_uint_eq(len, strlen(csv));
    free(csv);
    char *text = relay_state_json(&rs, &run, &v, "echo x", 2.5, "expires+1");
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    ck_assert_msg(j != NULL, "%s", e.text);
    ck_assert_str_eq(json_string_value(json_object_get(j, "command")), "echo x");
    ck_assert_str_eq(json_string_value(json_object_get(j, "grace")), "expires+1");
    json_t *samples = json_object_get(j, "samples");
    ck_assert_uint_eq(json_array_size(samples), 3);
    json_t *last = json_array_get(samples, 2);
    ck_assert_str_eq(json_string_value(json_object_get(last, "phase")), "after");
    ck_assert_double_eq(json_number_value(json_object_get(last, "t_s")), 29);
    ck_assert_double_eq(
        json_number_value(json_object_get(json_object_get(last, "values"), "rss_bytes")), 3);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "verdict"), "text")),
                     v.text);
    json_decref(j);
    free(text);
    relay_state_free(&rs);
}
END_TEST

/* ---- runs with fake state commands --------------------------------------------------------- */

struct run_out {
    int code;
    char dir[200];
    char *out, *err;
    json_t *summary;
};

static void write_exec(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(chmod(path, 0755), 0);
}

static char *slurp(const char *path)
{
    size_t len;
    char *p = read_file(path, &len);
    p[len] = '\0';
    return p;
}

/* An embedded run of about 2 s (8 sessions, churned) with extra options. */
#define EMBEDDED_SCENARIO                                                                         \
    "{ \"name\": \"rstate\",\n"                                                                   \
    "  \"load\": { \"sessions\": 1000000, \"concurrency\": 4, \"duration\": %s,\n"                \
    "    \"threads\": 1, \"seed\": 3, \"mode\": \"closed\", \"outstanding\": 1,\n"                \
    "    \"session_lifetime\": {\"min\": 0.05, \"max\": 0.1} },\n"                                \
    "  \"topology\": { \"kind\": \"embedded\", \"transport\": \"tcp\" },\n"                       \
    "  \"steps\": [ { \"repeat\": { \"times\": 0, \"steps\": [\n"                                 \
    "    { \"send\": { \"size\": 100 } }, { \"expect\": { \"status\": 200 } } ] } } ],\n"         \
    "  \"answer\": { \"status\": 200 } }\n"

static void scenario(const struct tmp *t, const char *duration, char *path, size_t cap)
{
    snprintf(path, cap, "%s/rstate.json", t->dir);
    char text[2048];
    snprintf(text, sizeof(text), EMBEDDED_SCENARIO, duration);
    write_exec(path, text);
}

static void run_msrpload(const struct tmp *t, const char *tag, const char *args,
                         struct run_out *r)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->dir, sizeof(r->dir), "%s/%s", t->dir, tag);
    char cmd[4096], path[512];
    snprintf(cmd, sizeof(cmd), "timeout 60 %s run %s --out '%s' >'%s/%s.out' 2>'%s/%s.err'",
             msrpload_binary(), args, r->dir, t->dir, tag, t->dir, tag);
    int st = system(cmd);
    ck_assert_msg(WIFEXITED(st), "%s: status %d", cmd, st);
    r->code = WEXITSTATUS(st);
    snprintf(path, sizeof(path), "%s/%s.out", t->dir, tag);
    r->out = slurp(path);
    snprintf(path, sizeof(path), "%s/%s.err", t->dir, tag);
    r->err = slurp(path);
    fprintf(stderr, "relay_state: %s: exit %d\n", tag, r->code);
    ck_assert_msg(r->code != 124, "%s did not end within 60 s: %s", tag, r->err);
    snprintf(path, sizeof(path), "%s/summary.json", r->dir);
    if (access(path, F_OK) == 0) {
        json_error_t e;
        r->summary = json_load_file(path, 0, &e);
        ck_assert_msg(r->summary != NULL, "%s: %s", path, e.text);
    }
}

static void run_free(struct run_out *r)
{
    free(r->out);
    free(r->err);
    json_decref(r->summary);
}

static json_t *rstate(const struct run_out *r, const char *key)
{
    ck_assert_msg(r->summary != NULL, "no summary.json; stderr: %s", r->err);
    json_t *o = json_object_get(r->summary, "relay_state");
    ck_assert_msg(o != NULL, "summary.json has no relay_state");
    return key == NULL ? o : json_object_get(o, key);
}

/* A command that counts its calls in a file and prints numbers from the count. */
#define COUNTING                                                                                  \
    "#!/bin/sh\n"                                                                                 \
    "f=\"$(dirname \"$0\")/calls\"\n"                                                              \
    "n=$(cat \"$f\" 2>/dev/null || echo 0); n=$((n + 1)); echo $n > \"$f\"\n"

START_TEST(run_series_and_clean_verdict)
{
    struct tmp t;
    tmp_make(&t);
    char scn[256], cmdp[256], args[1024];
    scenario(&t, "2", scn, sizeof(scn));
    snprintf(cmdp, sizeof(cmdp), "%s/state.sh", t.dir);
    write_exec(cmdp, COUNTING "echo \"calls $n\"\necho \"sessions 4\"\n"
                              "echo \"shm_used_bytes $((n * 1000))\"\n");
    snprintf(args, sizeof(args),
             "'%s' --relay-state '%s' --relay-state-interval 0.2 --relay-state-grace 0.5", scn,
             cmdp);
    struct run_out r;
    run_msrpload(&t, "ok", args, &r);
    ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err);
    json_t *samples = rstate(&r, "samples");
    size_t n = json_array_size(samples);
    ck_assert_msg(n >= 3, "%zu samples", n); /* before, at least one more, after */
    double last_t = -1e9, last_calls = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(samples, i);
        const char *phase = json_string_value(json_object_get(s, "phase"));
        if (i == 0)
            ck_assert_str_eq(phase, "before");
        else if (i == n - 1)
            ck_assert_str_eq(phase, "after");
        else
            ck_assert_msg(strcmp(phase, "during") == 0 || strcmp(phase, "grace") == 0, "%s",
                          phase);
        double ts = json_number_value(json_object_get(s, "t_s"));
        ck_assert_msg(ts > last_t, "t_s not increasing at %zu", i);
        last_t = ts;
        double calls = json_number_value(json_object_get(json_object_get(s, "values"), "calls"));
        ck_assert_double_eq(calls, last_calls + 1); /* every call is one sample, in order */
        last_calls = calls;
    }
    json_t *v = rstate(&r, "verdict");
    ck_assert(json_is_false(json_object_get(v, "warning")));
    ck_assert_double_eq(
        json_number_value(json_object_get(json_object_get(v, "sessions"), "left")), 0);
    json_t *shm = json_object_get(json_object_get(v, "growth"), "shm_used_bytes");
    ck_assert_double_eq(json_number_value(json_object_get(shm, "delta")), (last_calls - 1) * 1000);
    ck_assert_msg(strstr(r.out, "relay state: 0 sessions left (4 before, 4 after)") != NULL,
                  "%s", r.out);
    char path[300];
    snprintf(path, sizeof(path), "%s/relay-state.csv", r.dir);
    char *csv = slurp(path);
    ck_assert_msg(strncmp(csv, "t_s,phase,calls,sessions,shm_used_bytes\n", 40) == 0, "%s", csv);
    size_t rows = 0;
    for (const char *p = csv; (p = strchr(p, '\n')) != NULL; p++)
        rows++;
    ck_assert_uint_eq(rows, n + 1);
    free(csv);
    /* report.html shows the verdict and the series */
    snprintf(path, sizeof(path), "%s/report.html", r.dir);
    char *html = slurp(path);
    ck_assert_msg(strstr(html, "<p id=\"relay-state-verdict\">relay state: 0 sessions left") !=
                      NULL,
                  "no verdict in report.html");
    ck_assert_ptr_nonnull(strstr(html, "<svg id=\"relay-state-sessions\""));
    char *mem = strstr(html, "<svg id=\"relay-state-memory\"");
    ck_assert_ptr_nonnull(mem);
    ck_assert_ptr_nonnull(strstr(mem, "data-series=\"shm_used_bytes\""));
    free(html);
    run_free(&r);
    tmp_remove(&t);
}
END_TEST

START_TEST(run_leak_is_a_warning)
{
    struct tmp t;
    tmp_make(&t);
    char scn[256], cmdp[256], args[1024];
    scenario(&t, "1", scn, sizeof(scn));
    snprintf(cmdp, sizeof(cmdp), "%s/state.sh", t.dir);
    /* each call 3 sessions and 20 MB more: a relay that keeps everything */
    write_exec(cmdp, COUNTING "echo \"sessions $((n * 3))\"\n"
                              "echo \"rss_bytes $((n * 20000000))\"\n");
    snprintf(args, sizeof(args), "'%s' --relay-state '%s' --relay-state-grace 0", scn, cmdp);
    struct run_out r;
    run_msrpload(&t, "leak", args, &r);
    ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err); /* a verdict, not a failure */
    json_t *v = rstate(&r, "verdict");
    ck_assert(json_is_true(json_object_get(v, "warning")));
    double left = json_number_value(json_object_get(json_object_get(v, "sessions"), "left"));
    ck_assert_msg(left >= 3, "left %g", left);
    ck_assert_msg(strstr(r.out, "relay state: WARNING: ") != NULL &&
                      strstr(r.out, "sessions left") != NULL &&
                      strstr(r.out, "WARNING: rss +") != NULL,
                  "%s", r.out);
    /* a threshold given on the command line is the one used */
    ck_assert_double_eq(json_number_value(json_object_get(v, "max_growth_per_1000")), 65536);
    run_free(&r);
    snprintf(args, sizeof(args),
             "'%s' --relay-state '%s' --relay-state-grace 0 --relay-state-max-growth 1e12", scn,
             cmdp);
    run_msrpload(&t, "leak2", args, &r);
    v = rstate(&r, "verdict");
    ck_assert_double_eq(json_number_value(json_object_get(v, "max_growth_per_1000")), 1e12);
    ck_assert_msg(strstr(r.out, "WARNING: rss") == NULL, "%s", r.out);
    run_free(&r);
    tmp_remove(&t);
}
END_TEST

START_TEST(run_command_fails_or_hangs_first)
{
    struct tmp t;
    tmp_make(&t);
    char scn[256], cmdp[256], args[1024];
    scenario(&t, "1", scn, sizeof(scn));
    snprintf(cmdp, sizeof(cmdp), "%s/fail.sh", t.dir);
    write_exec(cmdp, "#!/bin/sh\necho 'kamcmd: cannot connect' >&2\nexit 3\n");
    snprintf(args, sizeof(args), "'%s' --relay-state '%s'", scn, cmdp);
    struct run_out r;
    run_msrpload(&t, "fail", args, &r);
    ck_assert_int_eq(r.code, 2);
    ck_assert_msg(strstr(r.err, "--relay-state: '") != NULL &&
                      strstr(r.err, "exited with status 3: kamcmd: cannot connect") != NULL,
                  "%s", r.err);
    ck_assert_msg(access(r.dir, F_OK) != 0, "a report directory was left for a run not run");
    run_free(&r);

    snprintf(cmdp, sizeof(cmdp), "%s/hang.sh", t.dir);
    write_exec(cmdp, "#!/bin/sh\necho sessions 1\nsleep 50\n");
    snprintf(args, sizeof(args), "'%s' --relay-state '%s' --relay-state-timeout 0.5", scn, cmdp);
    run_msrpload(&t, "hang", args, &r);
    ck_assert_int_eq(r.code, 2);
    ck_assert_msg(strstr(r.err, "did not finish within 0.5 s (killed; --relay-state-timeout") !=
                      NULL,
                  "%s", r.err);
    run_free(&r);

    snprintf(cmdp, sizeof(cmdp), "%s/empty.sh", t.dir);
    write_exec(cmdp, "#!/bin/sh\necho 'not a number line'\n");
    snprintf(args, sizeof(args), "'%s' --relay-state '%s'", scn, cmdp);
    run_msrpload(&t, "empty", args, &r);
    ck_assert_int_eq(r.code, 2);
    ck_assert_msg(strstr(r.err, "warning: line 'not a number line'") != NULL &&
                      strstr(r.err, "printed no 'name value' line") != NULL,
                  "%s", r.err);
    run_free(&r);
    tmp_remove(&t);
}
END_TEST

START_TEST(run_command_fails_later_and_malformed_lines)
{
    struct tmp t;
    tmp_make(&t);
    char scn[256], cmdp[256], args[1024];
    scenario(&t, "1.5", scn, sizeof(scn));
    snprintf(cmdp, sizeof(cmdp), "%s/state.sh", t.dir);
    /* the first call answers (with two bad lines), then it fails; the third one hangs */
    write_exec(cmdp, COUNTING "if [ $n -eq 1 ]; then\n"
                              "  echo 'sessions 1'; echo 'sessions: 2'; echo 'shm_used_bytes 12x'\n"
                              "  exit 0\nfi\n"
                              "if [ $n -eq 3 ]; then sleep 50; fi\n"
                              "echo 'relay gone' >&2; exit 1\n");
    snprintf(args, sizeof(args),
             "'%s' --relay-state '%s' --relay-state-interval 0.3 --relay-state-timeout 0.5 "
             "--relay-state-grace 0",
             scn, cmdp);
    struct run_out r;
    run_msrpload(&t, "later", args, &r);
    ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err); /* the load itself went well */
    ck_assert_msg(strstr(r.err, "warning: line 'sessions: 2'") != NULL &&
                      strstr(r.err, "warning: line 'shm_used_bytes 12x'") != NULL,
                  "%s", r.err);
    ck_assert_msg(strstr(r.err, "sample failed: --relay-state: '") != NULL &&
                      strstr(r.err, "did not finish within 0.5 s") != NULL,
                  "%s", r.err);
    ck_assert_msg(strstr(r.err, "exited with status 1: relay gone") != NULL, "%s", r.err);
    ck_assert_int_eq(json_integer_value(rstate(&r, "warnings")), 2);
    ck_assert_int_ge(json_integer_value(rstate(&r, "failures")), 2);
    ck_assert_msg(strstr(json_string_value(rstate(&r, "first_failure")),
                         "exited with status 1: relay gone") != NULL,
                  "%s", json_string_value(rstate(&r, "first_failure")));
    ck_assert(json_is_false(json_object_get(rstate(&r, "verdict"), "comparable")));
    ck_assert_msg(strstr(r.out, "relay state: no comparison (the after-the-run sample") != NULL,
                  "%s", r.out);
    run_free(&r);
    tmp_remove(&t);
}
END_TEST

START_TEST(options_refused)
{
    struct tmp t;
    tmp_make(&t);
    char scn[256], args[1024];
    scenario(&t, "1", scn, sizeof(scn));
    static const struct {
        const char *opts, *says;
    } cases[] = {
        {"--relay-state-interval 2", "--relay-state-interval needs --relay-state CMD"},
        {"--relay-state true --relay-state-interval 0", "--relay-state-interval 0: expected"},
        {"--relay-state true --relay-state-grace soon", "--relay-state-grace soon: expected"},
        {"--relay-state true --relay-state-grace expires-3", "--relay-state-grace expires-3:"},
        {"--relay-state true --relay-state-grace expires+", "--relay-state-grace expires+:"},
        {"--relay-state true --relay-state-grace expires",
         "--relay-state-grace expires: only through a relay"},
        {"--relay-state true --relay-state-max-growth -1", "--relay-state-max-growth -1:"},
        {"--relay-state ''", "--relay-state: the command is empty"},
        {"--relay-state true --relay-state-judge a,,b", "--relay-state-judge a,,b: expected"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char tag[16];
        snprintf(tag, sizeof(tag), "o%zu", i);
        snprintf(args, sizeof(args), "'%s' %s", scn, cases[i].opts);
        struct run_out r;
        run_msrpload(&t, tag, args, &r);
        ck_assert_msg(r.code == 2, "%s: exit %d", cases[i].opts, r.code);
        ck_assert_msg(strstr(r.err, cases[i].says) != NULL, "%s: %s", cases[i].opts, r.err);
        run_free(&r);
    }
    tmp_remove(&t);
}
END_TEST

START_TEST(run_interrupted_keeps_series)
{
    struct tmp t;
    tmp_make(&t);
    char scn[256], cmdp[256], out[300], calls[300];
    scenario(&t, "30", scn, sizeof(scn));
    snprintf(cmdp, sizeof(cmdp), "%s/state.sh", t.dir);
    write_exec(cmdp, COUNTING "echo \"sessions 0\"\necho \"calls $n\"\n");
    snprintf(out, sizeof(out), "%s/int", t.dir);
    snprintf(calls, sizeof(calls), "%s/calls", t.dir);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, 1);
        dup2(fd, 2);
        execl(msrpload_binary(), msrpload_binary(), "run", scn, "--out", out,
               "--relay-state", cmdp, "--relay-state-interval", "0.2", "--relay-state-grace",
               "30", (char *)NULL);
        _exit(127);
    }
    /* wait (bounded) for three samples, then SIGINT as a terminal's ^C would */
    int n = 0;
    for (int i = 0; i < 300 && n < 3; i++) {
        usleep(100000);
        FILE *f = fopen(calls, "r");
        if (f != NULL) {
            if (fscanf(f, "%d", &n) != 1)
                n = 0;
            fclose(f);
        }
    }
    ck_assert_int_ge(n, 3);
    ck_assert_int_eq(kill(pid, SIGINT), 0);
    /* bounded wait: 60 s, then it is killed and the test fails */
    int st = 0;
    pid_t w = 0;
    for (int i = 0; i < 600 && (w = waitpid(pid, &st, WNOHANG)) == 0; i++)
        usleep(100000);
    if (w == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
    ck_assert_msg(w == pid, "msrpload did not end within 60 s of SIGINT");
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 130, "status %d", st);
    char path[400];
    snprintf(path, sizeof(path), "%s/summary.json", out);
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    ck_assert_msg(j != NULL, "%s: %s", path, e.text);
    json_t *rs = json_object_get(j, "relay_state");
    ck_assert_ptr_nonnull(rs);
    ck_assert(json_is_true(json_object_get(rs, "grace_cut")));
    /* the signal came during the run: the 30 s grace period was not waited */
    ck_assert_double_lt(json_number_value(json_object_get(rs, "waited_s")), 30);
    json_t *samples = json_object_get(rs, "samples");
    ck_assert_uint_ge(json_array_size(samples), 4); /* 3 or more, and the one after */
    json_t *last = json_array_get(samples, json_array_size(samples) - 1);
    ck_assert_str_eq(json_string_value(json_object_get(last, "phase")), "after");
    ck_assert(json_is_true(json_object_get(json_object_get(j, "run"), "incomplete")));
    json_decref(j);
    snprintf(path, sizeof(path), "%s/relay-state.csv", out);
    ck_assert_int_eq(access(path, F_OK), 0);
    tmp_remove(&t);
}
END_TEST

/* ---- through the scripted Kamailio --------------------------------------------------------- */

static struct test_relay K;

static void relay_setup(void)
{
    test_relay_start(&K, false, "RELAY_EXPIRES_MIN=2");
}

static void relay_teardown(void)
{
    test_relay_stop(&K);
}

#define RELAY_SCENARIO                                                                            \
    "{ \"name\": \"rstate-relay\",\n"                                                             \
    "  \"load\": { \"sessions\": 100000, \"concurrency\": 10, \"duration\": 3, \"threads\": 1,\n" \
    "    \"session_lifetime\": {\"min\": 0.2, \"max\": 0.4},\n"                                   \
    "    \"endings\": {\"clean\": 1, \"abrupt\": 1, \"reset\": 1, \"silent\": 1} },\n"            \
    "  \"topology\": { \"kind\": \"relay\", \"transport\": \"tcp\",\n"                            \
    "    \"relay\": {\"user\": \"load%04d\", \"users\": 100} },\n"                                \
    "  \"steps\": [ { \"repeat\": { \"times\": 0, \"steps\": [\n"                                 \
    "    { \"send\": { \"size\": 100 } }, { \"expect\": { \"status\": 200 } } ] } } ],\n"         \
    "  \"answer\": { \"status\": 200 } }\n"

START_TEST(relay_kamailio_state)
{
    if (test_relay_skip(&K, "relay_state relay_kamailio_state"))
        return;
    struct tmp t;
    tmp_make(&t);
    char scn[256], pw[256], args[2048], dir[512];
    snprintf(scn, sizeof(scn), "%s/relay.json", t.dir);
    write_exec(scn, RELAY_SCENARIO);
    snprintf(pw, sizeof(pw), "%s/pw", t.dir);
    write_exec(pw, "loadpass\n");
    snprintf(dir, sizeof(dir), "%s", K.pidfile);
    char *rundir = dirname(dir);
    /* the relay grants the Expires asked for (2 s): the grace is that plus 1 s */
    snprintf(args, sizeof(args),
             "'%s' --relay '%s' --relay-password-file '%s' --relay-expires 2 --relay-state "
             "'RELAY_CTL=unix:%s/kamailio_ctl tools/relay/state.sh' --relay-state-interval 0.5 "
             "--relay-state-grace expires+1",
             scn, K.uri, pw, rundir);
    struct run_out r;
    run_msrpload(&t, "kam", args, &r);
    fprintf(stderr, "relay_state: through Kamailio: %s", r.out);
    ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err);
    ck_assert_double_eq(json_number_value(rstate(&r, "grace_s")), 3);
    ck_assert_double_ge(json_number_value(rstate(&r, "waited_s")), 3);
    json_t *names = rstate(&r, "names");
    const char *want[] = {"sessions", "shm_used_bytes", "rss_bytes", "tcp_connections"};
    for (size_t i = 0; i < 4; i++) {
        bool found = false;
        for (size_t k = 0; k < json_array_size(names); k++)
            found |= strcmp(json_string_value(json_array_get(names, k)), want[i]) == 0;
        ck_assert_msg(found, "state.sh printed no %s", want[i]);
    }
    /* while the load ran the relay held sessions; none is left after it */
    json_t *samples = rstate(&r, "samples");
    double most = 0;
    for (size_t i = 0; i < json_array_size(samples); i++) {
        json_t *s = json_array_get(samples, i);
        if (strcmp(json_string_value(json_object_get(s, "phase")), "during") != 0)
            continue;
        double n = json_number_value(json_object_get(json_object_get(s, "values"), "sessions"));
        most = n > most ? n : most;
    }
    ck_assert_msg(most > 0, "no sample during the run saw a relay session");
    json_t *v = rstate(&r, "verdict");
    ck_assert(json_is_true(json_object_get(v, "comparable")));
    ck_assert_double_eq(
        json_number_value(json_object_get(json_object_get(v, "sessions"), "left")), 0);
    ck_assert_double_eq(json_number_value(json_object_get(v, "msrpload_open")), 0);
    ck_assert_msg(strstr(r.out, "relay state: 0 sessions left") != NULL, "%s", r.out);
    ck_assert_int_eq(json_integer_value(rstate(&r, "failures")), 0);
    run_free(&r);
    tmp_remove(&t);
}
END_TEST

Suite *make_relay_state_suite(void)
{
    Suite *s = suite_create("relay_state");
    TCase *tc = tcase_create("series");
    tcase_add_test(tc, parse_lines_and_warnings);
    tcase_add_test(tc, names_are_bounded);
    tcase_add_test(tc, series_is_thinned_not_grown);
    tcase_add_test(tc, verdict_clean);
    tcase_add_test(tc, verdict_sessions_left_and_growth);
    tcase_add_test(tc, verdict_without_after_sample);
    tcase_add_test(tc, json_and_csv);
    suite_add_tcase(s, tc);

    TCase *tr = tcase_create("run");
    tcase_set_timeout(tr, 120);
    tcase_add_test(tr, run_series_and_clean_verdict);
    tcase_add_test(tr, run_leak_is_a_warning);
    tcase_add_test(tr, run_command_fails_or_hangs_first);
    tcase_add_test(tr, run_command_fails_later_and_malformed_lines);
    tcase_add_test(tr, options_refused);
    tcase_add_test(tr, run_interrupted_keeps_series);
    suite_add_tcase(s, tr);

    TCase *tk = tcase_create("kamailio");
    tcase_set_timeout(tk, 120);
    tcase_add_unchecked_fixture(tk, relay_setup, relay_teardown);
    tcase_add_test(tk, relay_kamailio_state);
    suite_add_tcase(s, tk);
    return s;
}
