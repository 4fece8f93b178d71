/*
 * check_distrib.c - message sizes and think times from distributions (src/scenario/distrib.c):
 * the seeded generator; each distribution checked against its parameters with fixed seeds
 * (means, variances and quantiles within five standard errors of the sample size, so the
 * checks are deterministic and a wrong parameter fails them); table files and scenario keys
 * refused with their file, path and line; and runs whose report's byte counts are exactly the
 * sizes the sessions' seeds draw, the same whatever the threads.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "scenario/distrib.h"
#include "scenario/scenario.h"
#include "suites.h"
#include "testutil.h"

#define N 200000
/* Five standard errors: a correct draw falls outside with a probability under 1e-6, and the
 * seeds are fixed, so a test passes or fails the same every time. */
#define Z 5.0

static void near(double got, double want, double se, const char *what)
{
    ck_assert_msg(fabs(got - want) <= Z * se, "%s: got %.6g, want %.6g +- %.3g", what, got, want,
                  Z * se);
}

START_TEST(generator_is_seeded_per_session)
{
    struct distrib_rng a, b, c;
    distrib_rng_session(&a, 42, 7);
    distrib_rng_session(&b, 42, 7);
    distrib_rng_session(&c, 42, 8);
    int same_c = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = distrib_next(&a);
        ck_assert_uint_eq(x, distrib_next(&b));
        same_c += x == distrib_next(&c);
    }
    ck_assert_int_eq(same_c, 0);
    /* seed 0 is a seed like any other (xoshiro's state is never all zero) */
    distrib_rng_seed(&a, 0);
    ck_assert(a.s[0] | a.s[1] | a.s[2] | a.s[3]);
    ck_assert_uint_ne(distrib_next(&a), distrib_next(&a));
    /* unit in [0, 1), below in 0..n-1 with every residue as likely */
    unsigned counts[7] = {0};
    for (int i = 0; i < 70000; i++) {
        double u = distrib_unit(&a);
        ck_assert(u >= 0 && u < 1);
        counts[distrib_below(&a, 7)]++;
    }
    for (int k = 0; k < 7; k++)
        near(counts[k], 10000, sqrt(70000 * (1.0 / 7) * (6.0 / 7)), "below(7)");
    ck_assert_uint_eq(distrib_below(&a, 1), 0);
}
END_TEST

START_TEST(uniform_sizes_follow_their_parameters)
{
    struct distrib d = {.kind = DISTRIB_UNIFORM, .min = 10, .max = 20};
    struct distrib_rng r;
    distrib_rng_seed(&r, 1);
    double sum = 0, sum2 = 0;
    unsigned seen[11] = {0};
    for (int i = 0; i < N; i++) {
        uint64_t x = distrib_draw_u64(&d, &r);
        ck_assert(x >= 10 && x <= 20);
        seen[x - 10]++;
        sum += (double)x;
        sum2 += (double)x * (double)x;
    }
    double mean = sum / N, var = sum2 / N - mean * mean;
    /* the discrete uniform over k = 11 values: variance (k^2 - 1) / 12, fourth central moment
     * (k^2 - 1)(3k^2 - 7) / 240 */
    double k = 11, v = (k * k - 1) / 12, m4 = (k * k - 1) * (3 * k * k - 7) / 240;
    near(mean, 15, sqrt(v / N), "uniform mean");
    near(var, v, sqrt((m4 - v * v) / N), "uniform variance");
    for (int i = 0; i < 11; i++) /* both ends included */
        near(seen[i], N / 11.0, sqrt(N * (1 / k) * (1 - 1 / k)), "uniform value count");
}
END_TEST

START_TEST(lognormal_sizes_follow_their_parameters)
{
    struct distrib d = {.kind = DISTRIB_LOGNORMAL, .mean = 1000, .stddev = 400, .min = 0,
                        .max = 1e12};
    distrib_lognormal_params(d.mean, d.stddev, &d.mu, &d.sigma);
    struct distrib_rng r;
    distrib_rng_seed(&r, 2);
    double sum = 0, lsum = 0, lsum2 = 0;
    unsigned below_median = 0, below_1sd = 0;
    for (int i = 0; i < N; i++) {
        double x = distrib_draw(&d, &r);
        sum += x;
        double l = log(x);
        lsum += l;
        lsum2 += l * l;
        below_median += x <= exp(d.mu);
        below_1sd += x <= exp(d.mu + d.sigma);
    }
    double lmean = lsum / N, lvar = lsum2 / N - lmean * lmean;
    near(sum / N, 1000, 400 / sqrt(N), "log-normal mean");
    /* log X is normal: its mean and variance, with a normal's standard errors */
    near(lmean, d.mu, d.sigma / sqrt(N), "mean of log");
    near(lvar, d.sigma * d.sigma, d.sigma * d.sigma * sqrt(2.0 / N), "variance of log");
    near((double)below_median / N, 0.5, sqrt(0.25 / N), "median");
    double p = 0.841344746;
    near((double)below_1sd / N, p, sqrt(p * (1 - p) / N), "quantile at mu + sigma");
    /* whole sizes: rounded, kept within a clamp */
    struct distrib c = d;
    c.min = 900;
    c.max = 1100;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = distrib_draw_u64(&c, &r);
        ck_assert(x >= 900 && x <= 1100);
    }
}
END_TEST

START_TEST(exponential_think_times_follow_their_mean)
{
    struct distrib d = {.kind = DISTRIB_EXPONENTIAL, .mean = 0.5, .min = 0, .max = 1e9};
    struct distrib_rng r;
    distrib_rng_seed(&r, 3);
    double sum = 0, sum2 = 0;
    unsigned above_mean = 0;
    for (int i = 0; i < N; i++) {
        double x = distrib_draw(&d, &r);
        ck_assert(x >= 0);
        sum += x;
        sum2 += x * x;
        above_mean += x > 0.5;
    }
    double mean = sum / N, var = sum2 / N - mean * mean;
    near(mean, 0.5, 0.5 / sqrt(N), "exponential mean");
    /* variance mean^2; fourth central moment 9 mean^4 */
    near(var, 0.25, sqrt(8 * 0.0625 / N), "exponential variance");
    double p = exp(-1); /* memoryless: P(X > mean) = 1/e */
    near((double)above_mean / N, p, sqrt(p * (1 - p) / N), "P(X > mean)");
}
END_TEST

START_TEST(table_sizes_follow_their_weights)
{
    static const char text[] = "# size,weight\n10,1\n\n 1000 , 3 \r\n5000,6\n";
    struct distrib_table *t = NULL;
    char err[256];
    ck_assert_int_eq(distrib_table_parse("t.csv", text, strlen(text), 1u << 20, &t, err,
                                         sizeof(err)),
                     0);
    ck_assert_uint_eq(t->n, 3);
    struct distrib d = {.kind = DISTRIB_TABLE, .table = t};
    struct distrib_rng r;
    distrib_rng_seed(&r, 4);
    unsigned n10 = 0, n1000 = 0, n5000 = 0;
    for (int i = 0; i < N; i++) {
        uint64_t x = distrib_draw_u64(&d, &r);
        n10 += x == 10;
        n1000 += x == 1000;
        n5000 += x == 5000;
    }
    ck_assert_uint_eq(n10 + n1000 + n5000, N);
    near((double)n10 / N, 0.1, sqrt(0.1 * 0.9 / N), "weight of 10");
    near((double)n1000 / N, 0.3, sqrt(0.3 * 0.7 / N), "weight of 1000");
    near((double)n5000 / N, 0.6, sqrt(0.6 * 0.4 / N), "weight of 5000");
    distrib_free(&d);
    distrib_free(&d); /* harmless twice */
    /* fixed: always its value */
    struct distrib f = {.kind = DISTRIB_FIXED, .value = 77, .min = 77, .max = 77};
    ck_assert_uint_eq(distrib_draw_u64(&f, &r), 77);
}
END_TEST

static const struct {
    const char *text, *msg;
} bad_tables[] = {
    {"10,1\n20\n", "t.csv line 2: expected a comma after the size"},
    {"10,1\n# x\n20,0\n", "t.csv line 3: expected a weight: a number > 0"},
    {"10,-1\n", "t.csv line 1: expected a weight: a number > 0"},
    {"x,1\n", "t.csv line 1: expected SIZE,WEIGHT with SIZE a whole number"},
    {"2000000,1\n", "t.csv line 1: the size is too large (at most 1048576)"},
    {"10,1 2\n", "t.csv line 1: unexpected text after the weight"},
    {"10,nan\n", "t.csv line 1: expected a weight"},
    {"# nothing\n\n", "t.csv: no SIZE,WEIGHT line"},
};

START_TEST(bad_tables_name_their_line)
{
    struct distrib_table *t = (void *)1;
    char err[256] = "";
    const char *text = bad_tables[_i].text;
    ck_assert_int_eq(distrib_table_parse("t.csv", text, strlen(text), 1u << 20, &t, err,
                                         sizeof(err)),
                     -1);
    ck_assert_ptr_null(t);
    ck_assert_msg(strstr(err, bad_tables[_i].msg) == err, "got \"%s\", want \"%s\"", err,
                  bad_tables[_i].msg);
}
END_TEST

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* A scenario with one send whose keys are SEND (and a load of LOAD) parsed; returns its
 * error ("" when it loaded). */
static void parse_send(const char *load, const char *send, char *err, size_t cap,
                       struct scenario *sc)
{
    char text[2048];
    snprintf(text, sizeof(text),
             "{\"name\":\"d\",\"load\":{%s},\"steps\":[{\"send\":{%s}}]}", load, send);
    err[0] = '\0';
    if (scenario_parse("d.json", text, strlen(text), sc, err, cap) == 0)
        err[0] = '\0';
}

START_TEST(scenario_reads_distributions)
{
    struct tmp t;
    tmp_make(&t);
    char path[128], send[512], err[1024];
    snprintf(path, sizeof(path), "%s/sizes.csv", t.dir);
    write_file(path, "100,1\n300,1\n");
    struct scenario sc;
    /* a number stays a fixed size; {min, max} stays uniform */
    parse_send("", "\"size\": 42", err, sizeof(err), &sc);
    ck_assert_str_eq(err, "");
    ck_assert_int_eq(sc.steps[0].u.send.size.kind, DISTRIB_FIXED);
    ck_assert_uint_eq(sc.steps[0].u.send.size_min, 42);
    ck_assert_uint_eq(sc.steps[0].u.send.size_max, 42);
    scenario_free(&sc);
    parse_send("", "\"size\": {\"min\": 5, \"max\": 9}, \"think\": {\"min\": 0.1, \"max\": 0.2}",
               err, sizeof(err), &sc);
    ck_assert_str_eq(err, "");
    ck_assert_int_eq(sc.steps[0].u.send.size.kind, DISTRIB_UNIFORM);
    ck_assert_int_eq(sc.steps[0].u.send.think.kind, DISTRIB_UNIFORM);
    ck_assert_double_eq(sc.steps[0].u.send.think.max, 0.2);
    scenario_free(&sc);
    parse_send("\"seed\": 99", "\"size\": {\"dist\": \"lognormal\", \"mean\": 500, "
               "\"stddev\": 100, \"max\": 4000}, \"think\": {\"dist\": \"exponential\", "
               "\"mean\": 0.25}", err, sizeof(err), &sc);
    ck_assert_str_eq(err, "");
    ck_assert(sc.seed_given);
    ck_assert_uint_eq(sc.seed, 99);
    ck_assert_int_eq(sc.steps[0].u.send.size.kind, DISTRIB_LOGNORMAL);
    ck_assert_uint_eq(sc.steps[0].u.send.size_max, 4000);
    ck_assert_int_eq(sc.steps[0].u.send.think.kind, DISTRIB_EXPONENTIAL);
    scenario_free(&sc);
    snprintf(send, sizeof(send), "\"size\": {\"dist\": \"table\", \"file\": \"%s\"}", path);
    parse_send("", send, err, sizeof(err), &sc);
    ck_assert_str_eq(err, "");
    ck_assert_int_eq(sc.steps[0].u.send.size.kind, DISTRIB_TABLE);
    ck_assert_uint_eq(sc.steps[0].u.send.size_min, 100);
    ck_assert_uint_eq(sc.steps[0].u.send.size_max, 300);
    scenario_free(&sc);

    /* errors name the file, the JSON path and, in a table, the line */
    write_file(path, "100,1\n300\n");
    parse_send("", send, err, sizeof(err), &sc);
    char want[512];
    snprintf(want, sizeof(want),
             "d.json: $.steps[0].send.size.file: %s line 2: expected a comma after the size", path);
    ck_assert_msg(strstr(err, want) == err, "got \"%s\"", err);
    snprintf(send, sizeof(send), "\"size\": {\"dist\": \"table\", \"file\": \"%s/none.csv\"}",
             t.dir);
    parse_send("", send, err, sizeof(err), &sc);
    snprintf(want, sizeof(want), "d.json: $.steps[0].send.size.file: cannot open %s/none.csv",
             t.dir);
    ck_assert_msg(strstr(err, want) == err, "got \"%s\"", err);
    static const struct {
        const char *load, *send, *msg;
    } bad[] = {
        {"", "\"size\": {\"dist\": \"normal\"}",
         "d.json: $.steps[0].send.size.dist: expected one of \"fixed\", \"uniform\", "
         "\"lognormal\", \"table\""},
        {"", "\"size\": {\"dist\": \"lognormal\", \"mean\": 10}",
         "d.json: $.steps[0].send.size: \"dist\": \"lognormal\" needs \"stddev\""},
        {"", "\"size\": {\"dist\": \"lognormal\", \"mean\": 10, \"stddev\": 1, \"min\": 20}",
         "d.json: $.steps[0].send.size.mean: expected a mean within min..max"},
        {"", "\"size\": {\"dist\": \"uniform\", \"min\": 9, \"max\": 5}",
         "d.json: $.steps[0].send.size.max: expected an integer >= min (9), got 5"},
        {"", "\"size\": {\"dist\": \"fixed\", \"value\": 1, \"mean\": 2}",
         "d.json: $.steps[0].send.size: unknown key \"mean\""},
        {"", "\"think\": {\"dist\": \"lognormal\", \"mean\": 1, \"stddev\": 1}",
         "d.json: $.steps[0].send.think.dist: expected one of \"fixed\", \"uniform\", "
         "\"exponential\""},
        {"", "\"think\": -1", "d.json: $.steps[0].send.think: expected"},
        {"\"mode\": \"open\", \"rate\": 10", "\"think\": 0.5",
         "d.json: $.steps[0].send.think: not allowed when load.mode is \"open\""},
        {"\"seed\": -1", "", "d.json: $.load.seed: expected an integer"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        parse_send(bad[i].load, bad[i].send, err, sizeof(err), &sc);
        ck_assert_msg(strstr(err, bad[i].msg) == err, "case %zu: got \"%s\", want \"%s\"", i,
                      err, bad[i].msg);
    }
    /* pause takes a distribution too (seconds: exponential, not lognormal) */
    static const char pause[] = "{\"name\":\"d\",\"steps\":[{\"pause\":{\"dist\":"
                                "\"exponential\",\"mean\":0.01}},{\"send\":{}}]}";
    ck_assert_int_eq(scenario_parse("d.json", pause, strlen(pause), &sc, err, sizeof(err)), 0);
    ck_assert_int_eq(sc.steps[0].kind, SCN_STEP_PAUSE);
    ck_assert_int_eq(sc.steps[0].pause_dist.kind, DISTRIB_EXPONENTIAL);
    ck_assert_double_eq(sc.steps[0].pause_dist.mean, 0.01);
    scenario_free(&sc);
    static const char bad_pause[] = "{\"name\":\"d\",\"steps\":[{\"pause\":{\"dist\":"
                                    "\"lognormal\",\"mean\":1,\"stddev\":1}}]}";
    ck_assert_int_eq(
        scenario_parse("d.json", bad_pause, strlen(bad_pause), &sc, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "d.json: $.steps[0].pause.dist: expected one of") == err, "%s",
                  err);
    /* --rate makes a closed scenario open: its think times are refused then */
    parse_send("", "\"think\": 0.5", err, sizeof(err), &sc);
    ck_assert_str_eq(err, "");
    struct scenario_overrides o;
    scenario_overrides_init(&o);
    ck_assert_int_eq(scenario_override_option(&o, "--rate", "10", err, sizeof(err)), 1);
    ck_assert_int_eq(scenario_override_option(&o, "--seed", "7", err, sizeof(err)), 1);
    ck_assert_int_eq(scenario_apply_overrides(&sc, &o, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "--rate: not allowed with the scenario's send.think") == err,
                  "got \"%s\"", err);
    scenario_free(&sc);
    ck_assert_int_eq(scenario_override_option(&o, "--seed", "-3", err, sizeof(err)), -1);
    tmp_remove(&t);
}
END_TEST

static int run_cmd(struct tmp *t, const char *args)
{
    char *cmd;
    ck_assert_int_ge(asprintf(&cmd, "timeout 60 %s %s >%s/out 2>%s/err", msrpload_binary(), args,
                              t->dir, t->dir),
                     0);
    int st = system(cmd);
    free(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static json_t *summary(const char *dir, const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s/summary.json", dir, name);
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    ck_assert_msg(j != NULL, "%s: %s", path, e.text);
    return j;
}

static json_int_t jget(json_t *j, const char *a, const char *b)
{
    json_t *v = json_object_get(json_object_get(j, a), b);
    ck_assert_msg(json_is_integer(v), "%s.%s is no integer", a, b);
    return json_integer_value(v);
}

#define RUN_SESSIONS 8
#define RUN_COUNT 25

/*
 * A run's report counts exactly the bytes the sessions' generators draw: session n of a
 * one-thread run is numbered n, and with two threads the sessions are numbered 0..7 all the
 * same (worker w's k-th is 2k + w), so the totals agree whatever the threads did when.
 */
START_TEST(run_sizes_follow_the_configuration)
{
    struct tmp t;
    tmp_make(&t);
    char path[128], args[512], text[1024];
    snprintf(path, sizeof(path), "%s/sizes.csv", t.dir);
    write_file(path, "# chat and the odd picture\n20,8\n300,3\n40000,1\n");
    snprintf(text, sizeof(text),
             "{\"name\":\"d\",\"load\":{\"sessions\":%d,\"concurrency\":4,\"duration\":30,"
             "\"outstanding\":3},\"steps\":[{\"send\":{\"count\":%d,\"size\":{\"dist\":\"table\","
             "\"file\":\"%s\"},\"think\":{\"dist\":\"exponential\",\"mean\":0.002}}},"
             "{\"expect\":{\"status\":200}}]}",
             RUN_SESSIONS, RUN_COUNT, path);
    char scn[128];
    snprintf(scn, sizeof(scn), "%s/d.json", t.dir);
    write_file(scn, text);
    /* what the sizes must add up to, drawn here as each session draws them */
    struct scenario sc;
    char err[512];
    ck_assert_int_eq(scenario_load(scn, &sc, err, sizeof(err)), 0);
    const uint64_t seed = 123456789;
    uint64_t want = 0;
    for (uint64_t n = 0; n < RUN_SESSIONS; n++) {
        struct distrib_rng r;
        distrib_rng_session(&r, seed, n);
        for (int m = 0; m < RUN_COUNT; m++) {
            want += distrib_draw_u64(&sc.steps[0].u.send.size, &r);
            (void)distrib_draw(&sc.steps[0].u.send.think, &r); /* each message draws both */
        }
    }
    scenario_free(&sc);
    static const char *const threads[] = {"1", "2"};
    for (int i = 0; i < 2; i++) {
        snprintf(args, sizeof(args), "run %s --seed %llu --threads %s --out %s/r%d --quiet", scn,
                 (unsigned long long)seed, threads[i], t.dir, i);
        int rc = run_cmd(&t, args);
        ck_assert_msg(rc == 0, "exit %d with --threads %s", rc, threads[i]);
        char name[16];
        snprintf(name, sizeof(name), "r%d", i);
        json_t *j = summary(t.dir, name);
        ck_assert_int_eq(jget(j, "messages", "ok"), RUN_SESSIONS * RUN_COUNT);
        ck_assert_int_eq(jget(j, "throughput", "payload_bytes"), (json_int_t)want);
        ck_assert_int_eq(jget(j, "config", "seed"), (json_int_t)seed);
        json_decref(j);
    }
    /* another seed draws other sizes (8 * 25 draws from 3 values: equal totals are
     * practically impossible, and the seed is fixed, so this is deterministic too) */
    snprintf(args, sizeof(args), "run %s --seed 1 --out %s/r2 --quiet", scn, t.dir);
    ck_assert_int_eq(run_cmd(&t, args), 0);
    json_t *j = summary(t.dir, "r2");
    ck_assert_int_ne(jget(j, "throughput", "payload_bytes"), (json_int_t)want);
    json_decref(j);
    tmp_remove(&t);
}
END_TEST

/* A fixed think time spaces a session's messages: the eleven cannot leave in less than ten
 * think times and the pause between (a lower bound only: the machine may be slower, never
 * faster). Without --seed the run draws a seed and records it. */
START_TEST(run_think_time_spaces_messages)
{
    struct tmp t;
    tmp_make(&t);
    char scn[128], args[512];
    snprintf(scn, sizeof(scn), "%s/d.json", t.dir);
    write_file(scn, "{\"name\":\"d\",\"load\":{\"sessions\":2,\"duration\":30,\"outstanding\":4},"
                    "\"steps\":[{\"send\":{\"count\":10,\"think\":0.05}},"
                    "{\"pause\":{\"min\":0.2,\"max\":0.2}},{\"send\":{}}]}");
    snprintf(args, sizeof(args), "run %s --out %s/r --threads 1 --quiet", scn, t.dir);
    ck_assert_int_eq(run_cmd(&t, args), 0);
    json_t *j = summary(t.dir, "r");
    ck_assert_int_eq(jget(j, "messages", "ok"), 22);
    /* nine think times, the tenth before the last send, and the pause drawn from 0.2..0.2 */
    double elapsed = json_real_value(json_object_get(json_object_get(j, "run"), "elapsed_s"));
    ck_assert_msg(elapsed >= 10 * 0.05 + 0.2, "elapsed %g s", elapsed);
    ck_assert(json_is_integer(json_object_get(json_object_get(j, "config"), "seed")));
    json_decref(j);
    tmp_remove(&t);
}
END_TEST

Suite *make_distrib_suite(void)
{
    Suite *s = suite_create("distrib");
    TCase *tc = tcase_create("Distributions");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, generator_is_seeded_per_session);
    tcase_add_test(tc, uniform_sizes_follow_their_parameters);
    tcase_add_test(tc, lognormal_sizes_follow_their_parameters);
    tcase_add_test(tc, exponential_think_times_follow_their_mean);
    tcase_add_test(tc, table_sizes_follow_their_weights);
    tcase_add_loop_test(tc, bad_tables_name_their_line, 0,
                        (int)(sizeof bad_tables / sizeof bad_tables[0]));
    tcase_add_test(tc, scenario_reads_distributions);
    tcase_add_test(tc, run_sizes_follow_the_configuration);
    tcase_add_test(tc, run_think_time_spaces_messages);
    suite_add_tcase(s, tc);
    return s;
}
