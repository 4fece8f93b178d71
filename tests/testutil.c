/*
 * testutil.c - guard-page copies, file reading and writing, shell commands, the conformance
 * suite's client cases, a PRNG for reproducible tests, msrpload serve on port 0 waited for
 * until it listens, visible skips counted across the forked test processes, and a real
 * Kamailio relay on free loopback ports (its start/stop helpers shared with sip_testutil.c).
 */
#include "testutil.h"

#include <arpa/inet.h>
#include <check.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "scenario/scenario.h"

static size_t page_size(void)
{
    return (size_t)sysconf(_SC_PAGESIZE);
}

static size_t guarded_span(size_t len)
{
    size_t ps = page_size();
    return ((len + ps - 1) / ps) * ps + ps;
}

char *guarded_copy(const void *data, size_t len)
{
    size_t span = guarded_span(len);
    char *base = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(base, MAP_FAILED);
    ck_assert_int_eq(mprotect(base + span - page_size(), page_size(), PROT_NONE), 0);
    char *p = base + span - page_size() - len;
    if (len > 0)
        memcpy(p, data, len);
    return p;
}

void guarded_free(char *p, size_t len)
{
    size_t span = guarded_span(len);
    char *base = p + len + page_size() - span;
    munmap(base, span);
}

char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    ck_assert_ptr_nonnull(buf);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            ck_assert_ptr_nonnull(buf);
        }
    }
    fclose(f);
    *len = n;
    return buf;
}

char *test_read_text(const char *path)
{
    size_t len;
    char *raw = read_file(path, &len);
    char *s = strndup(raw, len);
    ck_assert_ptr_nonnull(s);
    free(raw);
    return s;
}

void test_write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

int test_run_shell(const char *cmd)
{
    int st = system(cmd);
    ck_assert(WIFEXITED(st));
    return WEXITSTATUS(st);
}

size_t test_conform_client_cases(struct scenario *sc, size_t cap, bool relay)
{
    FILE *ls = popen("ls scenarios/conformance/*.json | grep -v /requirements.json", "r");
    ck_assert_ptr_nonnull(ls);
    char file[512];
    size_t n = 0;
    while (fgets(file, sizeof file, ls) != NULL) {
        file[strcspn(file, "\n")] = '\0';
        char err[512];
        ck_assert_int_lt(n, cap);
        ck_assert_msg(scenario_load(file, &sc[n], err, sizeof err) == 0, "%s", err);
        if (sc[n].kase->needs == CASE_CLIENT && (sc[n].kase->client.relay != 0) == relay)
            n++;
        else
            scenario_free(&sc[n]);
    }
    pclose(ls);
    return n;
}

uint64_t test_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

char *crlf_from_lf(const char *text, size_t *len)
{
    size_t n = strlen(text), extra = 0;
    for (size_t i = 0; i < n; i++)
        extra += text[i] == '\n';
    char *out = malloc(n + extra + 1);
    ck_assert_ptr_nonnull(out);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (text[i] == '\n')
            out[j++] = '\r';
        out[j++] = text[i];
    }
    out[j] = '\0';
    *len = j;
    return out;
}

const char *msrpload_binary(void)
{
    const char *b = getenv("MSRPLOAD_BIN");
    return b != NULL && *b != '\0' ? b : "./msrpload";
}

void tmp_make(struct tmp *t)
{
    snprintf(t->dir, sizeof(t->dir), "/tmp/msrpload-test-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(t->dir));
}

void tmp_remove(struct tmp *t)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* ---- msrpload serve on a port of the kernel's choosing ----------------------------------------- */

uint64_t test_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int test_spawn(const char *const *argv, const char *outpath, const char *errpath, int *out)
{
    int fds[2] = {-1, -1};
    if (out != NULL)
        ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
    pid_t parent = getpid();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int o = out != NULL ? fds[1] : open(outpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int err = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (o < 0 || dup2(o, STDOUT_FILENO) < 0 || err < 0 || dup2(err, STDERR_FILENO) < 0)
            _exit(127);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    if (out != NULL) {
        close(fds[1]);
        *out = fds[0];
    }
    return pid;
}

int test_child_stop(int *pid)
{
    if (*pid <= 0)
        return -1;
    kill(*pid, SIGTERM);
    int st = 0;
    uint64_t deadline = test_now_ms() + 10000;
    pid_t r;
    while ((r = waitpid(*pid, &st, WNOHANG)) == 0 && test_now_ms() < deadline)
        usleep(10000);
    if (r != *pid) {
        kill(*pid, SIGKILL);
        waitpid(*pid, &st, 0);
        st = -1;
    }
    *pid = 0;
    return st == -1 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void test_serve_start(struct test_serve *s, const char *const *args)
{
    memset(s, 0, sizeof(*s));
    const char *argv[40] = {msrpload_binary(), "serve", "--listen", "127.0.0.1:0"};
    int argc = 4;
    bool has_log = false;
    for (size_t i = 0; args != NULL && args[i] != NULL; i++) {
        ck_assert_int_lt(argc, 36);
        has_log |= strcmp(args[i], "--log") == 0;
        argv[argc++] = args[i];
    }
    if (!has_log) {
        argv[argc++] = "--log";
        argv[argc++] = "/dev/null";
    }
    argv[argc] = NULL;
    int out;
    pid_t pid = test_spawn(argv, NULL, "/dev/null", &out);
    char line[sizeof(s->uri)];
    size_t len = 0;
    uint64_t deadline = test_now_ms() + 20000;
    while (len < sizeof(line) - 1 && memchr(line, '\n', len) == NULL) {
        uint64_t now = test_now_ms();
        struct pollfd p = {.fd = out, .events = POLLIN};
        if (now >= deadline || poll(&p, 1, (int)(deadline - now)) != 1)
            break;
        ssize_t n = read(out, line + len, sizeof(line) - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(out);
    line[len] = '\0';
    line[strcspn(line, "\r\n")] = '\0';
    s->pid = pid;
    const char *colon = strrchr(line, ':');
    unsigned port = 0;
    if (strncmp(line, "msrp", 4) != 0 || colon == NULL || sscanf(colon + 1, "%u", &port) != 1 ||
        port == 0 || port > 65535) {
        test_serve_stop(s);
        ck_abort_msg("msrpload serve printed no URI within 20 s (got \"%s\")", line);
    }
    snprintf(s->uri, sizeof(s->uri), "%s", line);
    s->port = (uint16_t)port;
}

int test_serve_stop(struct test_serve *s)
{
    if (s->pid <= 0)
        return -1;
    kill(s->pid, SIGTERM);
    int st = 0;
    uint64_t deadline = test_now_ms() + 10000;
    pid_t got;
    while ((got = waitpid(s->pid, &st, WNOHANG)) == 0 && test_now_ms() < deadline)
        usleep(10000);
    if (got == 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, &st, 0);
    }
    s->pid = 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---- visible skips ------------------------------------------------------------------------- */

#define SKIPS_LISTED 64

/* Shared by the runner and every test child it forks (the children only ever add). */
struct skip_record {
    unsigned count;
    struct {
        char test[96];
        char reason[288];
    } list[SKIPS_LISTED];
};

static struct skip_record *skips;

void test_skips_init(void)
{
    void *m = mmap(NULL, sizeof(*skips), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        perror("testutil: the skip record cannot be mapped");
        exit(EXIT_FAILURE);
    }
    skips = m;
}

void test_skip(const char *test, const char *fmt, ...)
{
    char reason[sizeof(skips->list[0].reason)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s: skipped: %s\n", test, reason);
    if (skips == NULL)
        return;
    unsigned slot = __atomic_fetch_add(&skips->count, 1, __ATOMIC_SEQ_CST);
    if (slot < SKIPS_LISTED) {
        snprintf(skips->list[slot].test, sizeof(skips->list[slot].test), "%s", test);
        snprintf(skips->list[slot].reason, sizeof(skips->list[slot].reason), "%s", reason);
    }
}

size_t test_skips_count(void)
{
    return skips == NULL ? 0 : __atomic_load_n(&skips->count, __ATOMIC_SEQ_CST);
}

void test_skips_print(FILE *out)
{
    size_t n = test_skips_count();
    if (n == 0)
        return;
    fprintf(out, "skipped tests:\n");
    for (size_t i = 0; i < n && i < SKIPS_LISTED; i++)
        fprintf(out, "  %s: %s\n", skips->list[i].test, skips->list[i].reason);
    if (n > SKIPS_LISTED)
        fprintf(out, "  ... and %zu more\n", n - SKIPS_LISTED);
}

/* ---- a real Kamailio relay ------------------------------------------------------------------ */

static const char *relay_tools(void)
{
    const char *d = getenv("MSRPLOAD_RELAY_TOOLS");
    return d != NULL ? d : "tools/relay";
}

static bool have_kamailio(void)
{
    return system("command -v kamailio >/dev/null 2>&1 || test -x /usr/sbin/kamailio") == 0;
}

static bool have_kamailio_module(const char *file)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd),
             "test -n \"$(find /usr/lib /usr/local/lib -path '*kamailio/modules/%s' 2>/dev/null)\"",
             file);
    return system(cmd) == 0;
}

static bool have_kamailio_tls(void)
{
    return system("ls /usr/lib/*/kamailio/modules/tls.so /usr/lib/kamailio/modules/tls.so "
                  ">/dev/null 2>&1") == 0 ||
           have_kamailio_module("tls.so");
}

static bool have_command(const char *name)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", name);
    return system(cmd) == 0;
}

/*
 * The Debian packages the relay needs that are missing, each after a space, in out: Kamailio
 * (its TLS module for tls), openssl for start.sh's certificate, ps (procps) for stop.sh.
 */
static bool relay_packages_missing(bool tls, char *out, size_t cap)
{
    out[0] = '\0';
    if (!have_kamailio())
        snprintf(out + strlen(out), cap - strlen(out), " kamailio");
    if (tls && !have_kamailio_tls())
        snprintf(out + strlen(out), cap - strlen(out), " kamailio-tls-modules");
    if (tls && !have_command("openssl"))
        snprintf(out + strlen(out), cap - strlen(out), " openssl");
    if (!have_command("ps"))
        snprintf(out + strlen(out), cap - strlen(out), " procps");
    return out[0] != '\0';
}

bool test_line_value(const char *line, const char *key, char *out, size_t cap)
{
    size_t kl = strlen(key);
    if (strncmp(line, key, kl) != 0 || line[kl] != '=' || line[kl + 1] != '\'')
        return false;
    const char *v = line + kl + 2;
    const char *end = strchr(v, '\'');
    if (end == NULL || (size_t)(end - v) >= cap)
        return false;
    memcpy(out, v, (size_t)(end - v));
    out[end - v] = '\0';
    return true;
}

/*
 * As root a missing package is installed, never silently: one line says what. A fresh machine
 * may need its lists updated first.
 */
static bool install_packages(const char *packages)
{
    fprintf(stderr, "testutil: installing %s (apt-get, as root) for the relay tests\n", packages);
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "export DEBIAN_FRONTEND=noninteractive; "
             "{ timeout 300 apt-get install -y -qq --no-install-recommends %s || "
             "{ timeout 300 apt-get update -qq && timeout 300 apt-get install -y -qq "
             "--no-install-recommends %s; }; } >/dev/null 2>&1",
             packages, packages);
    bool ok = system(cmd) == 0;
    if (!ok)
        fprintf(stderr, "testutil: apt-get install %s failed\n", packages);
    return ok;
}

/* A loopback TCP port nothing listens on right now: bound to port 0, read back, released. */
static uint16_t free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    uint16_t port = 0;
    if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
        port = ntohs(sin.sin_port);
    close(fd);
    return port;
}

bool test_env_on(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && *v != '\0' && strcmp(v, "0") != 0;
}

void test_relay_start(struct test_relay *r, bool tls, const char *env)
{
    memset(r, 0, sizeof(*r));
    const char *forced = getenv("RELAY_FORCE_SKIP");
    if (forced != NULL && *forced != '\0') {
        snprintf(r->skip, sizeof(r->skip), "RELAY_FORCE_SKIP: %s", forced);
        return;
    }
    char missing[128];
    if (relay_packages_missing(tls, missing, sizeof(missing))) {
        if (geteuid() != 0) {
            snprintf(r->skip, sizeof(r->skip), "not installed and not root:%s", missing);
            return;
        }
        if (!install_packages(missing + 1) || relay_packages_missing(tls, missing, sizeof(missing))) {
            snprintf(r->skip, sizeof(r->skip), "could not be installed (apt-get):%s", missing);
            return;
        }
    }
    /* WebSocket is extra: without its module the relay still runs, for the TCP/TLS tests. */
    bool ws = have_kamailio_module("websocket.so");
    if (!ws && geteuid() == 0 && install_packages("kamailio-websocket-modules"))
        ws = have_kamailio_module("websocket.so");
    if (!ws)
        snprintf(r->ws_skip, sizeof(r->ws_skip), "the Kamailio websocket module is missing (%s)",
                 geteuid() == 0 ? "kamailio-websocket-modules could not be installed (apt-get)"
                                : "not installed and not root: kamailio-websocket-modules");
    char script[512];
    snprintf(script, sizeof(script), "%s/start.sh", relay_tools());
    if (access(script, X_OK) != 0) {
        snprintf(r->skip, sizeof(r->skip), "%s not found (run from the repository root)", script);
        return;
    }
    /* Another process may take a port between free_port() and Kamailio's bind: start.sh then
     * fails (it refuses a port in use, or Kamailio exits), and new ports are tried. */
    char why[400] = "no free port";
    for (int attempt = 0; attempt < 5 && !r->up; attempt++) {
        unsigned port = free_port(), tls_port = tls ? free_port() : 0;
        unsigned ws_port = ws ? free_port() : 0, wss_port = ws && tls ? free_port() : 0;
        if (port == 0 || (tls && (tls_port == 0 || tls_port == port)))
            continue;
        if (ws && (ws_port == 0 || ws_port == port || ws_port == tls_port))
            continue;
        if (ws && tls &&
            (wss_port == 0 || wss_port == port || wss_port == tls_port || wss_port == ws_port))
            continue;
        /* Our own runtime directory, so that a failed start leaves nothing behind. */
        char dir[] = "/tmp/msrpload-relay-test.XXXXXX";
        if (mkdtemp(dir) == NULL)
            break;
        char ports[32];
        if (tls)
            snprintf(ports, sizeof(ports), "%u %u", port, tls_port);
        else
            snprintf(ports, sizeof(ports), "%u", port);
        char ws_env[64] = "";
        if (ws)
            snprintf(ws_env, sizeof(ws_env), "RELAY_WS_PORT=%u RELAY_WSS_PORT=%u", ws_port,
                     wss_port);
        char cmd[1024];
        snprintf(cmd, sizeof(cmd), "RELAY_DIR=%s RELAY_TCP_CHILDREN=2 %s %s timeout 30 %s %s 2>&1",
                 dir, ws_env, env, script, ports);
        FILE *p = popen(cmd, "r");
        if (p == NULL)
            break;
        char line[1024];
        r->uri[0] = r->pidfile[0] = r->tls_uri[0] = r->cert[0] = '\0';
        r->ws_uri[0] = r->wss_uri[0] = '\0';
        while (fgets(line, sizeof(line), p) != NULL) {
            line[strcspn(line, "\r\n")] = '\0';
            test_line_value(line, "RELAY_URI", r->uri, sizeof(r->uri));
            test_line_value(line, "RELAY_TLS_URI", r->tls_uri, sizeof(r->tls_uri));
            test_line_value(line, "RELAY_CERT", r->cert, sizeof(r->cert));
            test_line_value(line, "RELAY_WS_URI", r->ws_uri, sizeof(r->ws_uri));
            test_line_value(line, "RELAY_WSS_URI", r->wss_uri, sizeof(r->wss_uri));
            test_line_value(line, "RELAY_PIDFILE", r->pidfile, sizeof(r->pidfile));
            if (strncmp(line, "start.sh: ", 10) == 0)
                snprintf(why, sizeof(why), "%.300s", line);
        }
        int st = pclose(p);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0 && r->uri[0] != '\0' && r->pidfile[0] != '\0' &&
            (!tls || r->tls_uri[0] != '\0') && (!ws || r->ws_uri[0] != '\0') &&
            (!ws || !tls || r->wss_uri[0] != '\0')) {
            r->up = true;
            r->port = (uint16_t)port;
            r->tls_port = (uint16_t)tls_port;
            r->ws_port = (uint16_t)ws_port;
            r->wss_port = (uint16_t)wss_port;
        } else if (r->pidfile[0] != '\0') {
            test_relay_stop(r);
        }
        if (!r->up) {
            char rm[128];
            snprintf(rm, sizeof(rm), "rm -rf '%s'", dir);
            if (system(rm) != 0)
                fprintf(stderr, "testutil: %s failed\n", rm);
        }
    }
    if (!r->up)
        snprintf(r->skip, sizeof(r->skip), "the relay did not start on 5 free ports (last: %s)",
                 why);
}

void test_stop_script(const char *tools, const char *pidfile, const char *who)
{
    if (pidfile[0] == '\0')
        return;
    char stop[1024];
    snprintf(stop, sizeof(stop), "timeout 20 %s/stop.sh '%s' --clean >/dev/null 2>&1", tools,
             pidfile);
    if (system(stop) != 0)
        fprintf(stderr, "%s: %s failed\n", who, stop);
}

void test_relay_stop(struct test_relay *r)
{
    test_stop_script(relay_tools(), r->pidfile, "testutil");
    r->up = false;
    r->pidfile[0] = '\0';
}

bool test_relay_skip(const struct test_relay *r, const char *test)
{
    if (r->up)
        return false;
    if (test_env_on("REQUIRE_RELAY"))
        ck_abort_msg("%s: the relay tests must run here (REQUIRE_RELAY=1), but %s", test, r->skip);
    test_skip(test, "%s", r->skip);
    return true;
}

bool test_relay_ws_skip(const struct test_relay *r, const char *test)
{
    if (test_relay_skip(r, test))
        return true;
    if (r->ws_port != 0)
        return false;
    if (test_env_on("REQUIRE_RELAY"))
        ck_abort_msg("%s: the relay tests must run here (REQUIRE_RELAY=1), but %s", test,
                     r->ws_skip);
    test_skip(test, "%s", r->ws_skip);
    return true;
}

/* ---- summary.json ------------------------------------------------------------------------- */

json_t *test_summary_get(json_t *summary, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    json_t *v = summary;
    char *save = NULL;
    for (char *k = strtok_r(buf, ".", &save); k != NULL; k = strtok_r(NULL, ".", &save)) {
        v = json_object_get(v, k);
        ck_assert_msg(v != NULL, "summary.json: %s missing", path);
    }
    return v;
}

long long test_summary_int(json_t *summary, const char *path)
{
    json_t *v = test_summary_get(summary, path);
    ck_assert_msg(json_is_integer(v), "summary.json: %s is not an integer", path);
    return (long long)json_integer_value(v);
}
