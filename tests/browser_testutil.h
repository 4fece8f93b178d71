/*
 * browser_testutil.h - a real browser for the tests that check a page msrpload writes:
 * headless Chromium (Debian's `chromium`, tools/install-deps.sh --browser) loads a file and
 * dumps the DOM it built, or takes a screenshot. Where Chromium is absent the test is a
 * visible skip (testutil.h test_skip), and a failure instead under REQUIRE_BROWSER=1 (CI).
 */
#ifndef MSRPLOAD_TESTS_BROWSER_TESTUTIL_H
#define MSRPLOAD_TESTS_BROWSER_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>

/* Finds chromium (or chromium-browser) on PATH into path. When there is none, records a
 * skip for test with the reason and returns true (the test then returns); under
 * REQUIRE_BROWSER=1 the test fails instead. */
bool browser_skip(const char *test, char *path, size_t cap);

/* Loads the local file html (an absolute path) in headless Chromium and returns the DOM it
 * serialises (--dump-dom), malloc'd; the test fails when Chromium fails or prints nothing.
 * Bounded: Chromium is killed after 60 s. */
char *browser_dump_dom(const char *chromium, const char *html);

/* Saves a screenshot of html at width x height pixels into png; the test fails unless a PNG
 * file was written. */
void browser_screenshot(const char *chromium, const char *html, const char *png, int width,
                        int height);

#endif
