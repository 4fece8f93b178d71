/*
 * check_histogram.c - the log-linear latency histogram (src/report/histogram.c).
 *
 * The oracles are independent of the implementation: percentiles come from sorted samples,
 * sub-bucket bounds from a loop that doubles the step width octave by octave, the expected
 * .hgrm text was written by hand from the format's definition. Histograms use msrpload's
 * layout (1 µs .. 1 hour, 3 significant figures) unless a table says otherwise.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/histogram.h"
#include "suites.h"
#include "testutil.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define HOUR_US UINT64_C(3600000000)
#define NSAMPLES 100000

static void init_hour(struct histogram *h)
{
    ck_assert_int_eq(histogram_init(h, 1, HOUR_US, 3), 0);
}

/* Every counter, the totals and the extremes agree. */
static void assert_same(const struct histogram *a, const struct histogram *b)
{
    ck_assert_uint_eq(a->counts_len, b->counts_len);
    for (size_t i = 0; i < a->counts_len; i++)
        ck_assert_msg(a->counts[i] == b->counts[i], "index %zu: %llu != %llu", i,
                      (unsigned long long)a->counts[i], (unsigned long long)b->counts[i]);
    ck_assert_uint_eq(histogram_count(a), histogram_count(b));
    ck_assert_uint_eq(a->overflow, b->overflow);
    ck_assert_uint_eq(histogram_min(a), histogram_min(b));
    ck_assert_uint_eq(histogram_max(a), histogram_max(b));
}

/* Width of the sub-bucket holding v, by walking the octaves: unit-wide steps up to
 * sub_bucket_count units, then twice as wide each time the range doubles. */
static uint64_t oracle_width(uint64_t unit, uint64_t sub_buckets, uint64_t v)
{
    uint64_t w = unit, top = sub_buckets * unit;
    while (top != 0 && v >= top) { /* top wraps to 0 once it would be 2^64 */
        w <<= 1;
        top <<= 1;
    }
    return w;
}

/* ---- Layout ---------------------------------------------------------------------------- */

static const struct {
    uint64_t lowest, highest;
    int sigfigs;
} bad_init[] = {
    {0, HOUR_US, 3}, /* lowest below 1 */
    {1, HOUR_US, 0}, /* sigfigs out of 1..5 */
    {1, HOUR_US, 6},
    {1, HOUR_US, -1},
    {1000, 1999, 3}, /* highest < 2 * lowest */
    {1, 1, 1},
    {UINT64_C(1) << 53, UINT64_MAX, 3}, /* 2^53 * 2048 does not fit 64 bits */
    {UINT64_C(1) << 47, UINT64_MAX, 5}, /* 2^47 * 2^18 neither */
};

START_TEST(test_init_invalid)
{
    struct histogram h;
    ck_assert_int_eq(
        histogram_init(&h, bad_init[_i].lowest, bad_init[_i].highest, bad_init[_i].sigfigs),
        EINVAL);
    ck_assert_ptr_null(h.counts);
    histogram_free(&h); /* harmless after a failed init */
}
END_TEST

/*
 * Sizes worked out by hand: S = 2^ceil(log2(2 * 10^d)); buckets = 1 + the doublings of S *
 * unit needed to pass highest; counts = (buckets + 1) * S / 2. For one hour in µs at 3
 * figures: S = 2048, 2048 * 2^21 = 4294967296 > 3.6e9, so 22 buckets and 23 * 1024 counts.
 */
static const struct {
    uint64_t lowest, highest;
    int sigfigs;
    int sub_buckets, buckets;
    size_t counts_len;
} layouts[] = {
    {1, HOUR_US, 1, 32, 28, 29 * 16},
    {1, HOUR_US, 2, 256, 25, 26 * 128},
    {1, HOUR_US, 3, 2048, 22, 23 * 1024},
    {1, HOUR_US, 4, 32768, 18, 19 * 16384},
    {1, HOUR_US, 5, 262144, 15, 16 * 131072},
    {1000, HOUR_US * 1000, 3, 2048, 23, 24 * 1024}, /* one hour in ns, unit 512 ns */
    {1, UINT64_MAX, 3, 2048, 54, 55 * 1024},        /* every uint64_t: last bucket [2^63, 2^64) */
    {1, 4095, 3, 2048, 2, 3 * 1024},
    {1, 4096, 3, 2048, 3, 4 * 1024},
    {UINT64_C(1) << 52, UINT64_MAX, 3, 2048, 2, 3 * 1024}, /* bucket 0 ends at 2^63 */
};

START_TEST(test_layout)
{
    struct histogram h;
    ck_assert_int_eq(
        histogram_init(&h, layouts[_i].lowest, layouts[_i].highest, layouts[_i].sigfigs), 0);
    ck_assert_int_eq(h.sub_bucket_count, layouts[_i].sub_buckets);
    ck_assert_int_eq(h.bucket_count, layouts[_i].buckets);
    ck_assert_uint_eq(h.counts_len, layouts[_i].counts_len);
    ck_assert_int_eq(h.unit_magnitude, 63 - __builtin_clzll(layouts[_i].lowest));

    /* Both ends of the range record, and land inside the array. */
    ck_assert(histogram_record(&h, 0));
    ck_assert(histogram_record(&h, layouts[_i].highest));
    ck_assert_uint_eq(h.counts[0], 1);
    ck_assert_uint_eq(histogram_count(&h), 2);
    ck_assert_uint_eq(histogram_percentile(&h, 100.0),
                      histogram_highest_equivalent(&h, layouts[_i].highest));
    ck_assert_uint_ge(histogram_percentile(&h, 100.0), layouts[_i].highest);
    if (layouts[_i].highest < UINT64_MAX) {
        ck_assert(!histogram_record(&h, layouts[_i].highest + 1));
        ck_assert_uint_eq(h.overflow, 1);
    }
    histogram_free(&h);
    histogram_free(&h); /* a second free is harmless */
}
END_TEST

/* msrpload's case: one hour in µs at 3 figures, 184 KiB, and 3.6e9 itself recordable. */
START_TEST(test_one_hour)
{
    struct histogram h;
    init_hour(&h);
    ck_assert_uint_eq(h.counts_len, 23552);
    ck_assert_uint_le(h.counts_len * sizeof(*h.counts), 200 * 1024);
    ck_assert(histogram_record(&h, HOUR_US));
    /* 3.6e9 has its top bit at 2^31: steps of 2^(31 - 10) = 2097152. */
    uint64_t lo = histogram_lowest_equivalent(&h, HOUR_US);
    uint64_t hi = histogram_highest_equivalent(&h, HOUR_US);
    ck_assert_uint_eq(hi - lo + 1, 2097152);
    ck_assert_uint_eq(lo, HOUR_US / 2097152 * 2097152);
    ck_assert_uint_eq(histogram_max(&h), hi);
    ck_assert_uint_eq(histogram_min(&h), lo);
    ck_assert_uint_le((hi - lo) * 1000, HOUR_US); /* within 10^-3 */
    ck_assert(!histogram_record(&h, HOUR_US + 1));
    ck_assert_uint_eq(histogram_count(&h), 1);
    histogram_free(&h);
}
END_TEST

/* Sub-bucket bounds against the octave walk, at random values and around every boundary. */
static const struct {
    uint64_t lowest, highest;
    int sigfigs;
} equiv_layouts[] = {
    {1, HOUR_US, 3},    {1, HOUR_US, 1}, {1000, HOUR_US * 1000, 3},
    {1, UINT64_MAX, 2}, {3, 1000000, 5},
};

static void check_equivalence(const struct histogram *h, uint64_t v)
{
    uint64_t unit = UINT64_C(1) << h->unit_magnitude;
    uint64_t w = oracle_width(unit, (uint64_t)h->sub_bucket_count, v);
    uint64_t lo = histogram_lowest_equivalent(h, v), hi = histogram_highest_equivalent(h, v);
    ck_assert_msg(lo == v - v % w && hi == lo + (w - 1), "v=%llu: [%llu, %llu], want width %llu",
                  (unsigned long long)v, (unsigned long long)lo, (unsigned long long)hi,
                  (unsigned long long)w);
    /* The promised precision: a bucket is unit-wide or under 10^-sigfigs of its values. */
    uint64_t pow10 = 1;
    for (int i = 0; i < h->sigfigs; i++)
        pow10 *= 10;
    ck_assert(w == unit || w <= lo / pow10);
    /* Both bounds map back to the same bucket. */
    ck_assert_uint_eq(histogram_lowest_equivalent(h, hi), lo);
    ck_assert_uint_eq(histogram_highest_equivalent(h, lo), hi);
}

START_TEST(test_equivalence)
{
    struct histogram h;
    ck_assert_int_eq(histogram_init(&h, equiv_layouts[_i].lowest, equiv_layouts[_i].highest,
                                    equiv_layouts[_i].sigfigs),
                     0);
    uint64_t seed = 0x5eed + (uint64_t)_i;
    for (int n = 0; n < 20000; n++) {
        uint64_t v = test_rand(&seed) >> (test_rand(&seed) % 64);
        check_equivalence(&h, v);
    }
    for (int e = 0; e < 64; e++) {
        uint64_t p = UINT64_C(1) << e;
        for (uint64_t d = 0; d < 3; d++) {
            check_equivalence(&h, p + d);
            check_equivalence(&h, p - d);
            check_equivalence(&h, p + (p >> 1) - d);
        }
    }
    check_equivalence(&h, UINT64_MAX);
    histogram_free(&h);
}
END_TEST

/* lowest = 1000 gives a 512-wide unit: values below it share the bottom sub-buckets. */
START_TEST(test_below_lowest)
{
    struct histogram h;
    ck_assert_int_eq(histogram_init(&h, 1000, HOUR_US * 1000, 3), 0);
    ck_assert_int_eq(h.unit_magnitude, 9);
    ck_assert(histogram_record(&h, 0));
    ck_assert(histogram_record(&h, 100));
    ck_assert(histogram_record(&h, 511));
    ck_assert_uint_eq(h.counts[0], 3);
    ck_assert_uint_eq(histogram_lowest_equivalent(&h, 100), 0);
    ck_assert_uint_eq(histogram_highest_equivalent(&h, 100), 511);
    ck_assert(histogram_record(&h, 999));
    ck_assert_uint_eq(h.counts[1], 1);
    ck_assert_uint_eq(histogram_min(&h), 0);
    ck_assert_uint_eq(histogram_max(&h), 1023);
    histogram_free(&h);
}
END_TEST

/* ---- Accuracy against sorted samples -------------------------------------------------- */

/* A uniform double in [0, 1). */
static double unit_rand(uint64_t *s)
{
    return (double)(test_rand(s) >> 11) * 0x1.0p-53;
}

static uint64_t gen_uniform(uint64_t *s)
{
    return 1 + test_rand(s) % 1000000;
}

static uint64_t gen_exponential(uint64_t *s)
{
    return 1 + (uint64_t)(-log(1.0 - unit_rand(s)) * 5000.0);
}

static uint64_t gen_bimodal(uint64_t *s)
{
    if (test_rand(s) & 1)
        return 200 + test_rand(s) % 100;
    return 1000000 + test_rand(s) % 200000;
}

static uint64_t gen_constant(uint64_t *s)
{
    (void)s;
    return 4242;
}

static uint64_t gen_powers_of_two(uint64_t *s)
{
    return UINT64_C(1) << (test_rand(s) % 32);
}

/* Sub-bucket edges: k * 2^j for k in [1024, 2048) is the first value of a sub-bucket. */
static uint64_t gen_boundaries(uint64_t *s)
{
    uint64_t k = 1024 + test_rand(s) % 1024, j = test_rand(s) % 21;
    return (k << j) + test_rand(s) % 3 - 1;
}

/* Log-uniform over the whole range, 1 µs .. 1 hour. */
static uint64_t gen_loguniform(uint64_t *s)
{
    uint64_t v = (uint64_t)exp(unit_rand(s) * log((double)HOUR_US));
    return v < 1 ? 1 : v > HOUR_US ? HOUR_US : v;
}

static const struct {
    const char *name;
    uint64_t (*gen)(uint64_t *);
} dists[] = {
    {"uniform", gen_uniform},
    {"exponential", gen_exponential},
    {"bimodal", gen_bimodal},
    {"constant", gen_constant},
    {"powers-of-two", gen_powers_of_two},
    {"boundaries", gen_boundaries},
    {"log-uniform", gen_loguniform},
};

/* Percentiles in parts per million, so the exact rank is integer arithmetic. */
static const uint64_t ppm[] = {0, 10000, 100000, 500000, 900000, 990000, 999000, 999900, 1000000};

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

START_TEST(test_accuracy)
{
    uint64_t *v = malloc(NSAMPLES * sizeof(*v));
    ck_assert_ptr_nonnull(v);
    uint64_t seed = 0x9e3779b97f4a7c15ULL ^ (uint64_t)_i;
    struct histogram h;
    init_hour(&h);
    long double sum = 0, sumsq = 0;
    for (size_t i = 0; i < NSAMPLES; i++) {
        v[i] = dists[_i].gen(&seed);
        ck_assert(histogram_record(&h, v[i]));
        sum += v[i];
        sumsq += (long double)v[i] * v[i];
    }
    qsort(v, NSAMPLES, sizeof(*v), cmp_u64);
    const char *name = dists[_i].name;

    ck_assert_uint_eq(histogram_count(&h), NSAMPLES);
    ck_assert_uint_eq(h.overflow, 0);
    ck_assert_uint_eq(histogram_min(&h), histogram_lowest_equivalent(&h, v[0]));
    ck_assert_uint_eq(histogram_max(&h), histogram_highest_equivalent(&h, v[NSAMPLES - 1]));

    for (size_t k = 0; k < NELEM(ppm); k++) {
        /* Nearest rank: ceil(p * n), at least 1. */
        uint64_t rank = (ppm[k] * NSAMPLES + 999999) / 1000000;
        uint64_t exact = v[rank < 1 ? 0 : rank - 1];
        double p = (double)ppm[k] / 10000.0;
        uint64_t got = histogram_percentile(&h, p);
        uint64_t want = ppm[k] == 0 ? histogram_lowest_equivalent(&h, exact)
                                    : histogram_highest_equivalent(&h, exact);
        ck_assert_msg(got == want, "%s p%g: got %llu, want %llu (exact %llu)", name, p,
                      (unsigned long long)got, (unsigned long long)want, (unsigned long long)exact);
        /* Within 10^-3 of the exact sample, on the side the bucket semantics say. */
        uint64_t err = got > exact ? got - exact : exact - got;
        ck_assert_msg(err * 1000 <= exact, "%s p%g: %llu vs exact %llu", name, p,
                      (unsigned long long)got, (unsigned long long)exact);
        ck_assert(ppm[k] == 0 ? got <= exact : got >= exact);
    }

    /* Mean and stddev: each value moves by at most half a bucket, under 1/2048 of itself,
     * so the mean moves by less than mean/2048 and the stddev by less than rms/2048. */
    long double lmean = sum / NSAMPLES, lvar = sumsq / NSAMPLES - lmean * lmean;
    double mean = (double)lmean, sd = lvar > 0 ? (double)sqrtl(lvar) : 0.0;
    double rms = sqrt((double)(sumsq / NSAMPLES));
    double hmean = histogram_mean(&h), hsd = histogram_stddev(&h);
    ck_assert_msg(fabs(hmean - mean) <= mean / 2048 + 1e-9, "%s mean %f vs %f", name, hmean, mean);
    ck_assert_msg(fabs(hsd - sd) <= rms / 2048 + 1e-6 * rms, "%s stddev %f vs %f", name, hsd, sd);
    histogram_free(&h);
    free(v);
}
END_TEST

/* ---- Recording ------------------------------------------------------------------------ */

START_TEST(test_empty)
{
    struct histogram h;
    init_hour(&h);
    ck_assert_uint_eq(histogram_count(&h), 0);
    ck_assert_uint_eq(histogram_min(&h), 0);
    ck_assert_uint_eq(histogram_max(&h), 0);
    ck_assert(histogram_mean(&h) == 0.0);
    ck_assert(histogram_stddev(&h) == 0.0);
    ck_assert_uint_eq(histogram_percentile(&h, 0), 0);
    ck_assert_uint_eq(histogram_percentile(&h, 50), 0);
    ck_assert_uint_eq(histogram_percentile(&h, 100), 0);
    histogram_free(&h);
}
END_TEST

START_TEST(test_overflow)
{
    struct histogram h;
    init_hour(&h);
    ck_assert(histogram_record(&h, 7));
    ck_assert(!histogram_record(&h, HOUR_US + 1));
    ck_assert(!histogram_record(&h, UINT64_MAX));
    ck_assert(!histogram_record_n(&h, HOUR_US * 2, 5));
    ck_assert_uint_eq(h.overflow, 7);
    ck_assert_uint_eq(histogram_count(&h), 1);
    ck_assert_uint_eq(histogram_max(&h), 7); /* dropped values do not move the extremes */
    ck_assert_uint_eq(histogram_percentile(&h, 100), 7);
    histogram_reset(&h);
    ck_assert_uint_eq(h.overflow, 0);
    histogram_free(&h);
}
END_TEST

START_TEST(test_record_n)
{
    struct histogram a, b;
    init_hour(&a);
    init_hour(&b);
    uint64_t seed = 42;
    for (int n = 0; n < 200; n++) {
        uint64_t v = test_rand(&seed) % HOUR_US, c = test_rand(&seed) % 50;
        ck_assert(histogram_record_n(&a, v, c));
        for (uint64_t k = 0; k < c; k++)
            ck_assert(histogram_record(&b, v));
    }
    assert_same(&a, &b);
    /* A count of 0 records nothing, extremes included. */
    uint64_t min = histogram_min(&a), max = histogram_max(&a);
    ck_assert(histogram_record_n(&a, 0, 0));
    ck_assert(histogram_record_n(&a, HOUR_US, 0));
    ck_assert_uint_eq(histogram_min(&a), min);
    ck_assert_uint_eq(histogram_max(&a), max);
    assert_same(&a, &b);
    /* A large count is one increment. */
    histogram_reset(&a);
    ck_assert(histogram_record_n(&a, 5001, UINT64_C(1) << 40));
    ck_assert_uint_eq(histogram_count(&a), UINT64_C(1) << 40);
    ck_assert_uint_eq(histogram_percentile(&a, 99.9999), 5003); /* [5000, 5003] */
    ck_assert(fabs(histogram_mean(&a) - 5002.0) < 1e-9);        /* counted at the middle */
    histogram_free(&a);
    histogram_free(&b);
}
END_TEST

START_TEST(test_reset)
{
    struct histogram h, fresh;
    init_hour(&h);
    init_hour(&fresh);
    for (uint64_t v = 1; v < 100000; v += 7)
        histogram_record(&h, v);
    histogram_reset(&h);
    assert_same(&h, &fresh);
    ck_assert_uint_eq(histogram_min(&h), 0);
    ck_assert(histogram_record(&h, 5000));
    ck_assert_uint_eq(histogram_min(&h), 5000);
    ck_assert_uint_eq(histogram_max(&h), 5003); /* [5000, 5003] */
    histogram_free(&h);
    histogram_free(&fresh);
}
END_TEST

/* Percentile arguments outside 0..100 are clamped, NaN counts as 0. */
START_TEST(test_percentile_clamp)
{
    struct histogram h;
    init_hour(&h);
    for (uint64_t v = 1; v <= 100; v++)
        histogram_record(&h, v);
    ck_assert_uint_eq(histogram_percentile(&h, -5), 1);
    ck_assert_uint_eq(histogram_percentile(&h, NAN), 1);
    ck_assert_uint_eq(histogram_percentile(&h, 1e-9), 1);
    ck_assert_uint_eq(histogram_percentile(&h, 1), 1);
    ck_assert_uint_eq(histogram_percentile(&h, 1.0001), 2);
    ck_assert_uint_eq(histogram_percentile(&h, 50), 50);
    ck_assert_uint_eq(histogram_percentile(&h, 99.9), 100);
    ck_assert_uint_eq(histogram_percentile(&h, 250), 100);
    ck_assert_uint_eq(histogram_percentile(&h, INFINITY), 100);
    histogram_free(&h);
}
END_TEST

/* ---- Coordinated-omission correction ---------------------------------------------------- */

static const struct {
    uint64_t value, interval;
    uint64_t want[8]; /* the values recorded, 0-terminated */
} corrected[] = {
    {100, 20, {100, 80, 60, 40, 20}},
    {99, 20, {99, 79, 59, 39}}, /* 19 < 20: the last held-up send is not added */
    {40, 20, {40, 20}},
    {39, 20, {39}},
    {20, 20, {20}},
    {15, 20, {15}},
    {100, 0, {100}}, /* no interval, no correction */
    {7, 1, {7, 6, 5, 4, 3, 2, 1}},
};

START_TEST(test_corrected_example)
{
    struct histogram got, want;
    init_hour(&got);
    init_hour(&want);
    histogram_record_corrected(&got, corrected[_i].value, corrected[_i].interval);
    uint64_t n = 0;
    for (; n < NELEM(corrected[_i].want) && corrected[_i].want[n] != 0; n++)
        histogram_record(&want, corrected[_i].want[n]);
    assert_same(&got, &want);
    ck_assert_uint_eq(histogram_count(&got), n);
    histogram_free(&got);
    histogram_free(&want);
}
END_TEST

/* The straightforward loop, one record per held-up send. */
static void naive_corrected(struct histogram *h, uint64_t value, uint64_t interval)
{
    if (!histogram_record(h, value) || interval == 0)
        return;
    for (uint64_t x = value - interval; x >= interval && x < value; x -= interval)
        histogram_record(h, x);
}

/* Random values and intervals take both the per-value and the per-sub-bucket path. */
START_TEST(test_corrected_random)
{
    struct histogram got, want;
    init_hour(&got);
    init_hour(&want);
    uint64_t seed = 7;
    for (int n = 0; n < 60; n++) {
        uint64_t value = test_rand(&seed) % (UINT64_C(1) << 24);
        uint64_t interval = 64 + test_rand(&seed) % 8192;
        histogram_record_corrected(&got, value, interval);
        naive_corrected(&want, value, interval);
        assert_same(&got, &want);
    }
    /* Up to the top of the range, with wide sub-buckets. */
    histogram_record_corrected(&got, HOUR_US, 1000);
    naive_corrected(&want, HOUR_US, 1000);
    assert_same(&got, &want);
    /* Above highest: one overflow, nothing else. */
    histogram_record_corrected(&got, HOUR_US + 1, 1000);
    ck_assert_uint_eq(got.overflow, 1);
    ck_assert_uint_eq(histogram_count(&got), histogram_count(&want));
    histogram_free(&got);
    histogram_free(&want);
}
END_TEST

/* One hour at a 1 µs interval adds every integer 1 .. 3.6e9 - 1: each sub-bucket holds as
 * many as it is wide, clipped to that range. Checked bucket by bucket, without the loop. */
START_TEST(test_corrected_huge)
{
    struct histogram h;
    init_hour(&h);
    histogram_record_corrected(&h, HOUR_US, 1);
    ck_assert_uint_eq(histogram_count(&h), HOUR_US);
    /* Walk the sub-buckets by value, and the array in step with them. */
    size_t i = 0;
    uint64_t total = 0;
    for (uint64_t lo = 0; lo <= HOUR_US; i++) {
        uint64_t w = oracle_width(1, 2048, lo), hi = lo + w - 1;
        uint64_t a = lo < 1 ? 1 : lo, b = hi > HOUR_US - 1 ? HOUR_US - 1 : hi;
        uint64_t want = (b >= a ? b - a + 1 : 0) + (HOUR_US <= hi);
        ck_assert_msg(h.counts[i] == want, "[%llu, %llu]: %llu, want %llu", (unsigned long long)lo,
                      (unsigned long long)hi, (unsigned long long)h.counts[i],
                      (unsigned long long)want);
        total += want;
        lo += w;
    }
    ck_assert_uint_eq(total, HOUR_US);
    for (; i < h.counts_len; i++)
        ck_assert_uint_eq(h.counts[i], 0);
    ck_assert_uint_eq(histogram_min(&h), 1);
    ck_assert_uint_eq(histogram_max(&h), histogram_highest_equivalent(&h, HOUR_US));
    histogram_free(&h);
}
END_TEST

/* ---- Merging ---------------------------------------------------------------------------- */

START_TEST(test_merge_union)
{
    struct histogram a, b, all;
    init_hour(&a);
    init_hour(&b);
    init_hour(&all);
    uint64_t seed = 99;
    for (int n = 0; n < NSAMPLES; n++) {
        uint64_t v = n % 3 == 0 ? gen_loguniform(&seed) : gen_exponential(&seed);
        histogram_record(n % 2 ? &a : &b, v);
        histogram_record(&all, v);
    }
    histogram_record(&a, HOUR_US + 5); /* overflow adds too */
    histogram_record(&all, HOUR_US + 5);
    ck_assert_int_eq(histogram_add(&a, &b), 0);
    assert_same(&a, &all);
    ck_assert(histogram_mean(&a) == histogram_mean(&all));
    ck_assert_uint_eq(histogram_percentile(&a, 99.9), histogram_percentile(&all, 99.9));

    /* Adding an empty histogram changes nothing (its min must not win). */
    histogram_reset(&b);
    ck_assert_int_eq(histogram_add(&a, &b), 0);
    assert_same(&a, &all);
    /* Into an empty one: a copy. */
    ck_assert_int_eq(histogram_add(&b, &a), 0);
    assert_same(&b, &all);
    histogram_free(&a);
    histogram_free(&b);
    histogram_free(&all);
}
END_TEST

START_TEST(test_merge_layout_mismatch)
{
    struct histogram a, b, c, d, freed;
    init_hour(&a);
    ck_assert_int_eq(histogram_init(&b, 1, HOUR_US, 2), 0);
    ck_assert_int_eq(histogram_init(&c, 1, HOUR_US / 2, 3), 0);
    ck_assert_int_eq(histogram_init(&d, 1000, HOUR_US, 3), 0);
    init_hour(&freed);
    histogram_free(&freed);
    histogram_record(&b, 10);
    histogram_record(&c, 10);
    histogram_record(&d, 10);
    ck_assert_int_eq(histogram_add(&a, &b), EINVAL);
    ck_assert_int_eq(histogram_add(&a, &c), EINVAL);
    ck_assert_int_eq(histogram_add(&a, &d), EINVAL);
    ck_assert_int_eq(histogram_add(&a, &freed), EINVAL);
    ck_assert_int_eq(histogram_add(&freed, &a), EINVAL);
    ck_assert_uint_eq(histogram_count(&a), 0);
    histogram_free(&a);
    histogram_free(&b);
    histogram_free(&c);
    histogram_free(&d);
}
END_TEST

/* The intended use: one histogram per thread, recorded without locks, merged after join. */
struct worker {
    struct histogram h;
    uint64_t seed;
};

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    for (int n = 0; n < 50000; n++)
        histogram_record(&w->h, gen_exponential(&w->seed));
    return NULL;
}

START_TEST(test_merge_threads)
{
    struct worker w[4];
    pthread_t t[4];
    struct histogram merged, serial;
    init_hour(&merged);
    init_hour(&serial);
    for (int k = 0; k < 4; k++) {
        init_hour(&w[k].h);
        w[k].seed = 1000 + (uint64_t)k;
        ck_assert_int_eq(pthread_create(&t[k], NULL, worker_run, &w[k]), 0);
    }
    for (int k = 0; k < 4; k++) {
        ck_assert_int_eq(pthread_join(t[k], NULL), 0);
        ck_assert_int_eq(histogram_add(&merged, &w[k].h), 0);
        histogram_free(&w[k].h);
        uint64_t seed = 1000 + (uint64_t)k;
        for (int n = 0; n < 50000; n++)
            histogram_record(&serial, gen_exponential(&seed));
    }
    assert_same(&merged, &serial);
    histogram_free(&merged);
    histogram_free(&serial);
}
END_TEST

/* ---- .hgrm output ----------------------------------------------------------------------- */

/* Writes h to a string; free() it. */
static char *hgrm_text(const struct histogram *h, double divisor)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(histogram_write_hgrm(h, f, divisor), 0);
    ck_assert_int_eq(fclose(f), 0);
    return buf;
}

/*
 * Worked by hand. 10, 20, 30, 40 once each: cumulative shares 25, 50, 75, 100%. The ticks
 * run 0, 10, 20 ... 50 in steps of 10, then 55 ... 75 in steps of 5, then 77.5 ...; each is
 * printed at the first value whose share reaches it. 40 is the last value, so it prints the
 * tick it reaches first (77.5%) and then the 100% row. Mean 25; stddev sqrt(500/4) = 11.180.
 */
static const char hgrm_four[] = "       Value     Percentile TotalCount 1/(1-Percentile)\n"
                                "\n"
                                "      10.000 0.000000000000          1           1.00\n"
                                "      10.000 0.100000000000          1           1.11\n"
                                "      10.000 0.200000000000          1           1.25\n"
                                "      20.000 0.300000000000          2           1.43\n"
                                "      20.000 0.400000000000          2           1.67\n"
                                "      20.000 0.500000000000          2           2.00\n"
                                "      30.000 0.550000000000          3           2.22\n"
                                "      30.000 0.600000000000          3           2.50\n"
                                "      30.000 0.650000000000          3           2.86\n"
                                "      30.000 0.700000000000          3           3.33\n"
                                "      30.000 0.750000000000          3           4.00\n"
                                "      40.000 0.775000000000          4           4.44\n"
                                "      40.000 1.000000000000          4\n"
                                "#[Mean    =       25.000, StdDeviation   =       11.180]\n"
                                "#[Max     =       40.000, Total count    =            4]\n"
                                "#[Buckets =           22, SubBuckets     =         2048]\n";

/*
 * 1500000 µs shown in ms: its sub-bucket is 1024 wide, [1499136, 1500159], printed by its top
 * (1500.159) while the mean counts it at its middle, 1499136 + 512 (1499.648).
 */
static const char hgrm_one_ms[] = "       Value     Percentile TotalCount 1/(1-Percentile)\n"
                                  "\n"
                                  "    1500.159 0.000000000000          1           1.00\n"
                                  "    1500.159 1.000000000000          1\n"
                                  "#[Mean    =     1499.648, StdDeviation   =        0.000]\n"
                                  "#[Max     =     1500.159, Total count    =            1]\n"
                                  "#[Buckets =           22, SubBuckets     =         2048]\n";

static const char hgrm_empty[] = "       Value     Percentile TotalCount 1/(1-Percentile)\n"
                                 "\n"
                                 "#[Mean    =        0.000, StdDeviation   =        0.000]\n"
                                 "#[Max     =        0.000, Total count    =            0]\n"
                                 "#[Buckets =           22, SubBuckets     =         2048]\n";

/*
 * 2 figures up to 1000: 256 sub-buckets, 3 buckets, values printed with 2 decimals. 3 twice
 * (66.7%) prints the ticks up to 65%; 999 sits in [996, 999], shown as 999 and counted at 998
 * for the mean (334.67) and stddev (469.05).
 */
static const char hgrm_sig2[] = "       Value     Percentile TotalCount 1/(1-Percentile)\n"
                                "\n"
                                "        3.00 0.000000000000          2           1.00\n"
                                "        3.00 0.100000000000          2           1.11\n"
                                "        3.00 0.200000000000          2           1.25\n"
                                "        3.00 0.300000000000          2           1.43\n"
                                "        3.00 0.400000000000          2           1.67\n"
                                "        3.00 0.500000000000          2           2.00\n"
                                "        3.00 0.550000000000          2           2.22\n"
                                "        3.00 0.600000000000          2           2.50\n"
                                "        3.00 0.650000000000          2           2.86\n"
                                "      999.00 0.700000000000          3           3.33\n"
                                "      999.00 1.000000000000          3\n"
                                "#[Mean    =       334.67, StdDeviation   =       469.05]\n"
                                "#[Max     =       999.00, Total count    =            3]\n"
                                "#[Buckets =            3, SubBuckets     =          256]\n";

static const struct {
    const char *name;
    uint64_t highest;
    int sigfigs;
    uint64_t values[4], counts[4];
    double divisor;
    const char *want;
} hgrm_vectors[] = {
    {"four", HOUR_US, 3, {10, 20, 30, 40}, {1, 1, 1, 1}, 1.0, hgrm_four},
    {"one-ms", HOUR_US, 3, {1500000}, {1}, 1000.0, hgrm_one_ms},
    {"empty", HOUR_US, 3, {0}, {0}, 1.0, hgrm_empty},
    {"sig2", 1000, 2, {3, 999}, {2, 1}, 1.0, hgrm_sig2},
};

START_TEST(test_hgrm_exact)
{
    struct histogram h;
    ck_assert_int_eq(histogram_init(&h, 1, hgrm_vectors[_i].highest, hgrm_vectors[_i].sigfigs), 0);
    for (size_t k = 0; k < NELEM(hgrm_vectors[_i].values); k++)
        histogram_record_n(&h, hgrm_vectors[_i].values[k], hgrm_vectors[_i].counts[k]);
    char *text = hgrm_text(&h, hgrm_vectors[_i].divisor);
    ck_assert_msg(strcmp(text, hgrm_vectors[_i].want) == 0, "%s: got\n%s\nwant\n%s",
                  hgrm_vectors[_i].name, text, hgrm_vectors[_i].want);
    free(text);
    histogram_free(&h);
}
END_TEST

/* A parsed row: the 100% row has no fourth column. */
struct row {
    double value, percentile, inverse;
    unsigned long long total;
    int fields;
};

/* Parses an .hgrm text back; returns the number of rows. Checks header and footer shape. */
static size_t parse_hgrm(char *text, struct row *rows, size_t cap, double *mean, double *max,
                         unsigned long long *count, int *buckets, int *subs)
{
    char *save = NULL, *line = strtok_r(text, "\n", &save);
    ck_assert_str_eq(line, "       Value     Percentile TotalCount 1/(1-Percentile)");
    size_t n = 0;
    double sd;
    for (line = strtok_r(NULL, "\n", &save); line != NULL && line[0] != '#';
         line = strtok_r(NULL, "\n", &save)) {
        ck_assert_uint_lt(n, cap);
        struct row *r = &rows[n++];
        r->fields =
            sscanf(line, "%lf %lf %llu %lf", &r->value, &r->percentile, &r->total, &r->inverse);
        ck_assert_msg(r->fields == 4 || r->fields == 3, "bad row '%s'", line);
    }
    ck_assert_ptr_nonnull(line);
    ck_assert_int_eq(sscanf(line, "#[Mean    = %lf, StdDeviation   = %lf]", mean, &sd), 2);
    line = strtok_r(NULL, "\n", &save);
    ck_assert_ptr_nonnull(line);
    ck_assert_int_eq(sscanf(line, "#[Max     = %lf, Total count    = %llu]", max, count), 2);
    line = strtok_r(NULL, "\n", &save);
    ck_assert_ptr_nonnull(line);
    ck_assert_int_eq(sscanf(line, "#[Buckets = %d, SubBuckets     = %d]", buckets, subs), 2);
    ck_assert_ptr_null(strtok_r(NULL, "\n", &save));
    return n;
}

START_TEST(test_hgrm_parse_back)
{
    struct histogram h;
    init_hour(&h);
    uint64_t seed = 2024 + (uint64_t)_i;
    for (int n = 0; n < NSAMPLES; n++)
        histogram_record(&h, _i == 0 ? gen_exponential(&seed) : gen_loguniform(&seed));
    char *text = hgrm_text(&h, 1.0);
    static struct row rows[512];
    double mean, max;
    unsigned long long count;
    int buckets, subs;
    size_t n = parse_hgrm(text, rows, NELEM(rows), &mean, &max, &count, &buckets, &subs);

    ck_assert_uint_gt(n, 2);
    for (size_t k = 0; k < n; k++) {
        if (k > 0) {
            ck_assert(rows[k].value >= rows[k - 1].value);
            ck_assert(rows[k].percentile >= rows[k - 1].percentile);
            ck_assert(rows[k].total >= rows[k - 1].total);
        }
        if (k + 1 < n) {
            ck_assert_int_eq(rows[k].fields, 4);
            ck_assert(rows[k].percentile < 1.0);
            ck_assert(fabs(rows[k].inverse - 1.0 / (1.0 - rows[k].percentile)) < 0.006);
            /* Each row is the percentile query at its tick (0% aside: the row shows the top
             * of the first bucket, the query its bottom). */
            if (k > 0)
                ck_assert_msg(rows[k].value ==
                                  (double)histogram_percentile(&h, rows[k].percentile * 100.0),
                              "row %zu: %.3f at %.12f", k, rows[k].value, rows[k].percentile);
        }
    }
    ck_assert_int_eq(rows[n - 1].fields, 3);
    ck_assert(rows[n - 1].percentile == 1.0);
    ck_assert_uint_eq(rows[n - 1].total, NSAMPLES);
    ck_assert(rows[n - 1].value == (double)histogram_max(&h));
    ck_assert_uint_eq(count, NSAMPLES);
    ck_assert(max == (double)histogram_max(&h));
    ck_assert(fabs(mean - histogram_mean(&h)) <= 0.0005);
    ck_assert_int_eq(buckets, 22);
    ck_assert_int_eq(subs, 2048);
    free(text);
    histogram_free(&h);
}
END_TEST

/*
 * The tick sequence: with 9999 values at 1 and one at 2, every tick up to 99.99% prints at 1.
 * Half h (0 for [0, 50%), 1 for [50, 75%), ...) has 5 ticks 1 - 2^-h + j * 2^-h / 10; ticks
 * through h = 13, j = 1 (99.98901%) are <= 99.99%, the next (99.990234375%) prints at 2, and
 * the 100% row follows: 67 + 1 + 1 rows.
 */
START_TEST(test_hgrm_ticks)
{
    struct histogram h;
    init_hour(&h);
    histogram_record_n(&h, 1, 9999);
    histogram_record(&h, 2);
    char *text = hgrm_text(&h, 1.0);
    static struct row rows[128];
    double mean, max;
    unsigned long long count;
    int buckets, subs;
    size_t n = parse_hgrm(text, rows, NELEM(rows), &mean, &max, &count, &buckets, &subs);
    ck_assert_uint_eq(n, 69);
    for (size_t k = 0; k + 1 < n; k++) {
        int half = (int)(k / 5), j = (int)(k % 5);
        double want = 1.0 - ldexp(1.0, -half) + j * ldexp(1.0, -half) / 10.0;
        ck_assert_msg(fabs(rows[k].percentile - want) < 1e-12, "row %zu: %.12f, want %.12f", k,
                      rows[k].percentile, want);
        ck_assert(rows[k].value == (k < 67 ? 1.0 : 2.0));
        ck_assert_uint_eq(rows[k].total, k < 67 ? 9999 : 10000);
    }
    ck_assert(rows[68].percentile == 1.0 && rows[68].value == 2.0);
    free(text);

    /* The same rows, printed exactly, around the turn. */
    text = hgrm_text(&h, 1.0);
    ck_assert_ptr_nonnull(strstr(text, "       1.000 0.999890136719       9999        9102.22\n"
                                       "       2.000 0.999902343750      10000       10240.00\n"
                                       "       2.000 1.000000000000      10000\n"));
    free(text);
    histogram_free(&h);
}
END_TEST

START_TEST(test_hgrm_errors)
{
    struct histogram h;
    init_hour(&h);
    histogram_record(&h, 1);
    FILE *f = fopen("/dev/null", "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(histogram_write_hgrm(&h, f, 0.0), EINVAL);
    ck_assert_int_eq(histogram_write_hgrm(&h, f, -1.0), EINVAL);
    ck_assert_int_eq(histogram_write_hgrm(&h, f, NAN), EINVAL);
    fclose(f);
    /* A stream that fails its writes reports EIO. */
    f = fopen("/dev/full", "w");
    if (f != NULL) {
        setvbuf(f, NULL, _IONBF, 0);
        ck_assert_int_eq(histogram_write_hgrm(&h, f, 1.0), EIO);
        fclose(f);
    }
    histogram_free(&h);
}
END_TEST

Suite *make_histogram_suite(void)
{
    Suite *s = suite_create("histogram");

    TCase *tc = tcase_create("Layout");
    tcase_add_loop_test(tc, test_init_invalid, 0, NELEM(bad_init));
    tcase_add_loop_test(tc, test_layout, 0, NELEM(layouts));
    tcase_add_test(tc, test_one_hour);
    tcase_add_loop_test(tc, test_equivalence, 0, NELEM(equiv_layouts));
    tcase_add_test(tc, test_below_lowest);
    suite_add_tcase(s, tc);

    tc = tcase_create("Accuracy");
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, test_accuracy, 0, NELEM(dists));
    suite_add_tcase(s, tc);

    tc = tcase_create("Record");
    tcase_add_test(tc, test_empty);
    tcase_add_test(tc, test_overflow);
    tcase_add_test(tc, test_record_n);
    tcase_add_test(tc, test_reset);
    tcase_add_test(tc, test_percentile_clamp);
    suite_add_tcase(s, tc);

    tc = tcase_create("Corrected");
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, test_corrected_example, 0, NELEM(corrected));
    tcase_add_test(tc, test_corrected_random);
    tcase_add_test(tc, test_corrected_huge);
    suite_add_tcase(s, tc);

    tc = tcase_create("Merge");
    tcase_add_test(tc, test_merge_union);
    tcase_add_test(tc, test_merge_layout_mismatch);
    tcase_add_test(tc, test_merge_threads);
    suite_add_tcase(s, tc);

    tc = tcase_create("Hgrm");
    tcase_add_loop_test(tc, test_hgrm_exact, 0, NELEM(hgrm_vectors));
    tcase_add_loop_test(tc, test_hgrm_parse_back, 0, 2);
    tcase_add_test(tc, test_hgrm_ticks);
    tcase_add_test(tc, test_hgrm_errors);
    suite_add_tcase(s, tc);
    return s;
}
