/*
 * check_stages.c - load.stages and the open loop's accuracy figures: the stages read from a
 * file (and every mistake refused naming its JSON path), the schedule's arithmetic, the
 * command-line options they exclude, and short staged runs whose time series and summary
 * follow the stages (counts, not timing: the messages sent add up to the rate integrated
 * over the stages).
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "load/runner.h"
#include "scenario/scenario.h"
#include "suites.h"
#include "testutil.h"

#define STEPS "\"steps\": [{\"repeat\": {\"times\": 0, \"steps\": [{\"send\": {}}]}}]"

static struct scenario *parse(const char *json, int want_rc, char *err, size_t cap)
{
    struct scenario *sc = calloc(1, sizeof(*sc));
    ck_assert_ptr_nonnull(sc);
    int rc = scenario_parse("t.json", json, strlen(json), sc, err, cap);
    ck_assert_msg(rc == want_rc, "rc %d for %s: %s", rc, json, err);
    return sc;
}

static void unparse(struct scenario *sc)
{
    scenario_free(sc);
    free(sc);
}

START_TEST(open_stages_read_and_scheduled)
{
    char err[512] = "";
    struct scenario *sc = parse(
        "{\"name\": \"s\", \"load\": {\"warm_up\": 1, \"stages\": ["
        "{\"duration\": 2, \"rate\": 100}, {\"duration\": 3, \"rate\": 100},"
        "{\"duration\": 1, \"rate\": 400, \"ramp\": false}, {\"duration\": 2, \"rate\": 0}]}, " STEPS
        "}",
        0, err, sizeof err);
    ck_assert_int_eq(sc->mode, SCENARIO_OPEN); /* "rate" stages choose the open loop */
    ck_assert_uint_eq(sc->num_stages, 4);
    ck_assert(fabs(scenario_stages_total(sc) - 8) < 1e-9);
    ck_assert(fabs(sc->duration_s - 7) < 1e-9); /* measured: the stages less the warm-up */
    ck_assert(sc->stages[0].ramp && sc->stages[0].from == 0);
    ck_assert(!sc->stages[2].ramp && sc->stages[2].from == 400);
    ck_assert(sc->stages[3].from == 400 && sc->stages[3].start_s == 6);
    /* Ramps and steps: 100 at 2 s, 400 at once at 5 s, 200 halfway down at 7 s, 0 after. */
    ck_assert(fabs(scenario_stage_target(sc, 1) - 50) < 1e-9);
    ck_assert(fabs(scenario_stage_target(sc, 3) - 100) < 1e-9);
    ck_assert(fabs(scenario_stage_target(sc, 5.5) - 400) < 1e-9);
    ck_assert(fabs(scenario_stage_target(sc, 7) - 200) < 1e-9);
    ck_assert(scenario_stage_target(sc, 9) == 0);
    ck_assert_uint_eq(scenario_stage_at(sc, 0), 0);
    ck_assert_uint_eq(scenario_stage_at(sc, 2), 1);
    ck_assert_uint_eq(scenario_stage_at(sc, 7.9), 3);
    /* 100 + 300 + 400 + 400 messages in all. */
    double all = scenario_stage_integral(sc, 0, 8);
    ck_assert_msg(fabs(all - 1200) < 1e-6, "%f", all);
    ck_assert(fabs(scenario_stage_integral(sc, 0, 1) - 25) < 1e-9);
    /* The inverse: when the n-th message is due, the integral reaches n there. */
    for (double n = 1; n < 1200; n += 37) {
        double t = scenario_stage_when(sc, n);
        ck_assert_msg(fabs(scenario_stage_integral(sc, 0, t) - n) < 1e-6, "n %f t %f", n, t);
    }
    ck_assert(isinf(scenario_stage_when(sc, 1201)));
    unparse(sc);
}
END_TEST

START_TEST(closed_stages_read)
{
    char err[512] = "";
    struct scenario *sc = parse("{\"name\": \"s\", \"load\": {\"stages\": ["
                                "{\"duration\": 1, \"sessions\": 10},"
                                "{\"duration\": 1, \"sessions\": 4, \"ramp\": false}]}, " STEPS "}",
                                0, err, sizeof err);
    ck_assert_int_eq(sc->mode, SCENARIO_CLOSED);
    ck_assert_uint_eq(sc->concurrency, 10); /* the peak */
    ck_assert_uint_eq(sc->sessions, SCENARIO_MAX_SESSIONS);
    ck_assert(fabs(scenario_stage_target(sc, 0.5) - 5) < 1e-9);
    ck_assert(fabs(scenario_stage_target(sc, 1.5) - 4) < 1e-9);
    /* --shard 2/3 runs a third of each stage, the first hosts taking the remainders */
    struct scenario_overrides o;
    scenario_overrides_init(&o);
    o.shard_index = 2;
    o.shard_count = 3;
    ck_assert_msg(scenario_apply_overrides(sc, &o, err, sizeof err) == 0, "%s", err);
    ck_assert(sc->stages[0].target == 3 && sc->stages[1].target == 1);
    unparse(sc);
}
END_TEST

static const struct {
    const char *load; /* the "load" object */
    const char *want; /* in the message: the path and the reason */
} bad[] = {
    {"{\"stages\": []}", "$.load.stages: expected an array of 1 to 64 stages, got an empty array"},
    {"{\"stages\": {}}", "$.load.stages: expected an array of 1 to 64 stages"},
    {"{\"stages\": [{\"rate\": 5}]}", "$.load.stages[0]: required key \"duration\" missing"},
    {"{\"stages\": [{\"duration\": 1}]}", "$.load.stages[0]: a stage takes \"rate\""},
    {"{\"stages\": [{\"duration\": 1, \"rate\": 1, \"sessions\": 1}]}",
     "$.load.stages[0]: a stage takes \"rate\" or \"sessions\", not both"},
    {"{\"stages\": [{\"duration\": 1, \"rate\": 1}, {\"duration\": 1, \"sessions\": 2}]}",
     "$.load.stages[1]: every stage takes \"rate\""},
    {"{\"stages\": [{\"duration\": 0, \"rate\": 1}]}",
     "$.load.stages[0].duration: expected a number of seconds > 0, got 0"},
    {"{\"stages\": [{\"duration\": 1, \"rate\": -1}]}",
     "$.load.stages[0].rate: expected a number >= 0, got -1"},
    {"{\"stages\": [{\"duration\": 1, \"sessions\": 1.5}]}",
     "$.load.stages[0].sessions: expected an integer 0..1000000, got 1.5"},
    {"{\"stages\": [{\"duration\": 1, \"rate\": 1, \"ramp\": 1}]}",
     "$.load.stages[0].ramp: expected true or false, got 1"},
    {"{\"stages\": [{\"duration\": 1, \"rate\": 1, \"hold\": 1}]}",
     "$.load.stages[0]: unknown key \"hold\""},
    {"{\"stages\": [{\"duration\": 1, \"rate\": 0}]}",
     "$.load.stages: every stage's target is 0"},
    {"{\"mode\": \"closed\", \"stages\": [{\"duration\": 1, \"rate\": 1}]}",
     "$.load.mode: the stages give \"rate\""},
    {"{\"rate\": 5, \"mode\": \"open\", \"stages\": [{\"duration\": 1, \"rate\": 1}]}",
     "$.load.rate: not allowed with load.stages"},
    {"{\"duration\": 5, \"stages\": [{\"duration\": 1, \"rate\": 1}]}",
     "$.load.duration: not allowed with load.stages"},
    {"{\"concurrency\": 5, \"stages\": [{\"duration\": 1, \"sessions\": 1}]}",
     "$.load.concurrency: not allowed with load.stages"},
    {"{\"ramp_up\": 5, \"stages\": [{\"duration\": 1, \"sessions\": 1}]}",
     "$.load.ramp_up: not allowed with load.stages"},
    {"{\"sessions\": 3, \"stages\": [{\"duration\": 1, \"sessions\": 5}]}",
     "$.load.sessions: expected at least the stages' peak of 5"},
    {"{\"warm_up\": 2, \"stages\": [{\"duration\": 1, \"rate\": 5}]}",
     "$.load.warm_up: expected fewer seconds than the stages last (1)"},
};

START_TEST(bad_stages_name_their_path)
{
    char json[1024], err[512] = "";
    snprintf(json, sizeof json, "{\"name\": \"s\", \"load\": %s, " STEPS "}", bad[_i].load);
    struct scenario *sc = parse(json, -1, err, sizeof err);
    ck_assert_msg(strstr(err, bad[_i].want) != NULL, "got: %s\nwant: %s", err, bad[_i].want);
    unparse(sc);
}
END_TEST

START_TEST(options_beside_stages_refused)
{
    static const struct {
        const char *opt, *value, *stage_key;
    } cases[] = {
        {"--rate", "50", "rate"},
        {"--duration", "3", "rate"},
        {"--concurrency", "3", "sessions"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char json[512], err[512] = "";
        snprintf(json, sizeof json,
                 "{\"name\": \"s\", \"load\": {\"stages\": [{\"duration\": 1, \"%s\": 4}]}, " STEPS
                 "}",
                 cases[i].stage_key);
        struct scenario *sc = parse(json, 0, err, sizeof err);
        struct scenario_overrides o;
        scenario_overrides_init(&o);
        ck_assert_int_eq(scenario_override_option(&o, cases[i].opt, cases[i].value, err,
                                                  sizeof err), 1);
        ck_assert_int_eq(scenario_apply_overrides(sc, &o, err, sizeof err), -1);
        ck_assert_msg(strncmp(err, cases[i].opt, strlen(cases[i].opt)) == 0 &&
                          strstr(err, "load.stages") != NULL,
                      "%s: %s", cases[i].opt, err);
        unparse(sc);
    }
}
END_TEST

/* Runs msrpload with args in t (60 s at most); the exit code. */
static int run(struct tmp *t, const char *args)
{
    char *cmd;
    ck_assert_int_ge(asprintf(&cmd, "timeout 60 %s %s >%s/out 2>%s/err", msrpload_binary(), args,
                              t->dir, t->dir),
                     0);
    int st = system(cmd);
    free(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Runs the scenario text as c.json in t's directory (exit 0 asserted) and returns its
 * summary.json, for the caller to json_decref. */
static json_t *run_scenario(struct tmp *t, const char *scenario)
{
    char path[300], args[600];
    snprintf(path, sizeof path, "%s/c.json", t->dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(scenario, f);
    fclose(f);
    snprintf(args, sizeof args, "run %s --quiet --out %s/r", path, t->dir);
    int code = run(t, args);
    ck_assert_msg(code == 0, "exit %d", code);
    snprintf(path, sizeof path, "%s/r/summary.json", t->dir);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    ck_assert_msg(j != NULL, "%s: %s", path, je.text);
    return j;
}

/* The time series' columns by name, one row a second. */
struct series {
    size_t rows;
    char cells[64][20][24];
};

static void read_series(const char *path, const char *const names[], size_t n, struct series *s,
                        int idx[])
{
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char line[1024];
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    line[strcspn(line, "\r\n")] = '\0';
    for (size_t k = 0; k < n; k++)
        idx[k] = -1;
    int col = 0;
    char *save = line, *tok;
    while ((tok = strsep(&save, ",")) != NULL) {
        for (size_t k = 0; k < n; k++)
            if (strcmp(tok, names[k]) == 0)
                idx[k] = col;
        col++;
    }
    for (size_t k = 0; k < n; k++)
        ck_assert_msg(idx[k] >= 0, "no column %s", names[k]);
    s->rows = 0;
    while (s->rows < 64 && fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        save = line;
        for (col = 0; col < 20 && (tok = strsep(&save, ",")) != NULL; col++)
            snprintf(s->cells[s->rows][col], sizeof s->cells[0][0], "%s", tok);
        s->rows++;
    }
    fclose(f);
}

START_TEST(staged_open_run_follows_the_stages)
{
    struct tmp t;
    tmp_make(&t);
    char args[512];
    snprintf(args, sizeof args, "run scenarios/stages.json --quiet --out %s/r", t.dir);
    int code = run(&t, args);
    ck_assert_msg(code == 0, "exit %d", code);
    /* Each second's stage: 2 s ramp, 2 s hold, 2 s step, 2 s ramp down. */
    char path[300];
    snprintf(path, sizeof path, "%s/r/timeseries.csv", t.dir);
    static const char *const names[] = {"second", "msgs_sent", "stage", "target_rate"};
    int idx[4];
    static struct series s;
    read_series(path, names, 4, &s, idx);
    ck_assert_uint_ge(s.rows, 8);
    static const char *const stage_of[] = {"0", "0", "1", "1", "2", "2", "3", "3"};
    long sent = 0;
    double asked = 0;
    for (size_t r = 0; r < s.rows; r++) {
        if (r < 8)
            ck_assert_msg(strcmp(s.cells[r][idx[2]], stage_of[r]) == 0,
                          "second %zu: stage '%s', want %s", r, s.cells[r][idx[2]], stage_of[r]);
        else
            ck_assert_str_eq(s.cells[r][idx[2]], ""); /* after the stages: none */
        sent += atol(s.cells[r][idx[1]]);
        asked += atof(s.cells[r][idx[3]]);
    }
    /* The second at the full 1000 msg/s step asked for 1000 messages. */
    ck_assert(fabs(atof(s.cells[4][idx[3]]) - 1000) < 1e-6);
    /* 500 + 1000 + 2000 + 1000 messages scheduled over the stages; what left is within 3%
     * (sessions bind in the first milliseconds, a late last one may miss the end). */
    ck_assert(fabs(asked - 4500) < 1e-6);
    ck_assert_msg(labs(sent - 4500) <= 135, "%ld messages sent, 4500 scheduled", sent);

    snprintf(path, sizeof path, "%s/r/summary.json", t.dir);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    ck_assert_ptr_nonnull(j);
    json_t *lag = json_object_get(json_object_get(j, "latency_us"), "schedule-lag");
    ck_assert_int_gt(json_integer_value(json_object_get(lag, "count")), 4000);
    ck_assert_ptr_nonnull(json_object_get(lag, "p99"));
    json_t *ol = json_object_get(j, "open_loop");
    ck_assert(fabs(json_number_value(json_object_get(ol, "requested_messages")) - 4500) < 1e-6);
    double ratio = json_number_value(json_object_get(ol, "ratio"));
    ck_assert_msg(ratio > 0.97 && ratio <= 1.0, "ratio %f", ratio);
    json_t *stages = json_object_get(j, "stages");
    ck_assert_uint_eq(json_array_size(stages), 4);
    static const double want[] = {500, 1000, 2000, 1000};
    for (size_t i = 0; i < 4; i++) {
        json_t *st = json_array_get(stages, i);
        double n = (double)json_integer_value(json_object_get(st, "sent"));
        ck_assert_msg(fabs(n - want[i]) <= want[i] * 0.05 + 20, "stage %zu: %f sent", i, n);
        ck_assert_ptr_nonnull(json_object_get(st, "achieved_rate"));
    }
    ck_assert(fabs(json_number_value(json_object_get(json_array_get(stages, 2), "rate")) -
                   1000) < 1e-9);
    json_decref(j);

    /* merge reads it back whole: the stages and the series' columns survive. */
    snprintf(args, sizeof args, "merge %s/r --out %s/m", t.dir, t.dir);
    code = run(&t, args);
    ck_assert_msg(code == 0, "merge exit %d", code);
    snprintf(path, sizeof path, "%s/m/summary.json", t.dir);
    j = json_load_file(path, 0, &je);
    ck_assert_ptr_nonnull(j);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "stages")), 4);
    ck_assert(fabs(json_number_value(json_object_get(json_object_get(j, "open_loop"),
                                                     "requested_messages")) -
                   4500) < 1e-6);
    json_decref(j);
    snprintf(path, sizeof path, "%s/m/timeseries.csv", t.dir);
    read_series(path, names, 4, &s, idx);
    ck_assert_str_eq(s.cells[4][idx[2]], "2");
    tmp_remove(&t);
}
END_TEST

START_TEST(staged_closed_run_follows_the_stages)
{
    struct tmp t;
    tmp_make(&t);
    char json[600], path[300], args[600];
    snprintf(path, sizeof path, "%s/c.json", t.dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("{\"name\": \"c\", \"load\": {\"threads\": 2, \"stages\": ["
          "{\"duration\": 1, \"sessions\": 6, \"ramp\": false},"
          "{\"duration\": 1, \"sessions\": 2, \"ramp\": false}]},"
          " \"steps\": [{\"repeat\": {\"times\": 0, \"steps\": [{\"send\": {}},"
          " {\"pause\": 0.01}]}}]}",
          f);
    fclose(f);
    (void)json;
    snprintf(args, sizeof args, "run %s --quiet --out %s/r", path, t.dir);
    int code = run(&t, args);
    ck_assert_msg(code == 0, "exit %d", code);
    snprintf(path, sizeof path, "%s/r/summary.json", t.dir);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    ck_assert_ptr_nonnull(j);
    /* 6 sessions at once, then 4 of them close: every start is counted, none failed. */
    json_t *sess = json_object_get(j, "sessions");
    ck_assert_int_eq(json_integer_value(json_object_get(sess, "started")), 6);
    ck_assert_int_eq(json_integer_value(json_object_get(sess, "failed")), 0);
    json_t *stages = json_object_get(j, "stages");
    ck_assert_uint_eq(json_array_size(stages), 2);
    ck_assert(json_number_value(json_object_get(json_array_get(stages, 1), "sessions")) == 2);
    ck_assert_ptr_null(json_object_get(j, "open_loop")); /* a closed loop has no schedule */
    json_decref(j);
    tmp_remove(&t);
}
END_TEST

/*
 * The pacing grid: a message due on a grid point waits for it exactly, one due between two
 * waits for the next, one whose point has passed leaves at once; grid 0 or 1 is no grid.
 */
START_TEST(pacing_grid_wait)
{
    const uint64_t t0 = 1000000, g = RUNNER_PACE_GRID_NS;
    ck_assert_uint_eq(runner_sched_grid_wait(t0, g, t0 + 5 * g, t0 + 2 * g), 3 * g);
    ck_assert_uint_eq(runner_sched_grid_wait(t0, g, t0 + 5 * g + 1, t0 + 2 * g), 4 * g);
    ck_assert_uint_eq(runner_sched_grid_wait(t0, g, t0 + 6 * g - 1, t0 + 2 * g), 4 * g);
    ck_assert_uint_eq(runner_sched_grid_wait(t0, g, t0 + 5 * g + 1, t0 + 6 * g), 0);
    ck_assert_uint_eq(runner_sched_grid_wait(t0, g, t0 + 5 * g, t0 + 9 * g), 0);
    ck_assert_uint_eq(runner_sched_grid_wait(t0, 0, t0 + 7, t0), 7);
    ck_assert_uint_eq(runner_sched_grid_wait(t0, 1, t0 + 7, t0 + 3), 4);
    ck_assert_uint_eq(runner_sched_grid_wait(t0, g, t0 - 5, t0 - 10), 5); /* before t0: no grid */
}
END_TEST

/*
 * An open-loop session that fell behind: the messages that came due while it was held up (a
 * pause step here, where the schedule runs on) leave afterwards, each counted late by its
 * lag, across the repeat's one-message send steps: they are neither dropped nor rescheduled.
 */
START_TEST(open_loop_catches_up_after_a_hold_up)
{
    struct tmp t;
    tmp_make(&t);
    json_t *j = run_scenario(
        &t, "{\"name\": \"c\", \"load\": {\"mode\": \"open\", \"rate\": 200, \"sessions\": 1,"
            " \"concurrency\": 1, \"threads\": 1, \"duration\": 2, \"warm_up\": 0},"
            " \"steps\": [{\"send\": {}}, {\"pause\": 0.5},"
            " {\"repeat\": {\"times\": 0, \"steps\": [{\"send\": {}}]}}]}");
    json_t *ol = json_object_get(j, "open_loop");
    double requested = json_number_value(json_object_get(ol, "requested_messages"));
    double sent = (double)json_integer_value(json_object_get(ol, "sent"));
    ck_assert(fabs(requested - 400) < 1e-6);
    /* The ~100 held up and more after them went, in the 1.5 s the run goes on after the
     * pause (a loaded machine may leave the last ones of the run unsent: not asserted). */
    ck_assert_msg(sent >= 150 && sent <= 400, "%f of 400 sent", sent);
    /* The ~100 due during the pause were late by up to its length: their lag says so. */
    json_t *lag = json_object_get(json_object_get(j, "latency_us"), "schedule-lag");
    ck_assert_int_ge(json_integer_value(json_object_get(lag, "max")), 400000);
    json_decref(j);
    tmp_remove(&t);
}
END_TEST

/*
 * Open-loop sessions that end and are replaced: each slot's schedule goes on in its next
 * session, so short sessions send at the rate asked for. A new session that sent its first
 * message at once sent one per set-up time here (hundreds), far over the 80 scheduled. Only
 * an upper bound is asserted: a loaded machine may send fewer.
 */
START_TEST(open_loop_replaced_sessions_keep_the_rate)
{
    struct tmp t;
    tmp_make(&t);
    json_t *j = run_scenario(
        &t, "{\"name\": \"c\", \"load\": {\"mode\": \"open\", \"rate\": 40, \"sessions\": 100000,"
            " \"concurrency\": 4, \"threads\": 1, \"duration\": 2, \"warm_up\": 0},"
            " \"steps\": [{\"send\": {}}]}");
    json_int_t sent = json_integer_value(json_object_get(json_object_get(j, "messages"), "sent"));
    json_int_t started =
        json_integer_value(json_object_get(json_object_get(j, "sessions"), "started"));
    /* 40/s over 2 s, and each of the 4 slots' last one may be due at the very end */
    ck_assert_msg(sent >= 1 && sent <= 84, "%lld sent, 80 scheduled", (long long)sent);
    ck_assert_msg(started <= sent + 4, "%lld sessions for %lld messages", (long long)started,
                  (long long)sent);
    json_decref(j);
    tmp_remove(&t);
}
END_TEST

Suite *make_stages_suite(void)
{
    Suite *s = suite_create("stages");
    TCase *tc = tcase_create("Stages");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, open_stages_read_and_scheduled);
    tcase_add_test(tc, closed_stages_read);
    tcase_add_loop_test(tc, bad_stages_name_their_path, 0, (int)(sizeof bad / sizeof bad[0]));
    tcase_add_test(tc, options_beside_stages_refused);
    tcase_add_test(tc, staged_open_run_follows_the_stages);
    tcase_add_test(tc, staged_closed_run_follows_the_stages);
    tcase_add_test(tc, pacing_grid_wait);
    tcase_add_test(tc, open_loop_catches_up_after_a_hold_up);
    tcase_add_test(tc, open_loop_replaced_sessions_keep_the_rate);
    suite_add_tcase(s, tc);
    return s;
}
