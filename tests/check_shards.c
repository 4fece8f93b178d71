/*
 * check_shards.c - the multi-host path without a cluster: the Kubernetes manifest that
 * deploy/kubernetes/render.sh writes (read back by check-manifest.py, which also checks it
 * against the Kubernetes API's models when python3-kubernetes is there), the shard arithmetic
 * of deploy/entrypoint.sh, `run --start-at`, and tools/shards.sh running a load as local
 * shards against two `msrpload serve` processes on 127.0.0.2 and 127.0.0.3, whose merged
 * report must add up exactly to what the shards and the answering side counted.
 */
#include <check.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "suites.h"
#include "testutil.h"

/* Runs cmd in a shell, its output to t/out and t/err. Returns the exit code. */
static int sh(struct tmp *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int sh(struct tmp *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *body = NULL;
    ck_assert_int_ge(vasprintf(&body, fmt, ap), 0);
    va_end(ap);
    char *cmd = NULL;
    ck_assert_int_ge(asprintf(&cmd, "{ %s; } >%s/out 2>%s/err", body, t->dir, t->dir), 0);
    int st = system(cmd);
    free(body);
    free(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *tmp_text(struct tmp *t, const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", t->dir, name);
    size_t len;
    char *data = read_file(path, &len);
    data = realloc(data, len + 1);
    data[len] = '\0';
    return data;
}

/* The Debian python3 (whose modules python3-yaml and python3-kubernetes install), else any. */
static const char *python(void)
{
    return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
}

static json_t *jget(json_t *o, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    json_t *v = o;
    for (char *save = NULL, *k = strtok_r(buf, ".", &save); k != NULL && v != NULL;
         k = strtok_r(NULL, ".", &save))
        v = json_is_array(v) ? json_array_get(v, (size_t)atoi(k)) : json_object_get(v, k);
    ck_assert_msg(v != NULL, "%s is missing", path);
    return v;
}

static const char *jstr(json_t *o, const char *path)
{
    json_t *v = jget(o, path);
    ck_assert_msg(json_is_string(v), "%s is not a string", path);
    return json_string_value(v);
}

static json_int_t jint(json_t *o, const char *path)
{
    json_t *v = jget(o, path);
    ck_assert_msg(json_is_integer(v), "%s is not an integer", path);
    return json_integer_value(v);
}

START_TEST(manifest_renders_shards_and_arguments)
{
    struct tmp t;
    tmp_make(&t);
    if (sh(&t, "%s -c 'import yaml'", python()) != 0) {
        test_skip("manifest_renders_shards_and_arguments",
                  "python3-yaml is not installed (tools/install-deps.sh installs it)");
        tmp_remove(&t);
        return;
    }
    /* Arguments with quotes, a backslash and a space must reach the pods as given. */
    ck_assert_int_eq(sh(&t,
                        "deploy/kubernetes/render.sh --shards 7 --scenario "
                        "scenarios/quickstart.json --start-at 1900000000 --run-id t-1 --image "
                        "reg.example/msrpload:1 --claim res -- --relay 'msrp://r.example:2855;tcp' "
                        "--relay-user 'lo\"ad\\%%04d' --duration '3 0' >%s/job.yaml",
                        t.dir),
                     0);
    ck_assert_int_eq(sh(&t, "%s deploy/kubernetes/check-manifest.py %s/job.yaml", python(),
                        t.dir),
                     0);
    char *text = tmp_text(&t, "out");
    json_error_t e;
    json_t *m = json_loads(text, 0, &e);
    ck_assert_msg(m != NULL, "check-manifest.py: %s", e.text);
    free(text);
    ck_assert_int_eq(json_array_size(jget(m, "objects")), 3);
    ck_assert_str_eq(jstr(m, "objects.0"), "ConfigMap/t-1-scenario");
    ck_assert_str_eq(jstr(m, "objects.1"), "Job/t-1-shards");
    ck_assert_str_eq(jstr(m, "objects.2"), "Job/t-1-merge");
    ck_assert_str_eq(jstr(m, "scenario.name"), "quickstart"); /* embedded whole */
    /* One pod per shard, all at once, indexed 0..N-1, never retried. */
    ck_assert_str_eq(jstr(m, "shard.completion_mode"), "Indexed");
    ck_assert_int_eq(jint(m, "shard.completions"), 7);
    ck_assert_int_eq(jint(m, "shard.parallelism"), 7);
    ck_assert_int_eq(jint(m, "shard.backoff_limit"), 0);
    ck_assert_str_eq(jstr(m, "shard.restart_policy"), "Never");
    ck_assert_str_eq(jstr(m, "shard.image"), "reg.example/msrpload:1");
    const char *args[] = {"run", "/etc/msrpload/scenario.json", "--relay",
                          "msrp://r.example:2855;tcp", "--relay-user", "lo\"ad\\%04d",
                          "--duration", "3 0"};
    json_t *a = jget(m, "shard.args");
    ck_assert_int_eq(json_array_size(a), sizeof(args) / sizeof(args[0]));
    for (size_t i = 0; i < sizeof(args) / sizeof(args[0]); i++)
        ck_assert_str_eq(json_string_value(json_array_get(a, i)), args[i]);
    ck_assert_str_eq(jstr(m, "shard.env.MSRPLOAD_SHARDS"), "7");
    ck_assert_str_eq(jstr(m, "shard.env.MSRPLOAD_START_AT"), "1900000000");
    ck_assert_str_eq(jstr(m, "shard.env.MSRPLOAD_RESULTS"), "/results/t-1");
    ck_assert_str_eq(jstr(m, "shard.env.JOB_COMPLETION_INDEX.fieldRef.fieldPath"),
                     "metadata.annotations['batch.kubernetes.io/job-completion-index']");
    /* Prometheus scrapes the port the run serves its metrics on. */
    json_t *ann = jget(m, "shard.annotations");
    ck_assert_str_eq(json_string_value(json_object_get(ann, "prometheus.io/scrape")), "true");
    ck_assert_str_eq(json_string_value(json_object_get(ann, "prometheus.io/port")), "9464");
    ck_assert_str_eq(jstr(m, "shard.env.MSRPLOAD_METRICS_LISTEN"), "0.0.0.0:9464");
    ck_assert_int_eq(jint(m, "shard.ports.0"), 9464);
    ck_assert_str_eq(jstr(m, "shard.volumes.results"), "res");
    ck_assert_str_eq(jstr(m, "shard.mounts.results"), "/results");
    /* The merge step: the same shards, start and folder. */
    ck_assert_str_eq(jstr(m, "merge.args.0"), "merge");
    ck_assert_str_eq(jstr(m, "merge.env.MSRPLOAD_SHARDS"), "7");
    ck_assert_str_eq(jstr(m, "merge.env.MSRPLOAD_START_AT"), "1900000000");
    ck_assert_str_eq(jstr(m, "merge.env.MSRPLOAD_RESULTS"), "/results/t-1");
    ck_assert_str_eq(jstr(m, "merge.volumes.results"), "res");
    const char *schema = jstr(m, "schema");
    if (strncmp(schema, "not checked", 11) == 0)
        fprintf(stderr, "manifest_renders_shards_and_arguments: API schema %s\n", schema);
    else
        ck_assert_msg(strncmp(schema, "ok", 2) == 0, "schema: %s", schema);
    json_decref(m);

    /* What the entrypoint owns, and bad counts, are refused. */
    ck_assert_int_eq(sh(&t, "deploy/kubernetes/render.sh --shards 2 --scenario "
                            "scenarios/quickstart.json -- --shard 1/2"),
                     2);
    char *err = tmp_text(&t, "err");
    ck_assert_msg(strstr(err, "--shard is set by the entrypoint") != NULL, "%s", err);
    free(err);
    ck_assert_int_eq(sh(&t, "deploy/kubernetes/render.sh --shards 0 --scenario "
                            "scenarios/quickstart.json"),
                     2);
    ck_assert_int_eq(sh(&t, "deploy/kubernetes/render.sh --shards 2 --scenario "
                            "scenarios/quickstart.json --run-id Bad_Id"),
                     2);
    tmp_remove(&t);
}
END_TEST

/* The entrypoint turns the Job's index into --shard I+1/N, the shared start and the shard's
 * own folder, for every index; an index out of range is refused. A stand-in msrpload records
 * the arguments it gets. */
START_TEST(entrypoint_shard_arithmetic)
{
    struct tmp t;
    tmp_make(&t);
    ck_assert_int_eq(sh(&t,
                        "printf '#!/bin/sh\\necho \"$*\" >%s/args-$JOB_COMPLETION_INDEX\\n' "
                        ">%s/fake && chmod +x %s/fake",
                        t.dir, t.dir, t.dir),
                     0);
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(sh(&t,
                            "JOB_COMPLETION_INDEX=%d MSRPLOAD_SHARDS=5 MSRPLOAD_START_AT=1900000000 "
                            "MSRPLOAD_RESULTS=%s/res MSRPLOAD_BIN=%s/fake deploy/entrypoint.sh run "
                            "s.json --rate 100",
                            i, t.dir, t.dir),
                         0);
        char name[32], want[512];
        snprintf(name, sizeof(name), "args-%d", i);
        char *got = tmp_text(&t, name);
        snprintf(want, sizeof(want),
                 "run s.json --rate 100 --shard %d/5 --start-at 1900000000 --out %s/res/shard-%d "
                 "--quiet\n",
                 i + 1, t.dir, i + 1);
        ck_assert_str_eq(got, want);
        free(got);
        snprintf(name, sizeof(name), "res/shard-%d.exit", i + 1);
        got = tmp_text(&t, name);
        ck_assert_str_eq(got, "0\n");
        free(got);
    }
    ck_assert_int_eq(sh(&t, "JOB_COMPLETION_INDEX=5 MSRPLOAD_SHARDS=5 MSRPLOAD_START_AT=1 "
                            "MSRPLOAD_RESULTS=%s/res MSRPLOAD_BIN=%s/fake deploy/entrypoint.sh "
                            "run s.json",
                            t.dir, t.dir),
                     2);
    tmp_remove(&t);
}
END_TEST

START_TEST(start_at_refuses_bad_times)
{
    struct tmp t;
    tmp_make(&t);
    ck_assert_int_eq(sh(&t, "%s run scenarios/quickstart.json --start-at soon", msrpload_binary()),
                     2);
    char *err = tmp_text(&t, "err");
    ck_assert_msg(strstr(err, "--start-at soon") != NULL, "%s", err);
    free(err);
    /* A minute late: this shard would not start with the others. */
    ck_assert_int_eq(sh(&t, "%s run scenarios/quickstart.json --start-at %lld", msrpload_binary(),
                        (long long)time(NULL) - 60),
                     2);
    err = tmp_text(&t, "err");
    ck_assert_msg(strstr(err, "in the past") != NULL, "%s", err);
    free(err);
    /* Milliseconds by mistake. */
    ck_assert_int_eq(sh(&t, "%s run scenarios/quickstart.json --start-at %lld000",
                        msrpload_binary(), (long long)time(NULL)),
                     2);
    err = tmp_text(&t, "err");
    ck_assert_msg(strstr(err, "in seconds") != NULL, "%s", err);
    free(err);
    tmp_remove(&t);
}
END_TEST

/* Messages the serve logs say arrived ("event":"message" lines). */
static long count_messages(const char *path)
{
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char line[4096];
    long n = 0;
    while (fgets(line, sizeof(line), f) != NULL)
        n += strstr(line, "\"event\":\"message\"") != NULL;
    fclose(f);
    return n;
}

/* tools/shards.sh 3 against two serve processes on their own loopback addresses, each session
 * with a session id of its own (the %d pattern); the merged report is the exact sum. */
START_TEST(shards_sh_merges_exactly)
{
    struct tmp t;
    tmp_make(&t);
    char log2[128], log3[128];
    snprintf(log2, sizeof(log2), "%s/serve2.jsonl", t.dir);
    snprintf(log3, sizeof(log3), "%s/serve3.jsonl", t.dir);
    const char *a2[] = {"--listen", "127.0.0.2:0", "--session-id", "s%d", "--sessions", "40",
                        "--log", log2, NULL};
    const char *a3[] = {"--listen", "127.0.0.3:0", "--session-id", "s%d", "--sessions", "40",
                        "--log", log3, NULL};
    struct test_serve s2, s3;
    test_serve_start(&s2, a2);
    test_serve_start(&s3, a3);
    char scn[128];
    snprintf(scn, sizeof(scn), "%s/sc.json", t.dir);
    FILE *f = fopen(scn, "w");
    ck_assert_ptr_nonnull(f);
    /* 31 sessions: the shards take 11, 10 and 10. Each sends 3 messages and closes. */
    fputs("{\"name\": \"shards\", \"load\": {\"sessions\": 31, \"concurrency\": 31, "
          "\"threads\": 2, \"duration\": 30},"
          "\"topology\": {\"kind\": \"target\", \"targets\": [\"msrp://127.0.0.9:1/x;tcp\"]},"
          "\"steps\": [{\"send\": {\"count\": 3, \"size\": 200}}, {\"expect\": {\"status\": 200}}]}",
          f);
    fclose(f);
    time_t before = time(NULL);
    int code = sh(&t,
                  "SHARDS_OUT=%s/res SHARDS_START_IN=2 timeout 120 tools/shards.sh 3 %s/sc.json "
                  "--target 'msrp://127.0.0.2:%u/s%%d;tcp' --target 'msrp://127.0.0.3:%u/s%%d;tcp'",
                  t.dir, t.dir, s2.port, s3.port);
    char *err = tmp_text(&t, "err");
    ck_assert_msg(code == 0, "shards.sh exited %d: %s", code, err);
    free(err);
    ck_assert_int_eq(test_serve_stop(&s2), 0);
    ck_assert_int_eq(test_serve_stop(&s3), 0);

    long started = 0, sent = 0, ok = 0, ends = 0;
    const long share[] = {11, 10, 10};
    for (int i = 1; i <= 3; i++) {
        char path[256];
        snprintf(path, sizeof(path), "%s/res/shard-%d/summary.json", t.dir, i);
        json_error_t e;
        json_t *s = json_load_file(path, 0, &e);
        ck_assert_msg(s != NULL, "%s: %s", path, e.text);
        ck_assert_int_eq(jint(s, "config.shard.index"), i);
        ck_assert_int_eq(jint(s, "config.shard.count"), 3);
        ck_assert_int_eq(jint(s, "sessions.started"), share[i - 1]);
        ck_assert_int_eq(jint(s, "sessions.completed"), share[i - 1]);
        /* Every shard waited for the shared start. */
        ck_assert(json_number_value(jget(s, "run.started_unix")) >= (double)before + 2);
        started += jint(s, "sessions.started");
        sent += jint(s, "messages.sent");
        ok += jint(s, "messages.ok");
        ends += jint(s, "memory.session_ends_peak_open");
        ck_assert_int_gt(jint(s, "memory.rss_start_bytes"), 0);
        json_decref(s);
    }
    char path[256];
    snprintf(path, sizeof(path), "%s/res/merged/summary.json", t.dir);
    json_error_t e;
    json_t *m = json_load_file(path, 0, &e);
    ck_assert_msg(m != NULL, "%s: %s", path, e.text);
    ck_assert_int_eq(started, 31);
    ck_assert_int_eq(sent, 93);
    ck_assert_int_eq(jint(m, "sessions.started"), 31);
    ck_assert_int_eq(jint(m, "sessions.completed"), 31);
    ck_assert_int_eq(jint(m, "sessions.failed"), 0);
    ck_assert_int_eq(jint(m, "messages.sent"), 93);
    ck_assert_int_eq(jint(m, "messages.ok"), ok);
    ck_assert_int_eq(jint(m, "messages.ok"), 93);
    ck_assert_int_eq(jint(m, "messages.by_status.200"), 93);
    ck_assert_int_eq(jint(m, "latency_us.message.count"), 93);
    ck_assert_int_eq(jint(m, "memory.session_ends_peak_open"), ends);
    ck_assert_int_eq(json_array_size(jget(m, "merged_from")), 3);
    json_decref(m);
    /* The answering side got every one of them, spread over both. */
    long got2 = count_messages(log2), got3 = count_messages(log3);
    ck_assert_int_eq(got2 + got3, 93);
    ck_assert_int_gt(got2, 0);
    ck_assert_int_gt(got3, 0);
    tmp_remove(&t);
}
END_TEST

/* serve's numbered ids and run's target pattern, and the patterns both refuse. */
START_TEST(numbered_session_ids)
{
    struct tmp t;
    tmp_make(&t);
    ck_assert_int_eq(sh(&t, "timeout 10 %s serve --listen 127.0.0.1:0 --session-id 'n%%03d' "
                            "--sessions 3 --bind-timeout 0.2",
                        msrpload_binary()),
                     1); /* every session given up: exit 1, after the URIs */
    char *out = tmp_text(&t, "out");
    ck_assert_msg(strstr(out, "/n000;tcp\n") != NULL && strstr(out, "/n002;tcp\n") != NULL &&
                      strstr(out, "/n003;tcp") == NULL,
                  "%s", out);
    free(out);
    ck_assert_int_eq(sh(&t, "%s serve --listen 127.0.0.1:0 --session-id 'n%%d%%d' --sessions 3",
                        msrpload_binary()),
                     2);
    ck_assert_int_eq(sh(&t, "%s run scenarios/quickstart.json --target 'msrp://127.0.0.1:9/s%%x;tcp'",
                        msrpload_binary()),
                     2);
    char *err = tmp_text(&t, "err");
    ck_assert_msg(strstr(err, "not an MSRP URI") != NULL, "%s", err);
    free(err);
    tmp_remove(&t);
}
END_TEST

Suite *make_shards_suite(void)
{
    Suite *s = suite_create("shards");
    TCase *tc = tcase_create("shards");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, manifest_renders_shards_and_arguments);
    tcase_add_test(tc, entrypoint_shard_arithmetic);
    tcase_add_test(tc, start_at_refuses_bad_times);
    tcase_add_test(tc, numbered_session_ids);
    tcase_add_test(tc, shards_sh_merges_exactly);
    suite_add_tcase(s, tc);
    return s;
}
