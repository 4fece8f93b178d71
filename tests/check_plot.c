/*
 * check_plot.c - tools/plot on a real run directory: a small `msrpload run` whose report the
 * script turns into three PNG files, and its exit code 2 naming what is missing.
 *
 * Needs gnuplot (tools/install-deps.sh installs gnuplot-nox). The binary that makes the run is
 * $MSRPLOAD_BIN, or ./msrpload from the top of the tree.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "suites.h"
#include "testutil.h"


/* Runs a shell command; stdout and stderr go to dir/out. Returns the exit code. */
static int sh(const char *dir, const char *cmd)
{
    char *full;
    ck_assert_int_ge(asprintf(&full, "timeout 60 %s >'%s/out' 2>&1", cmd, dir), 0);
    int st = system(full);
    free(full);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *slurp(const char *dir, const char *name, size_t *len)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    size_t n;
    char *data = read_file(path, &n);
    data = realloc(data, n + 1);
    data[n] = '\0';
    if (len != NULL)
        *len = n;
    return data;
}

START_TEST(plots_a_small_run)
{
    ck_assert_msg(system("command -v gnuplot >/dev/null 2>&1") == 0,
                  "gnuplot is not installed: run tools/install-deps.sh (Debian: gnuplot-nox)");
    char dir[] = "/tmp/msrpload-plot-test-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));

    char path[128], cmd[512];
    snprintf(path, sizeof(path), "%s/small.json", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(
        "{\"name\": \"plot-test\", \"load\": {\"threads\": 1, \"sessions\": 3, \"concurrency\": 3,"
        " \"duration\": 10}, \"steps\": [{\"send\": {\"count\": 20, \"size\": 500}}]}",
        f);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "%s run '%s' --quiet --out '%s/run'", msrpload_binary(), path, dir);
    int code = sh(dir, cmd);
    ck_assert_msg(code == 0, "msrpload run exited %d: %s", code, slurp(dir, "out", NULL));

    snprintf(cmd, sizeof(cmd), "tools/plot '%s/run' --out '%s/png'", dir, dir);
    code = sh(dir, cmd);
    ck_assert_msg(code == 0, "tools/plot exited %d: %s", code, slurp(dir, "out", NULL));
    static const char *const pngs[] = {"png/throughput.png", "png/latency.png", "png/errors.png"};
    for (size_t i = 0; i < sizeof(pngs) / sizeof(pngs[0]); i++) {
        size_t len;
        char *png = slurp(dir, pngs[i], &len);
        ck_assert_msg(len > 1000 && memcmp(png, "\x89PNG\r\n\x1a\n", 8) == 0,
                      "%s is not a PNG image (%zu bytes)", pngs[i], len);
        free(png);
    }

    /* A run directory without its time series: exit 2, naming the file. */
    snprintf(cmd, sizeof(cmd), "rm '%s/run/timeseries.csv' && tools/plot '%s/run'", dir, dir);
    code = sh(dir, cmd);
    char *out = slurp(dir, "out", NULL);
    ck_assert_msg(code == 2 && strstr(out, "run/timeseries.csv") != NULL, "exit %d: %s", code, out);
    free(out);

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(missing_directory_exits_2)
{
    char dir[] = "/tmp/msrpload-plot-test-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    int code = sh(dir, "tools/plot /nonexistent/run-dir");
    char *out = slurp(dir, "out", NULL);
    ck_assert_msg(code == 2 && strstr(out, "/nonexistent/run-dir") != NULL, "exit %d: %s", code,
                  out);
    free(out);
    code = sh(dir, "tools/plot --help");
    out = slurp(dir, "out", NULL);
    ck_assert_msg(code == 0 && strstr(out, "Usage: tools/plot") != NULL, "exit %d: %s", code, out);
    free(out);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

Suite *make_plot_suite(void)
{
    Suite *s = suite_create("plot");
    TCase *tc = tcase_create("Plot");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, plots_a_small_run);
    tcase_add_test(tc, missing_directory_exits_2);
    suite_add_tcase(s, tc);
    return s;
}
