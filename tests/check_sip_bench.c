/*
 * check_sip_bench.c - the calls through the scripted Kamailio proxy that `msrpload bench --only
 * sip_calls` measures (src/cli/bench_sip_calls.c), and tools/sip/start.sh's shared-memory knob
 * (SIP_SHM_MB), which those calls need:
 *
 *  - a proxy started with SIP_SHM_MB=48 has 48 MB of shared memory (kamcmd core.shmmem);
 *  - SIP_SHM_MB that is not a whole number, or under 16, is refused by start.sh with its name;
 *  - `msrpload bench --seconds 0.1 --only sip_calls` starts its own proxy, prints the three
 *    figures and nothing else, each a positive number, and exits 0 (it exits 1 when any call,
 *    message, REGISTER or BYE failed, so every call of those seconds went through).
 *
 * Without Kamailio each test prints why it is skipped and returns (a failure under
 * REQUIRE_SIP=1, tests/sip_testutil.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "sip_testutil.h"
#include "suites.h"
#include "testutil.h"

static struct test_sip P;

static void proxy_setup(void)
{
    test_sip_start(&P, false, false, "SIP_SHM_MB=48");
}

static void proxy_teardown(void)
{
    test_sip_stop(&P);
}

/* Runs cmd (a shell line) with stdout and stderr in files of t; returns its exit code and the
 * two texts (free them). */
static int run_cmd(const struct tmp *t, const char *cmd, char **out, char **err)
{
    char line[2048], opath[512], epath[512];
    snprintf(opath, sizeof(opath), "%s/out", t->dir);
    snprintf(epath, sizeof(epath), "%s/err", t->dir);
    snprintf(line, sizeof(line), "%s >'%s' 2>'%s'", cmd, opath, epath);
    int st = system(line);
    ck_assert_msg(WIFEXITED(st), "%s: not exited (status %d)", cmd, st);
    *out = test_read_text(opath);
    *err = test_read_text(epath);
    return WEXITSTATUS(st);
}

/* run_cmd's texts freed and t removed. */
static void run_done(struct tmp *t, char *out, char *err)
{
    free(out);
    free(err);
    tmp_remove(t);
}

START_TEST(sip_shm_size)
{
    if (test_sip_skip(&P, "sip_bench sip_shm_size"))
        return;
    if (system("command -v kamcmd >/dev/null 2>&1") != 0) {
        test_skip("sip_bench sip_shm_size", "kamcmd is not installed (Debian kamailio has it)");
        return;
    }
    /* start.sh always gives Kamailio a control socket in its runtime directory */
    char dir[512], cmd[1200];
    snprintf(dir, sizeof(dir), "%s", P.pidfile);
    char *slash = strrchr(dir, '/');
    ck_assert_ptr_nonnull(slash);
    *slash = '\0';
    snprintf(cmd, sizeof(cmd), "timeout 10 kamcmd -s 'unix:%s/kamailio_ctl' core.shmmem", dir);
    struct tmp t;
    tmp_make(&t);
    char *out, *err;
    int code = run_cmd(&t, cmd, &out, &err);
    ck_assert_msg(code == 0, "%s: exit %d: %s", cmd, code, err);
    ck_assert_msg(strstr(out, "total: 50331648") != NULL, "%s: not 48 MB: %s", cmd, out);
    run_done(&t, out, err);
}
END_TEST

START_TEST(sip_shm_refused)
{
    if (test_sip_skip(&P, "sip_bench sip_shm_refused"))
        return;
    const char *bad[][2] = {{"12x", "SIP_SHM_MB '12x': expected a whole number of MB"},
                            {"8", "SIP_SHM_MB 8: Kamailio needs 16 MB or more"}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint16_t port = test_sip_free_port();
        ck_assert_uint_ne(port, 0);
        struct tmp t;
        tmp_make(&t);
        char cmd[1024], *out, *err;
        snprintf(cmd, sizeof(cmd), "SIP_SHM_MB=%s SIP_DIR='%s/k' timeout 30 tools/sip/start.sh %u",
                 bad[i][0], t.dir, (unsigned)port);
        int code = run_cmd(&t, cmd, &out, &err);
        ck_assert_msg(code == 1, "%s: exit %d (stdout %s)", cmd, code, out);
        ck_assert_msg(strstr(err, bad[i][1]) != NULL, "%s: stderr %s", cmd, err);
        ck_assert_msg(strstr(out, "SIP_PID=") == NULL, "%s started: %s", cmd, out);
        run_done(&t, out, err);
    }
}
END_TEST

START_TEST(sip_bench_figures)
{
    if (test_sip_skip(&P, "sip_bench sip_bench_figures"))
        return;
    struct tmp t;
    tmp_make(&t);
    char cmd[1024], *out, *err;
    snprintf(cmd, sizeof(cmd), "timeout 120 %s bench --seconds 0.1 --only sip_calls",
             msrpload_binary());
    int code = run_cmd(&t, cmd, &out, &err);
    fprintf(stderr, "sip_bench: %s%s", out, err);
    ck_assert_msg(code == 0, "exit %d; stdout %s; stderr %s", code, out, err);
    ck_assert_msg(strstr(err, "skipped") == NULL, "stderr: %s", err);
    const char *names[] = {"sip_calls_per_s", "sip_setup_p99_us", "sip_cpu_ratio"};
    int lines = 0;
    char *save = NULL;
    for (char *l = strtok_r(out, "\n", &save); l != NULL; l = strtok_r(NULL, "\n", &save)) {
        char name[128], unit[64];
        double value;
        ck_assert_msg(sscanf(l, "bench %127s %lf %63s", name, &value, unit) == 3, "line: %s", l);
        ck_assert_msg(lines < 3 && strcmp(name, names[lines]) == 0, "line %d: %s", lines, l);
        ck_assert_msg(value > 0, "%s: %g", name, value);
        lines++;
    }
    ck_assert_int_eq(lines, 3);
    run_done(&t, out, err);
}
END_TEST

Suite *make_sip_bench_suite(void)
{
    Suite *s = suite_create("sip_bench");
    TCase *tc = tcase_create("proxy");
    tcase_set_timeout(tc, 240);
    tcase_add_unchecked_fixture(tc, proxy_setup, proxy_teardown);
    tcase_add_test(tc, sip_shm_size);
    tcase_add_test(tc, sip_shm_refused);
    tcase_add_test(tc, sip_bench_figures);
    suite_add_tcase(s, tc);
    return s;
}
