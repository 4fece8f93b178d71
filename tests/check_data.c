/*
 * check_data.c - run --data FILE (src/scenario/data.c): the CSV read with its quotes, the
 * columns with a meaning checked, every mistake named by file, line and column; which row a
 * slot takes sequentially, randomly and per shard; {column} in raw templates ({password}
 * never); and runs whose report's byte counts show each session used its row's content_file,
 * a relay run whose accounts come from the file while its passwords reach no output, and a
 * run whose targets come from the file.
 */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fake_relay.h"
#include "scenario/scenario.h"
#include "suites.h"
#include "testutil.h"

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static struct scenario_data *parse_ok(const char *text)
{
    struct scenario_data *d = NULL;
    char err[512];
    int rc = scenario_data_parse("d.csv", text, strlen(text), &d, err, sizeof(err));
    ck_assert_msg(rc == 0, "%s", err);
    return d;
}

START_TEST(csv_read_with_quotes_and_columns)
{
    struct scenario_data *d =
        parse_ok("user,password,greeting,target\r\n"
                 "alice,\"pa,ss\",\"say \"\"hi\"\"\",msrp://127.0.0.1:2855/a;tcp\r\n"
                 "\n"
                 "bob,pw,,msrp://127.0.0.1:2856/b;tcp");
    ck_assert_uint_eq(d->num_cols, 4);
    ck_assert_uint_eq(d->num_rows, 2);
    ck_assert_int_eq(d->col_user, 0);
    ck_assert_int_eq(d->col_password, 1);
    ck_assert_int_eq(d->col_target, 3);
    ck_assert_int_eq(d->col_content_file, -1);
    const struct msrp_span *r0 = scenario_data_cells(d, 0), *r1 = scenario_data_cells(d, 1);
    ck_assert_str_eq(r0[1].ptr, "pa,ss");
    ck_assert_str_eq(r0[2].ptr, "say \"hi\"");
    ck_assert_uint_eq(r0[2].len, 8);
    ck_assert_str_eq(r1[0].ptr, "bob");
    ck_assert_uint_eq(r1[2].len, 0);
    ck_assert_uint_eq(d->col_max[2], 8);
    ck_assert_uint_eq(d->row_line[1], 4); /* the blank line counted */
    const char *targets[SCENARIO_MAX_TARGETS];
    unsigned n = 0;
    char err[256];
    ck_assert_int_eq(scenario_data_targets(d, targets, &n, err, sizeof(err)), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(targets[1], "msrp://127.0.0.1:2856/b;tcp");
    ck_assert_uint_eq(d->target_index[1], 1);
    scenario_data_free(d);
}
END_TEST

static const struct {
    const char *text, *msg;
} bad_csv[] = {
    {"", "d.csv: empty: expected a header row of column names"},
    {"a,b\n", "d.csv: no rows after the header"},
    {"a,1b\nx,y\n", "d.csv line 1 column 2: expected a column name"},
    {"a,a\nx,y\n", "d.csv line 1 column 2: a column name given twice"},
    {"a,b\nx,y\nx,y,z\n", "d.csv line 3 column 3: more values than the header has columns"},
    {"a,b,c\nx,y\n", "d.csv line 2 column 3 (c): 2 values where the header has 3 columns"},
    {"a,b\nx,\"y\n", "d.csv line 2 column 2 (b): a quoted value is not closed"},
    {"a,b\nx,\"y\"z\n", "d.csv line 2 column 2 (b): text after a quoted value's closing quote"},
    {"a,b\nx,y\"z\n", "d.csv line 2 column 2 (b): a quote inside an unquoted value"},
    {"a,b\nx,\"y\tz\"\n", "d.csv line 2 column 2 (b): a control character"},
    {"user,b\nal ice,y\n", "d.csv line 2 column 1 (user): expected a user name of printable ASCII"},
    {"user,password\nalice,\n", "d.csv line 2 column 2 (password): expected a password of 1 to "
                                "511 bytes"},
    {"target\nhttp://x\n", "d.csv line 2 column 1 (target): expected an MSRP URI"},
    {"n,content_file\nx,/nonexistent/body\n",
     "d.csv line 2 column 2 (content_file): cannot open /nonexistent/body"},
};

START_TEST(csv_mistakes_name_line_and_column)
{
    struct scenario_data *d = (void *)1;
    char err[512] = "";
    const char *text = bad_csv[_i].text;
    ck_assert_int_eq(scenario_data_parse("d.csv", text, strlen(text), &d, err, sizeof(err)), -1);
    ck_assert_ptr_null(d);
    ck_assert_msg(strstr(err, bad_csv[_i].msg) == err, "got \"%s\", want \"%s\"", err,
                  bad_csv[_i].msg);
}
END_TEST

/* Rows naming the same content_file share one copy of it; each other name is read once. */
START_TEST(content_files_read_once_per_name)
{
    struct tmp t;
    tmp_make(&t);
    char a[128], b[128], csv[600];
    snprintf(a, sizeof a, "%s/a", t.dir);
    snprintf(b, sizeof b, "%s/b", t.dir);
    write_file(a, "alpha");
    write_file(b, "bravo!");
    snprintf(csv, sizeof csv, "content_file\n%s\n%s\n%s\n%s\n", a, b, a, b);
    struct scenario_data *d = parse_ok(csv);
    ck_assert_uint_eq(d->num_rows, 4);
    ck_assert_uint_eq(d->num_files, 2);
    ck_assert_ptr_eq(d->contents[0].ptr, d->contents[2].ptr);
    ck_assert_ptr_eq(d->contents[1].ptr, d->contents[3].ptr);
    ck_assert_ptr_ne(d->contents[0].ptr, d->contents[1].ptr);
    ck_assert_uint_eq(d->contents[0].len, 5);
    ck_assert_uint_eq(d->contents[3].len, 6);
    ck_assert(memcmp(d->contents[3].ptr, "bravo!", 6) == 0);
    scenario_data_free(d);
    tmp_remove(&t);
}
END_TEST

START_TEST(rows_taken_in_each_order)
{
    struct scenario_data *d = parse_ok("n\n0\n1\n2\n3\n4\n5\n6\n7\n8\n9\n");
    /* sequential: in turn over the slots of every host, round and round */
    for (uint64_t k = 0; k < 30; k++)
        ck_assert_uint_eq(scenario_data_row(d, k, k, 1, 0, 0), k % 10);
    ck_assert_uint_eq(scenario_data_row(d, 0, 13, 1, 2, 2), 3);
    /* random: drawn from the seed, the same for the same seed and slot */
    d->order = SCENARIO_DATA_RANDOM;
    unsigned seen[10] = {0};
    int differ = 0;
    for (uint64_t k = 0; k < 10000; k++) {
        size_t r = scenario_data_row(d, k, k, 42, 0, 0);
        ck_assert_uint_lt(r, 10);
        ck_assert_uint_eq(r, scenario_data_row(d, k, k, 42, 0, 0));
        differ += r != scenario_data_row(d, k, k, 43, 0, 0);
        seen[r]++;
    }
    for (int r = 0; r < 10; r++) /* about 1000 each: 5 standard errors is 150 */
        ck_assert_msg(seen[r] > 850 && seen[r] < 1150, "row %d drawn %u times", r, seen[r]);
    ck_assert_int_gt(differ, 8000);
    /* shard: host I of N takes its slice, in turn, whatever the global numbering */
    d->order = SCENARIO_DATA_SHARD;
    for (uint64_t k = 0; k < 20; k++) {
        size_t a = scenario_data_row(d, k, 2 * k, 1, 1, 3), b = scenario_data_row(d, k, 0, 1, 2, 3),
               c = scenario_data_row(d, k, 0, 1, 3, 3);
        ck_assert_uint_eq(a, k % 3);      /* rows 0..2 */
        ck_assert_uint_eq(b, 3 + k % 3);  /* rows 3..5 */
        ck_assert_uint_eq(c, 6 + k % 4);  /* rows 6..9 */
    }
    scenario_data_free(d);
    /* fewer rows than hosts: each host still gets one */
    d = parse_ok("n\n0\n");
    d->order = SCENARIO_DATA_SHARD;
    ck_assert_uint_eq(scenario_data_row(d, 5, 5, 1, 3, 4), 0);
    scenario_data_free(d);
}
END_TEST

START_TEST(templates_name_columns_but_never_the_password)
{
    static const char scn[] =
        "{\"name\":\"d\",\"steps\":[{\"raw\":{\"template\":\"HELLO {user} {greeting}\\r\\n\","
        "\"expect\":\"close\"}}]}";
    static const char scn_pw[] =
        "{\"name\":\"d\",\"steps\":[{\"raw\":{\"template\":\"HELLO {password}\\r\\n\","
        "\"expect\":\"close\"}}]}";
    struct scenario_data *d = parse_ok("user,password,greeting\nalice,s3cret,\"hi there\"\n");
    struct scenario sc;
    char err[1024];
    /* without --data, a column is an unknown placeholder ({user} a conformance one) */
    ck_assert_int_eq(scenario_parse("s.json", scn, strlen(scn), &sc, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "placeholder {user} is only allowed in conformance case files"),
                  "%s", err);
    ck_assert_int_eq(
        scenario_parse_with_data("s.json", scn, strlen(scn), d, &sc, err, sizeof(err)), 0);
    ck_assert_ptr_eq(sc.data, d);
    const struct step_raw *raw = &sc.steps[0].u.raw;
    struct scenario_vars vars = {.data = scenario_data_cells(d, 0)};
    char out[256];
    size_t n = scenario_template_expand(raw->pieces, raw->num_pieces, raw->text, &vars, out,
                                        sizeof(out));
    ck_assert_uint_eq(n, strlen("HELLO alice hi there\r\n"));
    ck_assert(memcmp(out, "HELLO alice hi there\r\n", n) == 0);
    /* the longest expansion counts each column's longest value */
    ck_assert_uint_eq(raw->max_len, n);
    scenario_free(&sc);
    ck_assert_int_eq(
        scenario_parse_with_data("s.json", scn_pw, strlen(scn_pw), d, &sc, err, sizeof(err)),
        -1);
    ck_assert_msg(strstr(err, "s.json: $.steps[0].raw.template: placeholder {password}") == err,
                  "%s", err);
    ck_assert_ptr_null(strstr(err, "s3cret"));
    scenario_data_free(d);
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

static json_t *summary(const struct tmp *t, const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s/summary.json", t->dir, name);
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

/* Bodies of 100, 200, 300 and 400 bytes, one per row, and a scenario of SESSIONS sessions
 * sending COUNT messages each. */
#define SESSIONS 8
#define COUNT 5
static void content_setup(const struct tmp *t, char *data, char *scn, size_t cap)
{
    char csv[1024] = "n,content_file\n";
    for (int r = 0; r < 4; r++) {
        char body[512], path[128];
        memset(body, 'a' + r, sizeof(body));
        body[(r + 1) * 100] = '\0';
        snprintf(path, sizeof(path), "%s/body%d", t->dir, r);
        write_file(path, body);
        size_t o = strlen(csv);
        snprintf(csv + o, sizeof(csv) - o, "%d,%s\n", r, path);
    }
    snprintf(data, cap, "%s/data.csv", t->dir);
    write_file(data, csv);
    snprintf(scn, cap, "%s/s.json", t->dir);
    char text[512];
    snprintf(text, sizeof(text),
             "{\"name\":\"d\",\"load\":{\"sessions\":%d,\"concurrency\":4,\"duration\":30},"
             "\"steps\":[{\"send\":{\"count\":%d}},{\"expect\":{\"status\":200}}]}",
             SESSIONS, COUNT);
    write_file(scn, text);
}

/*
 * Each session sends its row's content_file: the report's payload bytes are what the rows the
 * order gives the sessions add up to. Sequential with 8 sessions over 4 rows: each row twice.
 * Random: the rows scenario_data_row draws for that seed. Shard 1/2 and 2/2 of 8 sessions:
 * 4 each, the first host within rows 0..1, the second within rows 2..3.
 */
START_TEST(run_sessions_take_their_rows)
{
    struct tmp t;
    tmp_make(&t);
    char data[128], scn[128], args[512];
    content_setup(&t, data, scn, sizeof(data));
    static const struct {
        const char *extra;
        json_int_t want;
    } runs[] = {
        {"--threads 2", 2 * COUNT * (100 + 200 + 300 + 400)},
        {"--threads 1 --data-order shard --shard 1/2", COUNT * 2 * (100 + 200)},
        {"--threads 1 --data-order shard --shard 2/2", COUNT * 2 * (300 + 400)},
        {"--threads 2 --data-order random --seed 77", 0}, /* computed below */
    };
    for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
        json_int_t want = runs[i].want;
        if (want == 0) {
            struct scenario_data *d = NULL;
            char err[512];
            ck_assert_int_eq(scenario_data_load(data, &d, err, sizeof(err)), 0);
            d->order = SCENARIO_DATA_RANDOM;
            for (uint64_t k = 0; k < SESSIONS; k++)
                want += COUNT * (json_int_t)(100 * (scenario_data_row(d, k, k, 77, 0, 0) + 1));
            scenario_data_free(d);
        }
        snprintf(args, sizeof(args), "run %s --data %s %s --out %s/r%zu --quiet", scn, data,
                 runs[i].extra, t.dir, i);
        int rc = run_cmd(&t, args);
        ck_assert_msg(rc == 0, "exit %d with %s", rc, runs[i].extra);
        char name[32];
        snprintf(name, sizeof(name), "r%zu", i);
        json_t *j = summary(&t, name);
        ck_assert_int_eq(jget(j, "throughput", "payload_bytes"), want);
        json_t *cfg = json_object_get(json_object_get(j, "config"), "data");
        ck_assert_int_eq(json_integer_value(json_object_get(cfg, "rows")), 4);
        json_decref(j);
    }
    /* options that need others, and a file that is wrong, are refused before anything runs */
    snprintf(args, sizeof(args), "run %s --data %s --data-order shard --out %s/x", scn, data,
             t.dir);
    ck_assert_int_eq(run_cmd(&t, args), 2);
    snprintf(args, sizeof(args), "run %s --data-order random --out %s/x", scn, t.dir);
    ck_assert_int_eq(run_cmd(&t, args), 2);
    write_file(data, "n,content_file\n1\n");
    snprintf(args, sizeof(args), "run %s --data %s --out %s/x", scn, data, t.dir);
    ck_assert_int_eq(run_cmd(&t, args), 2);
    char path[160];
    snprintf(path, sizeof(path), "%s/err", t.dir);
    size_t len;
    char *err = read_file(path, &len);
    err = realloc(err, len + 1);
    err[len] = '\0';
    ck_assert_msg(strstr(err, "line 2 column 2 (content_file): 1 values where the header has 2"),
                  "%s", err);
    free(err);
    tmp_remove(&t);
}
END_TEST

/* Whether needle occurs in any file under dir, or in the run's out and err. */
static bool found_anywhere(const struct tmp *t, const char *needle)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "grep -rqF -e '%s' %s", needle, t->dir);
    return system(cmd) == 0;
}

/*
 * Through the fake relay (accounts alice/alice-secret, bob/bob-secret): the calling ends take
 * the even rows and the answering ends the odd ones, so every session authenticates as alice
 * calling bob with the file's passwords, and the run succeeds; no password appears in the
 * report, errors.jsonl, or the output. Then a file with a wrong password: AUTH fails, named by
 * user, and the wrong password appears nowhere either.
 */
START_TEST(relay_accounts_from_data_keep_passwords_out)
{
    uint16_t port = 0;
    pid_t pid = fake_relay_start(NULL, &port);
    ck_assert_int_gt(pid, 0);
    struct tmp t;
    tmp_make(&t);
    /* the accounts file lies outside the directory searched for the passwords */
    char data[128], scn[128], args[768];
    snprintf(data, sizeof(data), "/tmp/msrpload-accounts-%d.csv", (int)getpid());
    write_file(data, "user,password\nalice,alice-secret\nbob,bob-secret\n");
    snprintf(scn, sizeof(scn), "%s/s.json", t.dir);
    write_file(scn, "{\"name\":\"d\",\"load\":{\"sessions\":4,\"concurrency\":2,\"duration\":20},"
                    "\"steps\":[{\"send\":{\"count\":3,\"size\":200}},"
                    "{\"expect\":{\"status\":200,\"timeout\":5}}]}");
    snprintf(args, sizeof(args),
             "run %s --relay 'msrp://127.0.0.1:%u;tcp' --data %s --threads 1 --out %s/r", scn,
             port, data, t.dir);
    int rc = run_cmd(&t, args);
    json_t *j = summary(&t, "r");
    ck_assert_msg(rc == 0, "exit %d", rc);
    ck_assert_int_eq(jget(j, "messages", "ok"), 12);
    json_decref(j);
    ck_assert(!found_anywhere(&t, "alice-secret"));
    ck_assert(!found_anywhere(&t, "bob-secret"));
    /* a wrong password: refused, and still never written anywhere */
    write_file(data, "user,password\nalice,Wr0ngPassw0rd\nbob,bob-secret\n");
    snprintf(args, sizeof(args),
             "run %s --relay 'msrp://127.0.0.1:%u;tcp' --data %s --threads 1 --out %s/w", scn,
             port, data, t.dir);
    rc = run_cmd(&t, args);
    fake_relay_stop(pid);
    unlink(data);
    ck_assert_int_eq(rc, 3); /* no session bound: the AUTH was refused */
    ck_assert(found_anywhere(&t, "alice"));
    ck_assert(!found_anywhere(&t, "Wr0ngPassw0rd"));
    ck_assert(!found_anywhere(&t, "bob-secret"));
    tmp_remove(&t);
}
END_TEST

/* A target column: each session goes to its row's target (serve's two sessions here, one
 * session at a time, as serve takes one binding per URI), and the run takes the target
 * topology and its targets from it. */
START_TEST(targets_from_data)
{
    static const char *const sargs[] = {"--session-id", "first", "--session-id", "second", NULL};
    struct test_serve s;
    test_serve_start(&s, sargs);
    struct tmp t;
    tmp_make(&t);
    char data[128], scn[128], args[1024], csv[512];
    snprintf(data, sizeof(data), "%s/targets.csv", t.dir);
    snprintf(csv, sizeof(csv),
             "target,greeting\nmsrp://127.0.0.1:%u/first;tcp,hello\n"
             "msrp://127.0.0.1:%u/second;tcp,hi\n",
             (unsigned)s.port, (unsigned)s.port);
    write_file(data, csv);
    snprintf(scn, sizeof(scn), "%s/s.json", t.dir);
    write_file(scn, "{\"name\":\"d\",\"load\":{\"sessions\":4,\"concurrency\":1,"
                    "\"duration\":20},"
                    "\"steps\":[{\"send\":{\"count\":2}},{\"expect\":{\"status\":200}}]}");
    snprintf(args, sizeof(args), "run %s --data %s --threads 1 --out %s/r --quiet", scn, data,
             t.dir);
    int rc = run_cmd(&t, args);
    /* --target beside a target column is refused */
    snprintf(args, sizeof(args), "run %s --data %s --target 'msrp://127.0.0.1:%u/first;tcp' "
             "--out %s/x", scn, data, (unsigned)s.port, t.dir);
    int rc2 = run_cmd(&t, args);
    test_serve_stop(&s);
    ck_assert_msg(rc == 0, "exit %d", rc);
    ck_assert_int_eq(rc2, 2);
    json_t *j = summary(&t, "r");
    ck_assert_int_eq(jget(j, "messages", "ok"), 8);
    json_t *cfg = json_object_get(j, "config");
    ck_assert_str_eq(json_string_value(json_object_get(cfg, "topology")), "target");
    json_t *targets = json_object_get(cfg, "targets");
    ck_assert_uint_eq(json_array_size(targets), 2);
    ck_assert_ptr_nonnull(strstr(json_string_value(json_array_get(targets, 1)), "/second;tcp"));
    json_decref(j);
    tmp_remove(&t);
}
END_TEST

Suite *make_data_suite(void)
{
    Suite *s = suite_create("data");
    TCase *tc = tcase_create("Data");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, csv_read_with_quotes_and_columns);
    tcase_add_loop_test(tc, csv_mistakes_name_line_and_column, 0,
                        (int)(sizeof bad_csv / sizeof bad_csv[0]));
    tcase_add_test(tc, content_files_read_once_per_name);
    tcase_add_test(tc, rows_taken_in_each_order);
    tcase_add_test(tc, templates_name_columns_but_never_the_password);
    tcase_add_test(tc, run_sessions_take_their_rows);
    tcase_add_test(tc, relay_accounts_from_data_keep_passwords_out);
    tcase_add_test(tc, targets_from_data);
    suite_add_tcase(s, tc);
    return s;
}
