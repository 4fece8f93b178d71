/*
 * scan.c - SIMD search for CR LF "-", the start of every MSRP end-line (RFC 4975 section 7.1).
 *
 * Comparing three shifted loads (CR at i, LF at i+1, "-" at i+2) and AND-ing the masks leaves
 * about one false candidate per 16 MiB of random data, so bodies are scanned at close to
 * memory speed; a memchr for CR alone would stop every 256 bytes on binary data.
 */
#include "wire/scan.h"

#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define MSRP_SCAN_X86 1
#endif

static size_t find_scalar(const char *p, size_t len)
{
    size_t i = 0;
    while (i + 3 <= len) {
        const char *cr = memchr(p + i, '\r', len - 2 - i);
        if (cr == NULL)
            break;
        i = (size_t)(cr - p);
        if (p[i + 1] == '\n' && p[i + 2] == '-')
            return i;
        i++;
    }
    return len;
}

#ifdef MSRP_SCAN_X86
static size_t find_sse2(const char *p, size_t len)
{
    const __m128i cr = _mm_set1_epi8('\r'), lf = _mm_set1_epi8('\n'), dash = _mm_set1_epi8('-');
    size_t i = 0;
    /* Each step reads p[i .. i+17], so it needs i + 18 <= len. */
    while (i + 18 <= len) {
        __m128i a = _mm_loadu_si128((const __m128i *)(p + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(p + i + 1));
        __m128i c = _mm_loadu_si128((const __m128i *)(p + i + 2));
        __m128i m = _mm_and_si128(_mm_and_si128(_mm_cmpeq_epi8(a, cr), _mm_cmpeq_epi8(b, lf)),
                                  _mm_cmpeq_epi8(c, dash));
        unsigned bits = (unsigned)_mm_movemask_epi8(m);
        if (bits != 0)
            return i + (size_t)__builtin_ctz(bits);
        i += 16;
    }
    size_t rest = find_scalar(p + i, len - i);
    return i + rest;
}

__attribute__((target("avx2"))) static size_t find_avx2(const char *p, size_t len)
{
    const __m256i cr = _mm256_set1_epi8('\r'), lf = _mm256_set1_epi8('\n'),
                  dash = _mm256_set1_epi8('-');
    size_t i = 0;
    /* Two vectors a step: each reads p[i .. i+65], so it needs i + 66 <= len. */
    while (i + 66 <= len) {
        __m256i a0 = _mm256_loadu_si256((const __m256i *)(p + i));
        __m256i b0 = _mm256_loadu_si256((const __m256i *)(p + i + 1));
        __m256i c0 = _mm256_loadu_si256((const __m256i *)(p + i + 2));
        __m256i a1 = _mm256_loadu_si256((const __m256i *)(p + i + 32));
        __m256i b1 = _mm256_loadu_si256((const __m256i *)(p + i + 33));
        __m256i c1 = _mm256_loadu_si256((const __m256i *)(p + i + 34));
        __m256i m0 = _mm256_and_si256(
            _mm256_and_si256(_mm256_cmpeq_epi8(a0, cr), _mm256_cmpeq_epi8(b0, lf)),
            _mm256_cmpeq_epi8(c0, dash));
        __m256i m1 = _mm256_and_si256(
            _mm256_and_si256(_mm256_cmpeq_epi8(a1, cr), _mm256_cmpeq_epi8(b1, lf)),
            _mm256_cmpeq_epi8(c1, dash));
        if (!_mm256_testz_si256(_mm256_or_si256(m0, m1), _mm256_or_si256(m0, m1))) {
            unsigned bits0 = (unsigned)_mm256_movemask_epi8(m0);
            if (bits0 != 0)
                return i + (size_t)__builtin_ctz(bits0);
            return i + 32 + (size_t)__builtin_ctz((unsigned)_mm256_movemask_epi8(m1));
        }
        i += 64;
    }
    return i + find_sse2(p + i, len - i);
}
#endif

static size_t (*resolve(void))(const char *, size_t)
{
#ifdef MSRP_SCAN_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2"))
        return find_avx2;
    return find_sse2;
#else
    return find_scalar;
#endif
}

/*
 * The choice is made once; a benign race (two threads resolving at once) stores the same
 * pointer, and the atomic builtins keep the sanitizers and the memory model satisfied.
 */
static size_t (*find_impl)(const char *, size_t);

size_t msrp__find_crlf_dash(const char *p, size_t len)
{
    size_t (*f)(const char *, size_t) = __atomic_load_n(&find_impl, __ATOMIC_RELAXED);
    if (f == NULL) {
        f = resolve();
        __atomic_store_n(&find_impl, f, __ATOMIC_RELAXED);
    }
    return f(p, len);
}

size_t msrp__find_end_line(const char *p, size_t len, const char *tid, size_t tid_len)
{
    size_t need = 9 + tid_len, i = 0;
    while (i + need <= len) {
        size_t hit = msrp__find_crlf_dash(p + i, len - i);
        if (hit == len - i)
            return len;
        i += hit;
        if (i + need > len)
            return len;
        if (memcmp(p + i + 3, "------", 6) == 0 && memcmp(p + i + 9, tid, tid_len) == 0)
            return i;
        i++;
    }
    return len;
}

const char *msrp__scan_impl(void)
{
    size_t (*f)(const char *, size_t) = resolve();
#ifdef MSRP_SCAN_X86
    if (f == find_avx2)
        return "avx2";
    if (f == find_sse2)
        return "sse2";
#endif
    (void)f;
    return "scalar";
}
