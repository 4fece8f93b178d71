/*
 * browser_testutil.c - headless Chromium for the tests (browser_testutil.h): found on PATH,
 * run with timeout(1) so that a hung browser cannot hang the test, its profile in a
 * temporary directory of its own.
 */
#include "browser_testutil.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

bool browser_skip(const char *test, char *path, size_t cap)
{
    static const char *const names[] = {"chromium", "chromium-browser"};
    const char *env_path = getenv("PATH");
    char dirs[4096];
    snprintf(dirs, sizeof dirs, "%s", env_path != NULL ? env_path : "/usr/bin:/bin");
    char *save = NULL;
    for (char *d = strtok_r(dirs, ":", &save); d != NULL; d = strtok_r(NULL, ":", &save))
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
            snprintf(path, cap, "%s/%s", d, names[i]);
            if (access(path, X_OK) == 0)
                return false;
        }
    const char *req = getenv("REQUIRE_BROWSER");
    if (req != NULL && req[0] != '\0' && strcmp(req, "0") != 0)
        ck_abort_msg("%s: the browser tests must run here (REQUIRE_BROWSER=1), but chromium is "
                     "not on PATH (tools/install-deps.sh --browser installs it)",
                     test);
    test_skip(test, "chromium is not installed (tools/install-deps.sh --browser)");
    return true;
}

/* Runs chromium headless on file://html with extra (already quoted for the shell), its
 * standard output into out (may be NULL: /dev/null). Returns the exit code. */
static int run_chromium(const char *chromium, const char *html, const char *extra,
                        const char *out)
{
    struct tmp profile;
    tmp_make(&profile);
    char cmd[4096];
    int n = snprintf(cmd, sizeof cmd,
                     "timeout -s KILL 60 '%s' --headless --no-sandbox --disable-gpu "
                     "--no-first-run --user-data-dir='%s' %s 'file://%s' > '%s' 2>/dev/null",
                     chromium, profile.dir, extra, html, out != NULL ? out : "/dev/null");
    ck_assert_int_lt(n, (int)sizeof cmd);
    int st = system(cmd);
    tmp_remove(&profile);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

char *browser_dump_dom(const char *chromium, const char *html)
{
    char out[4200];
    snprintf(out, sizeof out, "%s.dom", html);
    int rc = run_chromium(chromium, html, "--dump-dom", out);
    ck_assert_msg(rc == 0, "chromium --dump-dom %s: exit %d", html, rc);
    size_t len;
    char *raw = read_file(out, &len);
    char *dom = strndup(raw, len);
    free(raw);
    ck_assert_ptr_nonnull(dom);
    ck_assert_msg(len > 0, "chromium printed no DOM for %s", html);
    unlink(out);
    return dom;
}

void browser_screenshot(const char *chromium, const char *html, const char *png, int width,
                        int height)
{
    char extra[4200];
    snprintf(extra, sizeof extra, "--hide-scrollbars --screenshot='%s' --window-size=%d,%d", png,
             width, height);
    unlink(png);
    int rc = run_chromium(chromium, html, extra, NULL);
    ck_assert_msg(rc == 0, "chromium --screenshot %s: exit %d", html, rc);
    size_t len;
    char *raw = read_file(png, &len);
    ck_assert_msg(len > 8 && memcmp(raw, "\x89PNG\r\n\x1a\n", 8) == 0, "%s is not a PNG", png);
    free(raw);
}
