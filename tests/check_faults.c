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
            size_t n = strlen(expanded);
            if (n + 1 < sizeof(expanded)) {
                expanded[n] = *p;
                expanded[n + 1] = '\0';
            }
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

/* Sends forever, 4 sessions on one thread; stuck: every answer is dropped, so nothing settles
 * and the drain after a first signal would last its whole bound. */
#define ENDLESS_SCENARIO(answer)                                                                   \
    "{\"name\": \"endless\", \"load\": {\"threads\": 1, \"sessions\": 4, \"duration\": 30},"       \
    " \"steps\": [{\"repeat\": {\"times\": 0, \"steps\": [{\"send\": {\"failure_report\":"         \
    " \"yes\"}}]}}]" answer "}"

static bool fault_exists(struct fault_run *f, const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", f->t.dir, name);
    return access(path, F_OK) == 0;
}

/* Waits (at most 10 s) until the run has made its report directory, i.e. the load is about to
 * start, then lets it run for settle_ms. */
static void fault_wait_started(struct fault_run *f, const char *name, int settle_ms)
{
    for (int i = 0; i < 500 && !fault_exists(f, name); i++)
        usleep(20 * 1000);
    ck_assert_msg(fault_exists(f, name), "%s/%s never appeared", f->t.dir, name);
    usleep((useconds_t)settle_ms * 1000);
}

/* One or two signals mid-run: the signal's exit code (128 + its number), a whole report that
 * says incomplete (no PARTIAL left), counts that add up. */
static const struct {
    const char *answer; /* the scenario's answer section, "" for the default */
    int signals[2];     /* the second 0: one signal */
    int code;
} interrupts[] = {
    {"", {SIGINT, 0}, 130},
    {", \"answer\": {\"drop\": 1}", {SIGINT, SIGINT}, 130},
    {"", {SIGTERM, 0}, 143},
};

START_TEST(interrupted_run)
{
    struct fault_run f;
    tmp_make(&f.t);
    char json[512];
    snprintf(json, sizeof(json), ENDLESS_SCENARIO("%s"), interrupts[_i].answer);
    fault_write(&f, "s.json", json);
    fault_start(&f, "run {dir}/s.json --quiet --out {dir}/r");
    fault_wait_started(&f, "r", 700);
    kill(f.pid, interrupts[_i].signals[0]);
    if (interrupts[_i].signals[1] != 0) {
        usleep(200 * 1000);
        kill(f.pid, interrupts[_i].signals[1]);
    }
    /* Bounded: the drain lasts at most 2 s after the first signal. */
    int code = fault_wait(&f, 20);
    char *err = fault_read(&f, "err");
    ck_assert_msg(code == interrupts[_i].code, "signal %d: exit %d, expected %d: %s",
                  interrupts[_i].signals[0], code, interrupts[_i].code, err);
    ck_assert_msg(!fault_exists(&f, "r/PARTIAL"), "the report is marked partial: %s", err);
    json_t *s = fault_summary(&f, "r");
    ck_assert(json_is_true(json_object_get(json_object_get(s, "run"), "incomplete")));
    assert_counts_add_up(s);
    json_decref(s);
    free(err);
    tmp_remove(&f.t);
}
END_TEST

/*
 * The report's directory on a tmpfs that fills up during the run, all of it or all but 8 KiB
 * (room for summary.json and timeseries.csv, a page each, not for the histograms): exit 1,
 * stderr names the file and the error, and PARTIAL stays, saying the same. The tmpfs lives in a
 * mount namespace of its own (unshare -m as root, unshare -rm otherwise), so the script below
 * runs the whole row there and copies out what the test looks at; the mount goes with the
 * namespace, and is unmounted before that.
 */
static const struct {
    int leave_kib;       /* left free once the run has made its directory */
    const char *failing; /* the file named in the error */
    bool has_summary;
} disks[] = {
    {0, "/disk/r/summary.json: No space left on device", false},
    {8, "/disk/r/latency-", true},
};

static const char disk_full_script[] =
    "d=$1; bin=$2; leave=$3\n"
    "mkdir -p \"$d/disk\"\n"
    "mount -t tmpfs -o size=1m msrpload-full \"$d/disk\" || exit 90\n"
    "\"$bin\" run \"$d/s.json\" --quiet --out \"$d/disk/r\" >\"$d/out\" 2>\"$d/err\" &\n"
    "pid=$!\n"
    "i=0\n"
    "while [ ! -e \"$d/disk/r/PARTIAL\" ] && [ $i -lt 500 ]; do sleep 0.02; i=$((i+1)); done\n"
    "dd if=/dev/zero of=\"$d/disk/filler\" bs=4096 2>/dev/null\n"
    "[ \"$leave\" -eq 0 ] || truncate -s -\"$leave\"K \"$d/disk/filler\"\n"
    "wait $pid; code=$?\n"
    "ls -A \"$d/disk/r\" >\"$d/listing\"\n"
    "mkdir \"$d/copy\" && cp \"$d/disk/r/summary.json\" \"$d/copy/\" 2>/dev/null\n"
    "cat \"$d/disk/r/PARTIAL\" >\"$d/partial\" 2>/dev/null\n"
    "umount \"$d/disk\"\n"
    "exit $code\n";

START_TEST(disk_full)
{
    const char *unshare = geteuid() == 0 ? "unshare -m true" : "unshare -rm true";
    if (system("unshare -m true >/dev/null 2>&1") != 0 &&
        system("unshare -rm true >/dev/null 2>&1") != 0) {
        printf("faults: disk_full: skipped: '%s' fails here (no mount namespace for a small "
               "tmpfs)\n", unshare);
        return;
    }
    struct fault_run f;
    tmp_make(&f.t);
    fault_write(&f, "s.json",
                "{\"name\": \"full\", \"load\": {\"threads\": 1, \"sessions\": 2, \"duration\":"
                " 1.5}, \"steps\": [{\"repeat\": {\"times\": 0, \"steps\": [{\"send\": {}}]}}]}");
    fault_write(&f, "disk.sh", disk_full_script);
    char script[256];
    snprintf(script, sizeof(script), "%s/disk.sh", f.t.dir);
    char leave[16];
    snprintf(leave, sizeof(leave), "%d", disks[_i].leave_kib);
    bool root = system("unshare -m true >/dev/null 2>&1") == 0;
    f.pid = fork();
    ck_assert_int_ge(f.pid, 0);
    if (f.pid == 0) {
        execlp("unshare", "unshare", root ? "-m" : "-rm", "sh", script, f.t.dir,
               msrpload_binary(), leave, (char *)NULL);
        _exit(127);
    }
    int code = fault_wait(&f, 30);
    if (code == 90) {
        printf("faults: disk_full: skipped: cannot mount a tmpfs in a mount namespace\n");
        tmp_remove(&f.t);
        return;
    }
    char *err = fault_read(&f, "err"), *out = fault_read(&f, "out");
    char *listing = fault_read(&f, "listing"), *partial = fault_read(&f, "partial");
    ck_assert_msg(code == 1, "exit %d\nstdout: %s\nstderr: %s", code, out, err);
    ck_assert_msg(strstr(err, disks[_i].failing) != NULL &&
                      strstr(err, "No space left on device") != NULL &&
                      strstr(err, "PARTIAL") != NULL,
                  "stderr: %s", err);
    ck_assert_msg(strstr(listing, "PARTIAL\n") != NULL, "the directory holds: %s", listing);
    ck_assert_msg(strstr(partial, disks[_i].failing + strlen("/disk/r/")) != NULL &&
                      strstr(partial, "No space left on device") != NULL,
                  "PARTIAL says: %s", partial);
    /* The measurement itself is not lost: the terminal summary has it, and summary.json when
     * there was room for it. */
    ck_assert_msg(strstr(out, "sessions:   2 started") != NULL, "stdout: %s", out);
    ck_assert_msg((strstr(listing, "summary.json\n") != NULL) == disks[_i].has_summary,
                  "the directory holds: %s", listing);
    if (disks[_i].has_summary) {
        json_t *s = fault_summary(&f, "copy");
        ck_assert(json_is_false(json_object_get(json_object_get(s, "run"), "incomplete")));
        assert_counts_add_up(s);
        json_decref(s);
    }
    free(err);
    free(out);
    free(listing);
    free(partial);
    tmp_remove(&f.t);
}
END_TEST

Suite *make_faults_suite(void)
{
    Suite *s = suite_create("faults");
    TCase *tc = tcase_create("matrix");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, interrupted_run, 0, (int)(sizeof(interrupts) / sizeof(interrupts[0])));
    tcase_add_loop_test(tc, disk_full, 0, (int)(sizeof(disks) / sizeof(disks[0])));
    suite_add_tcase(s, tc);
    return s;
}
