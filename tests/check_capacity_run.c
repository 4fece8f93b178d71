/*
 * check_capacity_run.c - `msrpload run --find-capacity` for real (the capacity suite): against
 * the embedded answering endpoints with short steps and SLOs chosen so that the verdicts do
 * not hang on this machine's speed (a bound no loopback answer can meet, or one every answer
 * meets), its usage errors, and through the scripted Kamailio relay (tools/relay/start.sh; a
 * visible skip without Kamailio, a failure with REQUIRE_RELAY=1).
 */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "suites.h"
#include "testutil.h"

/* Runs msrpload with args in t (120 s at most); the exit code; out and err in t's files. */
static int run(const struct tmp *t, const char *args)
{
    char *cmd;
    ck_assert_int_ge(asprintf(&cmd, "timeout 120 %s run %s >%s/out 2>%s/err", msrpload_binary(),
                              args, t->dir, t->dir),
                     0);
    int st = system(cmd);
    free(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *slurp(const struct tmp *t, const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", t->dir, name);
    size_t n;
    char *data = read_file(path, &n);
    data = realloc(data, n + 1);
    data[n] = '\0';
    return data;
}

static json_t *load_json(const char *path)
{
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    ck_assert_msg(j != NULL, "%s: %s", path, je.text);
    return j;
}

/* Ten sessions that send 100-byte messages until the run ends. */
static void write_scenario(const struct tmp *t, char *path, size_t cap)
{
    snprintf(path, cap, "%s/s.json", t->dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("{\"name\": \"cap-test\", \"load\": {\"threads\": 1, \"sessions\": 10, \"duration\": 5},"
          " \"steps\": [{\"repeat\": {\"times\": 0, \"steps\": ["
          "{\"send\": {\"size\": 100, \"failure_report\": \"yes\"}},"
          "{\"expect\": {\"status\": 200}}]}}]}",
          f);
    fclose(f);
}

/* Every step of capacity.json has its own whole report, whose config ran its rate. */
static void check_step_reports(const char *dir, json_t *steps)
{
    for (size_t i = 0; i < json_array_size(steps); i++) {
        json_t *s = json_array_get(steps, i);
        char path[512];
        snprintf(path, sizeof path, "%s/%s/summary.json", dir,
                 json_string_value(json_object_get(s, "report")));
        json_t *sum = load_json(path);
        json_t *cfg = json_object_get(sum, "config");
        ck_assert_str_eq(json_string_value(json_object_get(cfg, "mode")), "open");
        ck_assert(json_number_value(json_object_get(cfg, "rate")) ==
                  json_number_value(json_object_get(s, "requested_rate")));
        ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(sum, "messages"),
                                                            "ok")),
                         json_integer_value(json_object_get(s, "messages_ok")));
        json_decref(sum);
        snprintf(path, sizeof path, "%s/%s/PARTIAL", dir,
                 json_string_value(json_object_get(s, "report")));
        ck_assert_msg(access(path, F_OK) != 0, "%s left", path);
    }
}

START_TEST(finds_the_highest_rate_allowed)
{
    struct tmp t;
    tmp_make(&t);
    char scen[128], args[1024], dir[160];
    write_scenario(&t, scen, sizeof scen);
    snprintf(dir, sizeof dir, "%s/run", t.dir);
    /* Every loopback answer meets this SLO: the search climbs to --capacity-max. */
    snprintf(args, sizeof args,
             "'%s' --find-capacity --slo 'p99<20s,errors<50%%,achieved>=50%%' "
             "--capacity-start 50 --capacity-max 200 --capacity-step-seconds 1 "
             "--capacity-warm-up 0.3 --out '%s'", scen, dir);
    int code = run(&t, args);
    char *out = slurp(&t, "out"), *err = slurp(&t, "err");
    ck_assert_msg(code == 0, "exit %d\nstdout: %s\nstderr: %s", code, out, err);
    ck_assert_msg(strstr(out, "capacity: 200 msg/s requested") != NULL, "%s", out);
    ck_assert(strstr(out, "step  3:") != NULL && strstr(out, "step  4:") == NULL);

    char path[256];
    snprintf(path, sizeof path, "%s/capacity.json", dir);
    json_t *j = load_json(path);
    ck_assert(json_number_value(json_object_get(j, "capacity_rate")) == 200);
    ck_assert(json_is_null(json_object_get(j, "first_failed_rate")));
    ck_assert_str_eq(json_string_value(json_object_get(j, "ended")), "max-rate");
    ck_assert_str_eq(json_string_value(json_object_get(j, "slo")),
                     "p99<20s,errors<50%,achieved>=50%");
    json_t *steps = json_object_get(j, "steps");
    ck_assert_uint_eq(json_array_size(steps), 3);
    static const double want[] = {50, 100, 200};
    for (size_t i = 0; i < 3; i++) {
        json_t *s = json_array_get(steps, i);
        ck_assert(json_number_value(json_object_get(s, "requested_rate")) == want[i]);
        ck_assert(json_is_true(json_object_get(s, "met")));
        ck_assert_int_gt(json_integer_value(json_object_get(s, "messages_ok")), 0);
        ck_assert(json_number_value(json_object_get(s, "p99_ms")) > 0);
    }
    check_step_reports(dir, steps);
    json_decref(j);
    snprintf(path, sizeof path, "%s/PARTIAL", dir);
    ck_assert_msg(access(path, F_OK) != 0, "the search's directory is still partial");
    char *svg = slurp(&t, "run/capacity.svg");
    ck_assert(strstr(svg, "<svg") != NULL && strstr(svg, "capacity 200 messages/s") != NULL);
    free(svg);
    free(out);
    free(err);
    tmp_remove(&t);
}
END_TEST

START_TEST(exits_1_when_the_first_step_fails)
{
    struct tmp t;
    tmp_make(&t);
    char scen[128], args[1024], dir[160];
    write_scenario(&t, scen, sizeof scen);
    snprintf(dir, sizeof dir, "%s/run", t.dir);
    /* No answer crosses loopback in under a microsecond. */
    snprintf(args, sizeof args,
             "'%s' --find-capacity --slo 'p99<1us' --capacity-start 50 "
             "--capacity-step-seconds 1 --capacity-warm-up 0.3 --out '%s'", scen, dir);
    int code = run(&t, args);
    char *out = slurp(&t, "out"), *err = slurp(&t, "err");
    ck_assert_msg(code == 1, "exit %d\nstdout: %s\nstderr: %s", code, out, err);
    ck_assert_msg(strstr(out, "capacity: none: the first step did not meet the SLO") != NULL,
                  "%s", out);
    ck_assert(strstr(out, "FAILED: p99 ") != NULL);
    char path[256];
    snprintf(path, sizeof path, "%s/capacity.json", dir);
    json_t *j = load_json(path);
    ck_assert(json_is_null(json_object_get(j, "capacity_rate")));
    ck_assert(json_number_value(json_object_get(j, "first_failed_rate")) == 50);
    ck_assert_str_eq(json_string_value(json_object_get(j, "ended")), "first-failed");
    ck_assert_uint_eq(json_array_size(json_object_get(j, "steps")), 1);
    check_step_reports(dir, json_object_get(j, "steps"));
    json_decref(j);
    free(out);
    free(err);
    tmp_remove(&t);
}
END_TEST

START_TEST(usage_errors_come_before_anything_runs)
{
    static const struct {
        const char *args, *want;
    } cases[] = {
        {"--find-capacity", "--find-capacity needs --slo"},
        {"--slo 'p99<50ms'", "--slo goes with --find-capacity"},
        {"--find-capacity --slo 'p99<50xs'", "--slo 'p99<50xs': at byte 7 ('x')"},
        {"--find-capacity --slo 'p99<50ms' --rate 10", "does not go with --rate"},
        {"--find-capacity --slo 'p99<50ms' --duration 10", "does not go with --duration"},
        {"--find-capacity --slo 'p99<50ms' --shard 1/2", "does not go with --shard"},
        {"--find-capacity --slo 'p99<50ms' --capacity-max-steps 0", "--capacity-max-steps"},
        {"--find-capacity --slo 'p99<50ms' --capacity-start 10 --capacity-max 5",
         "must be above 0 and at most the highest"},
        {"--find-capacity --slo 'p99<50ms' --capacity-factor 1", "--capacity-factor"},
        {"--find-capacity --slo 'p99<50ms' --capacity-resolution 0%", "--capacity-resolution"},
        {"--find-capacity --slo 'p99<50ms' --capacity-step-seconds x", "--capacity-step-seconds"},
        {"--find-capacity --slo", "--slo needs a value"},
    };
    struct tmp t;
    tmp_make(&t);
    char scen[128], args[1024], dir[160];
    write_scenario(&t, scen, sizeof scen);
    snprintf(dir, sizeof dir, "%s/run", t.dir);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(args, sizeof args, "'%s' --out '%s' %s", scen, dir, cases[i].args);
        int code = run(&t, args);
        char *err = slurp(&t, "err");
        ck_assert_msg(code == 2 && strstr(err, cases[i].want) != NULL,
                      "%s: exit %d, stderr: %s", cases[i].args, code, err);
        free(err);
        ck_assert_msg(access(dir, F_OK) != 0, "%s: a report directory was made", cases[i].args);
    }
    /* --start-at (a minute ahead: a valid time) is a usage error beside the search */
    snprintf(args, sizeof args, "'%s' --out '%s' --find-capacity --slo 'p99<50ms' --start-at %lld",
             scen, dir, (long long)time(NULL) + 60);
    int code = run(&t, args);
    char *err = slurp(&t, "err");
    ck_assert_msg(code == 2 && strstr(err, "does not go with --start-at") != NULL,
                  "--start-at: exit %d, stderr: %s", code, err);
    free(err);
    /* --help names the options */
    ck_assert_int_eq(run(&t, "--help"), 0);
    char *out = slurp(&t, "out");
    ck_assert(strstr(out, "--find-capacity") && strstr(out, "--capacity-step-seconds"));
    free(out);
    tmp_remove(&t);
}
END_TEST

TCase *make_capacity_run_tcase(void)
{
    TCase *tc = tcase_create("run");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, finds_the_highest_rate_allowed);
    tcase_add_test(tc, exits_1_when_the_first_step_fails);
    tcase_add_test(tc, usage_errors_come_before_anything_runs);
    return tc;
}

/* ---- through the scripted Kamailio relay ------------------------------------------------- */

static struct test_relay R;

static void relay_setup(void)
{
    test_relay_start(&R, false, "");
}

static void relay_teardown(void)
{
    test_relay_stop(&R);
}

START_TEST(finds_a_capacity_through_the_relay)
{
    if (test_relay_skip(&R, "capacity relay_auth"))
        return;
    struct tmp t;
    tmp_make(&t);
    char pw[128], args[1024], dir[160];
    snprintf(pw, sizeof pw, "%s/password", t.dir);
    FILE *f = fopen(pw, "w");
    ck_assert_ptr_nonnull(f);
    fputs("loadpass\n", f);
    fclose(f);
    snprintf(dir, sizeof dir, "%s/run", t.dir);
    /* relay-auth.json: both ends AUTH, 5 messages a session with Success-Report, sessions
     * replaced as they end. A lenient SLO: what is tested is the search through a relay. */
    snprintf(args, sizeof args,
             "scenarios/relay-auth.json --relay '%s' --relay-password-file '%s' "
             "--find-capacity --slo 'p99<20s,errors<1%%,achieved>=50%%' --capacity-start 10 "
             "--capacity-max 20 --capacity-step-seconds 2 --capacity-warm-up 1 --out '%s'",
             R.uri, pw, dir);
    int code = run(&t, args);
    char *out = slurp(&t, "out"), *err = slurp(&t, "err");
    fprintf(stderr, "capacity relay: %s", out);
    ck_assert_msg(code == 0, "exit %d\nstdout: %s\nstderr: %s", code, out, err);
    ck_assert_msg(strstr(out, "capacity: 20 msg/s requested") != NULL, "%s", out);
    char path[256];
    snprintf(path, sizeof path, "%s/capacity.json", dir);
    json_t *j = load_json(path);
    ck_assert_str_eq(json_string_value(json_object_get(j, "topology")), "relay");
    json_t *steps = json_object_get(j, "steps");
    ck_assert_uint_eq(json_array_size(steps), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *s = json_array_get(steps, i);
        snprintf(path, sizeof path, "%s/%s/summary.json", dir,
                 json_string_value(json_object_get(s, "report")));
        json_t *sum = load_json(path);
        json_t *relay = json_object_get(sum, "relay");
        json_t *msgs = json_object_get(sum, "messages");
        ck_assert_int_gt(json_integer_value(json_object_get(relay, "auth_ok")), 0);
        ck_assert_int_eq(json_integer_value(json_object_get(relay, "auth_failed")), 0);
        /* the relay's 200s are hop by hop: the messages also reached the other end */
        ck_assert_int_gt(json_integer_value(json_object_get(msgs, "delivered")), 0);
        json_decref(sum);
    }
    check_step_reports(dir, steps);
    json_decref(j);
    free(out);
    free(err);
    tmp_remove(&t);
}
END_TEST

TCase *make_capacity_relay_tcase(void)
{
    TCase *tc = tcase_create("relay");
    tcase_set_timeout(tc, 240);
    tcase_add_unchecked_fixture(tc, relay_setup, relay_teardown);
    tcase_add_test(tc, finds_a_capacity_through_the_relay);
    return tc;
}
