/* testutil.h - helpers shared by the test suites. */
#ifndef MSRPLOAD_TESTS_TESTUTIL_H
#define MSRPLOAD_TESTS_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/*
 * Copies len bytes so that the last one sits right before a PROT_NONE page: reading one byte
 * too far crashes the test. Free with guarded_free().
 */
char *guarded_copy(const void *data, size_t len);
void guarded_free(char *p, size_t len);

/* Reads a whole file into a malloc'd buffer; aborts the test on error. */
char *read_file(const char *path, size_t *len);

/* Small deterministic PRNG (xorshift64*) for reproducible random tests. */
uint64_t test_rand(uint64_t *state);

/* Converts "\r\n" written as literal line ends: a vector written with "\n" gets CRLF. */
char *crlf_from_lf(const char *text, size_t *len);

/* The msrpload binary under test: $MSRPLOAD_BIN (make asan sets it), else ./msrpload. */
const char *msrpload_binary(void);

/* A fresh temporary directory for one test, and its removal with everything in it. */
struct tmp {
    char dir[64];
};
void tmp_make(struct tmp *t);
void tmp_remove(struct tmp *t);

#endif
