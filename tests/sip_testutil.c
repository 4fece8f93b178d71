/*
 * sip_testutil.c - the scripted Kamailio SIP registrar/proxy (tools/sip/start.sh) on free
 * loopback ports, SIPp processes run and waited for with bounds, and the skips when either is
 * not installed; `msrpload serve --sip` as a child whose JSON event lines the tests read.
 */
#include "sip_testutil.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

static const char *sip_tools(void)
{
    const char *d = getenv("MSRPLOAD_SIP_TOOLS");
    return d != NULL ? d : "tools/sip";
}

static bool required(void)
{
    return test_env_on("REQUIRE_SIP") || test_env_on("REQUIRE_RELAY");
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Binds 127.0.0.1:port (0 = any) for type; returns the fd (and the port) or -1. */
static int bind_loopback(int type, uint16_t *port)
{
    int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                              .sin_port = htons(*port)};
    socklen_t len = sizeof(sin);
    if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
        getsockname(fd, (struct sockaddr *)&sin, &len) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(sin.sin_port);
    return fd;
}

uint16_t test_sip_free_port(void)
{
    for (int i = 0; i < 50; i++) {
        uint16_t port = 0;
        int t = bind_loopback(SOCK_STREAM, &port);
        if (t < 0)
            return 0;
        int u = bind_loopback(SOCK_DGRAM, &port);
        close(t);
        if (u >= 0) {
            close(u);
            return port;
        }
    }
    return 0;
}

void test_sip_start(struct test_sip *s, bool tls, bool msrp, const char *env)
{
    test_sip_start_on(s, 0, tls, msrp, env);
}

void test_sip_start_on(struct test_sip *s, uint16_t fixed_port, bool tls, bool msrp,
                       const char *env)
{
    memset(s, 0, sizeof(*s));
    if (system("command -v kamailio >/dev/null 2>&1 || test -x /usr/sbin/kamailio") != 0) {
        snprintf(s->skip, sizeof(s->skip),
                 "kamailio is not installed (tools/install-deps.sh --relay --sip)");
        return;
    }
    if (tls && system("ls /usr/lib/*/kamailio/modules/tls.so >/dev/null 2>&1") != 0) {
        snprintf(s->skip, sizeof(s->skip),
                 "the Kamailio TLS module is not installed (kamailio-tls-modules)");
        return;
    }
    if (tls && system("command -v openssl >/dev/null 2>&1") != 0) {
        snprintf(s->skip, sizeof(s->skip), "openssl is not installed (start.sh makes the certificate)");
        return;
    }
    if (system("command -v ps >/dev/null 2>&1") != 0) {
        snprintf(s->skip, sizeof(s->skip), "ps is not installed (procps), tools/sip/stop.sh needs it");
        return;
    }
    char script[512];
    snprintf(script, sizeof(script), "%s/start.sh", sip_tools());
    if (access(script, X_OK) != 0) {
        snprintf(s->skip, sizeof(s->skip), "%.400s not found (run from the repository root)", script);
        return;
    }
    char why[400] = "no free port";
    for (int attempt = 0; attempt < 5 && !s->up; attempt++) {
        uint16_t port = fixed_port ? fixed_port : test_sip_free_port();
        uint16_t mport = msrp ? test_sip_free_port() : 0;
        uint16_t tport = tls ? test_sip_free_port() : 0;
        if (port == 0 || (msrp && (mport == 0 || mport == port)) ||
            (tls && (tport == 0 || tport == port || tport == mport)))
            continue;
        char dir[] = "/tmp/msrpload-sip-test.XXXXXX";
        if (mkdtemp(dir) == NULL)
            break;
        char cmd[1024];
        snprintf(cmd, sizeof(cmd),
                 "SIP_DIR=%s SIP_TCP_CHILDREN=2 SIP_UDP_CHILDREN=2 SIP_MSRP_PORT=%u %s "
                 "timeout 30 %s %u %u 2>&1",
                 dir, (unsigned)mport, env, script, (unsigned)port, (unsigned)tport);
        FILE *p = popen(cmd, "r");
        if (p == NULL)
            break;
        char line[1024];
        s->pidfile[0] = '\0';
        while (fgets(line, sizeof(line), p) != NULL) {
            line[strcspn(line, "\r\n")] = '\0';
            test_line_value(line, "SIP_PIDFILE", s->pidfile, sizeof(s->pidfile));
            test_line_value(line, "SIP_CERT", s->cert, sizeof(s->cert));
            if (strncmp(line, "start.sh: ", 10) == 0)
                snprintf(why, sizeof(why), "%.300s", line);
        }
        int st = pclose(p);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0 && s->pidfile[0] != '\0') {
            s->up = true;
            s->port = port;
            s->msrp_port = mport;
            s->tls_port = tport;
        } else {
            test_sip_stop(s);
            char rm[128];
            snprintf(rm, sizeof(rm), "rm -rf '%s'", dir);
            if (system(rm) != 0)
                fprintf(stderr, "sip_testutil: %s failed\n", rm);
        }
    }
    if (!s->up)
        snprintf(s->skip, sizeof(s->skip),
                 "the SIP proxy (tools/sip/start.sh) did not start on 5 free ports (last: %s)", why);
}

void test_sip_stop(struct test_sip *s)
{
    test_stop_script(sip_tools(), s->pidfile, "sip_testutil");
    s->up = false;
    s->pidfile[0] = '\0';
}

bool test_sip_skip(const struct test_sip *s, const char *test)
{
    if (s->up)
        return false;
    if (required())
        ck_abort_msg("%s: the SIP tests must run here (REQUIRE_SIP/REQUIRE_RELAY=1), but %s", test,
                     s->skip);
    test_skip(test, "%s", s->skip);
    return true;
}

bool test_sipp_skip(const char *test)
{
    if (system("command -v sipp >/dev/null 2>&1") == 0)
        return false;
    const char *why = "sipp is not installed (Debian sip-tester; tools/install-deps.sh --sip)";
    if (required())
        ck_abort_msg("%s: the SIP tests must run here (REQUIRE_SIP/REQUIRE_RELAY=1), but %s", test,
                     why);
    test_skip(test, "%s", why);
    return true;
}

void test_sipp_start(struct test_sipp *p, const char *dir, const char *const *args)
{
    const char *argv[64];
    size_t n = 0;
    argv[n++] = "sipp";
    for (size_t i = 0; args[i] != NULL && n < 63; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int null = open("/dev/null", O_RDWR);
        if (null < 0 || chdir(dir) != 0)
            _exit(126);
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        execvp("sipp", (char *const *)argv);
        _exit(127);
    }
    p->pid = pid;
}

int test_sipp_wait(struct test_sipp *p, int seconds)
{
    if (p->pid <= 0)
        return -1;
    int st = 0;
    for (int i = 0; i < seconds * 20; i++) {
        pid_t r = waitpid(p->pid, &st, WNOHANG);
        if (r == p->pid) {
            p->pid = 0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        }
        if (r < 0 && errno != EINTR)
            break;
        sleep_ms(50);
    }
    kill(p->pid, SIGKILL);
    waitpid(p->pid, &st, 0);
    p->pid = 0;
    return -1;
}

bool test_sipp_wait_bound(uint16_t port, bool tcp)
{
    for (int i = 0; i < 200; i++) {
        uint16_t want = port;
        int fd = bind_loopback(tcp ? SOCK_STREAM : SOCK_DGRAM, &want);
        if (fd < 0)
            return true; /* taken: SIPp holds it */
        close(fd);
        sleep_ms(50);
    }
    return false;
}

char *test_slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    ck_assert_ptr_nonnull(buf);
    if (f != NULL) {
        size_t got;
        while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
            n += got;
            if (n + 1 == cap) {
                cap *= 2;
                buf = realloc(buf, cap);
                ck_assert_ptr_nonnull(buf);
            }
        }
        fclose(f);
    }
    buf[n] = '\0';
    return buf;
}

/* ---- serve --sip as a child --------------------------------------------------------------- */

bool test_sip_serve_line(struct test_sip_serve *p, char *line, size_t cap, int timeout_ms)
{
    uint64_t deadline = test_now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        char *nl = memchr(p->buf, '\n', p->len);
        if (nl != NULL) {
            size_t n = (size_t)(nl - p->buf);
            size_t c = n < cap - 1 ? n : cap - 1;
            memcpy(line, p->buf, c);
            line[c] = '\0';
            memmove(p->buf, nl + 1, p->len - n - 1);
            p->len -= n + 1;
            return true;
        }
        uint64_t now = test_now_ms();
        if (now >= deadline || p->len == sizeof(p->buf))
            return false;
        struct pollfd pfd = {.fd = p->out, .events = POLLIN};
        int r = poll(&pfd, 1, (int)(deadline - now));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        ssize_t n = read(p->out, p->buf + p->len, sizeof(p->buf) - p->len);
        if (n <= 0)
            return false;
        p->len += (size_t)n;
    }
}

void test_sip_serve_start(struct test_sip_serve *p, const struct tmp *t, const char *sip_uri,
                          const char *const *extra)
{
    memset(p, 0, sizeof(*p));
    const char *argv[40] = {msrpload_binary(), "serve", "--listen",
                            "127.0.0.1:0",     "--sip", sip_uri};
    int argc = 6;
    for (size_t i = 0; extra != NULL && extra[i] != NULL; i++) {
        ck_assert_int_lt(argc, 38);
        argv[argc++] = extra[i];
    }
    argv[argc] = NULL;
    snprintf(p->errpath, sizeof(p->errpath), "%s/serve.err", t->dir);
    p->pid = test_spawn(argv, NULL, p->errpath, &p->out);
    bool got = test_sip_serve_line(p, p->contact, sizeof(p->contact), 20000);
    const char *colon = strrchr(p->contact, ':');
    unsigned port = 0;
    if (got && strncmp(p->contact, "sip:", 4) == 0 && colon != NULL)
        sscanf(colon + 1, "%u", &port);
    if (port == 0 || port > 65535) {
        char *err = test_slurp(p->errpath);
        ck_abort_msg("serve --sip printed no Contact (got \"%s\"), stderr: %s", p->contact, err);
    }
    p->sip_port = (uint16_t)port;
}

int test_sip_serve_stop(struct test_sip_serve *p)
{
    return test_child_stop(&p->pid);
}

void test_sip_serve_close(struct test_sip_serve *p)
{
    if (p->pid > 0)
        test_sip_serve_stop(p);
    close(p->out);
}

json_t *test_sip_serve_event(struct test_sip_serve *p, const char *event)
{
    char line[8192];
    uint64_t deadline = test_now_ms() + TEST_SIP_SERVE_WAIT_MS;
    for (;;) {
        uint64_t now = test_now_ms();
        bool got =
            now < deadline && test_sip_serve_line(p, line, sizeof(line), (int)(deadline - now));
        if (!got) {
            char *err = test_slurp(p->errpath);
            ck_abort_msg("serve wrote no \"%s\" line within %d ms; stderr: %s", event,
                         TEST_SIP_SERVE_WAIT_MS, err);
        }
        json_t *o = json_loads(line, 0, NULL);
        ck_assert_msg(o != NULL && json_is_object(o), "not a JSON object: %s", line);
        const char *ev = json_string_value(json_object_get(o, "event"));
        ck_assert_msg(ev != NULL, "no event in %s", line);
        if (strcmp(ev, event) == 0)
            return o;
        json_decref(o);
    }
}

const char *test_jstr(json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    ck_assert_msg(v != NULL, "no string \"%s\" in %s", key, json_dumps(o, 0));
    return v;
}

long test_jint(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    ck_assert_msg(json_is_integer(v), "no number \"%s\" in %s", key, json_dumps(o, 0));
    return (long)json_integer_value(v);
}
