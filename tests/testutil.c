/* testutil.c - guard-page copies, file reading, a PRNG for reproducible tests. */
#include "testutil.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

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
