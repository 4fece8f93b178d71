/*
 * histogram.c - log-linear histogram: a power-of-two bucket per octave, linear sub-buckets
 * inside it, one flat counts array.
 *
 * Why this layout: a latency of 3 ms and one of 3 s deserve the same relative precision, not
 * the same absolute one. Splitting every power of two into S linear steps gives a relative
 * error below 1/(S/2) everywhere; with S = 2^ceil(log2(2 * 10^d)) that is below 10^-d. The
 * array stays small (a few thousand counters per decade of range) and recording is a shift,
 * a count-leading-zeros and an increment.
 *
 * With unit u = 2^m (m = unit_magnitude) and H = S/2 = 2^hm:
 *   bucket 0 covers [0, S*u) in S steps of u (indices 0 .. S-1);
 *   bucket b >= 1 covers [H*u*2^b, S*u*2^b) in H steps of u*2^b (indices (b+1)*H .. (b+2)*H-1).
 * The lower half of every bucket b >= 1 would repeat the range of bucket b-1, so it is not
 * stored: the flat index of v in bucket b is b*H + (v >> (m+b)), which runs on from the end of
 * the previous bucket without a gap, and the array has (bucket_count + 1) * H counters.
 */
#include "report/histogram.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Index of the highest set bit of v, v != 0. */
static inline int msb64(uint64_t v)
{
    return 63 - __builtin_clzll(v);
}

/*
 * The bucket holding v. OR-ing in the mask of bucket 0 makes every v below S*u look like the
 * top of bucket 0, so small values need no branch.
 */
static inline int bucket_of(const struct histogram *h, uint64_t v)
{
    uint64_t bucket0_mask = ((uint64_t)h->sub_bucket_count - 1) << h->unit_magnitude;
    return msb64(v | bucket0_mask) - (h->unit_magnitude + h->_half_magnitude);
}

static inline size_t index_of(const struct histogram *h, uint64_t v)
{
    int b = bucket_of(h, v);
    return ((size_t)b << h->_half_magnitude) + (size_t)(v >> (h->unit_magnitude + b));
}

/* log2 of the width of the sub-bucket at flat index i. */
static inline int shift_at(const struct histogram *h, size_t i)
{
    int b = (int)(i >> h->_half_magnitude) - 1;
    return h->unit_magnitude + (b > 0 ? b : 0);
}

/* Lowest value of the sub-bucket at flat index i (the inverse of index_of). */
static uint64_t value_at(const struct histogram *h, size_t i)
{
    int b = (int)(i >> h->_half_magnitude) - 1;
    uint64_t half = (uint64_t)1 << h->_half_magnitude;
    if (b < 0) /* bucket 0: the index is the sub-bucket */
        return (uint64_t)i << h->unit_magnitude;
    uint64_t sub = (i & (half - 1)) + half;
    return sub << (h->unit_magnitude + b);
}

static uint64_t highest_at(const struct histogram *h, size_t i)
{
    return value_at(h, i) + (((uint64_t)1 << shift_at(h, i)) - 1);
}

/* The middle of the sub-bucket at i: how mean and stddev count its values. */
static double middle_at(const struct histogram *h, size_t i)
{
    return (double)value_at(h, i) + (double)(((uint64_t)1 << shift_at(h, i)) >> 1);
}

int histogram_init(struct histogram *h, uint64_t lowest, uint64_t highest, int sigfigs)
{
    memset(h, 0, sizeof(*h));
    if (lowest < 1 || sigfigs < 1 || sigfigs > 5 || highest / 2 < lowest)
        return EINVAL;

    /* The smallest power of two >= 2 * 10^sigfigs, so that its half has >= 10^sigfigs steps. */
    uint64_t want = 2;
    for (int i = 0; i < sigfigs; i++)
        want *= 10;
    int sub_magnitude = 0;
    while (((uint64_t)1 << sub_magnitude) < want)
        sub_magnitude++;

    int unit_magnitude = msb64(lowest);
    /* Bucket 0 ends at 2^(unit + sub); it has to fit in 64 bits for the shifts below. */
    if (unit_magnitude + sub_magnitude > 63)
        return EINVAL;

    /*
     * Each further bucket doubles the range. Once the end would pass 2^63 one more bucket
     * reaches 2^64 and covers every uint64_t, so the count stops there.
     */
    uint64_t end = (uint64_t)1 << (unit_magnitude + sub_magnitude);
    int buckets = 1;
    while (end <= highest) {
        buckets++;
        if (end > UINT64_MAX / 2)
            break;
        end <<= 1;
    }

    size_t half = (size_t)1 << (sub_magnitude - 1);
    size_t len = ((size_t)buckets + 1) * half;
    uint64_t *counts = calloc(len, sizeof(*counts));
    if (counts == NULL)
        return ENOMEM;

    h->lowest = lowest;
    h->highest = highest;
    h->sigfigs = sigfigs;
    h->unit_magnitude = unit_magnitude;
    h->sub_bucket_count = 1 << sub_magnitude;
    h->bucket_count = buckets;
    h->counts_len = len;
    h->counts = counts;
    h->_half_magnitude = sub_magnitude - 1;
    h->_min = UINT64_MAX;
    return 0;
}

void histogram_free(struct histogram *h)
{
    free(h->counts);
    h->counts = NULL;
    h->counts_len = 0;
    h->_total = 0;
}

void histogram_reset(struct histogram *h)
{
    if (h->counts != NULL)
        memset(h->counts, 0, h->counts_len * sizeof(*h->counts));
    h->overflow = 0;
    h->_total = 0;
    h->_min = UINT64_MAX;
    h->_max = 0;
}

bool histogram_record_n(struct histogram *h, uint64_t value, uint64_t count)
{
    if (value > h->highest) {
        h->overflow += count;
        return false;
    }
    if (count == 0)
        return true; /* nothing recorded, so the extremes must not move either */
    h->counts[index_of(h, value)] += count;
    h->_total += count;
    if (value < h->_min)
        h->_min = value;
    if (value > h->_max)
        h->_max = value;
    return true;
}

bool histogram_record(struct histogram *h, uint64_t value)
{
    return histogram_record_n(h, value, 1);
}

/*
 * Adds the n values top - k*step, k = 0 .. n-1 (all <= highest), without visiting each when
 * they outnumber the sub-buckets they fall into: for each sub-bucket [lo, hi] from the top
 * down, the k with lo <= top - k*step <= hi form one run, counted by two divisions.
 */
static void record_progression(struct histogram *h, uint64_t top, uint64_t step, uint64_t n)
{
    uint64_t bottom = top - (n - 1) * step;
    size_t i_top = index_of(h, top), i_bottom = index_of(h, bottom);
    if (n <= i_top - i_bottom + 1) {
        for (uint64_t k = 0; k < n; k++)
            h->counts[index_of(h, top - k * step)]++;
    } else {
        /* k_next: the first k not yet counted, i.e. top - k_next*step is below every bucket
         * visited so far. */
        uint64_t k_next = 0;
        for (size_t i = i_top + 1; i-- > i_bottom && k_next < n;) {
            uint64_t lo = value_at(h, i);
            if (lo < bottom)
                lo = bottom;
            /* Last k with top - k*step >= lo. */
            uint64_t k_last = (top - lo) / step;
            if (k_last >= k_next) {
                h->counts[i] += k_last - k_next + 1;
                k_next = k_last + 1;
            }
        }
    }
    h->_total += n;
    if (bottom < h->_min)
        h->_min = bottom;
    if (top > h->_max)
        h->_max = top;
}

void histogram_record_corrected(struct histogram *h, uint64_t value, uint64_t expected_interval)
{
    if (!histogram_record(h, value))
        return;
    if (expected_interval == 0 || value / expected_interval < 2)
        return;
    /* value - k*interval >= interval for k = 1 .. value/interval - 1. */
    uint64_t n = value / expected_interval - 1;
    record_progression(h, value - expected_interval, expected_interval, n);
}

static bool same_layout(const struct histogram *a, const struct histogram *b)
{
    return a->counts != NULL && b->counts != NULL && a->highest == b->highest &&
           a->unit_magnitude == b->unit_magnitude && a->sub_bucket_count == b->sub_bucket_count &&
           a->counts_len == b->counts_len;
}

int histogram_add(struct histogram *dst, const struct histogram *src)
{
    if (!same_layout(dst, src))
        return EINVAL;
    for (size_t i = 0; i < dst->counts_len; i++)
        dst->counts[i] += src->counts[i];
    dst->_total += src->_total;
    dst->overflow += src->overflow;
    /* An empty src holds _min = UINT64_MAX and _max = 0, which leave dst's extremes alone. */
    if (src->_min < dst->_min)
        dst->_min = src->_min;
    if (src->_max > dst->_max)
        dst->_max = src->_max;
    return 0;
}

uint64_t histogram_count(const struct histogram *h)
{
    return h->_total;
}

void histogram_cumulative(const struct histogram *h, const uint64_t *bounds, size_t n,
                          uint64_t *cum, double *sum)
{
    double total = 0.0;
    uint64_t seen = 0;
    size_t i = 0;
    bool any = h->_total > 0;
    /* Nothing is recorded past the largest value: the walk stops at its sub-bucket. */
    size_t stop = any ? index_of(h, h->_max) : 0;
    for (size_t j = 0; j < n; j++) {
        /* The sub-bucket holding the bound counts in full: its values are equivalent. */
        size_t upto = index_of(h, bounds[j] < h->highest ? bounds[j] : h->highest);
        if (upto > stop)
            upto = stop;
        for (; any && i <= upto; i++) {
            seen += h->counts[i];
            total += middle_at(h, i) * (double)h->counts[i];
        }
        cum[j] = seen;
    }
    for (; any && i <= stop; i++)
        total += middle_at(h, i) * (double)h->counts[i];
    if (sum != NULL)
        *sum = total;
}

uint64_t histogram_lowest_equivalent(const struct histogram *h, uint64_t v)
{
    return value_at(h, index_of(h, v));
}

uint64_t histogram_highest_equivalent(const struct histogram *h, uint64_t v)
{
    return highest_at(h, index_of(h, v));
}

uint64_t histogram_min(const struct histogram *h)
{
    return h->_total == 0 ? 0 : histogram_lowest_equivalent(h, h->_min);
}

uint64_t histogram_max(const struct histogram *h)
{
    return h->_total == 0 ? 0 : histogram_highest_equivalent(h, h->_max);
}

double histogram_mean(const struct histogram *h)
{
    if (h->_total == 0)
        return 0.0;
    double sum = 0.0;
    for (size_t i = 0; i < h->counts_len; i++)
        if (h->counts[i] != 0)
            sum += middle_at(h, i) * (double)h->counts[i];
    return sum / (double)h->_total;
}

double histogram_stddev(const struct histogram *h)
{
    if (h->_total == 0)
        return 0.0;
    double mean = histogram_mean(h), sum = 0.0;
    for (size_t i = 0; i < h->counts_len; i++) {
        if (h->counts[i] != 0) {
            double d = middle_at(h, i) - mean;
            sum += d * d * (double)h->counts[i];
        }
    }
    return sqrt(sum / (double)h->_total);
}

/*
 * The rank (1-based) of the p-th percentile among n values: ceil(p/100 * n), at least 1.
 * p/100*n is rarely exact in binary (99.9% of 100000 comes out as 99900.00000000001), so a
 * fraction within a relative 1e-12 of an integer counts as that integer; a true fraction that
 * small would need more than 10^12 values, beyond what a double resolves anyway.
 */
static uint64_t percentile_rank(double p, uint64_t n)
{
    double x = p / 100.0 * (double)n;
    double whole = floor(x);
    uint64_t rank = (uint64_t)whole;
    if (x - whole > x * 1e-12)
        rank++;
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return rank;
}

uint64_t histogram_percentile(const struct histogram *h, double p)
{
    if (h->_total == 0)
        return 0;
    if (!(p > 0.0)) /* also NaN */
        return histogram_min(h);
    if (p > 100.0)
        p = 100.0;
    uint64_t rank = percentile_rank(p, h->_total), seen = 0;
    for (size_t i = 0; i < h->counts_len; i++) {
        seen += h->counts[i];
        if (seen >= rank)
            return highest_at(h, i);
    }
    return histogram_max(h); /* not reached: the counts add up to _total */
}

/*
 * The next tick of the .hgrm percentile iteration after `level` (in percent): each halving of
 * the distance to 100% gets `ticks_per_half` equal steps, so the tail is sampled as densely,
 * in 1/(1-p) terms, as the body. floor(log2(100 / (100 - level))) numbers the half the level
 * is in (0 for [0, 50), 1 for [50, 75), ...); that half is split into ticks_per_half steps of
 * 100 / (ticks_per_half * 2^(half + 1)).
 */
static double next_level(double level, int ticks_per_half)
{
    double half = floor(log2(100.0 / (100.0 - level)));
    return level + 100.0 / ((double)ticks_per_half * exp2(half + 1.0));
}

#define HGRM_TICKS_PER_HALF 5

int histogram_write_hgrm(const struct histogram *h, FILE *f, double unit_divisor)
{
    if (!(unit_divisor > 0.0))
        return EINVAL;
    int d = h->sigfigs;
    fprintf(f, "%12s %14s %10s %14s\n\n", "Value", "Percentile", "TotalCount", "1/(1-Percentile)");

    /*
     * Walk the buckets in value order with a running count. Each bucket prints one row for
     * every tick its cumulative share reaches; the last non-empty bucket prints one row for
     * the current tick and then the 100% row, which has no 1/(1-p) column (it would be inf).
     */
    double level = 0.0;
    uint64_t seen = 0;
    for (size_t i = 0; i < h->counts_len && h->_total > 0; i++) {
        if (h->counts[i] == 0)
            continue;
        seen += h->counts[i];
        double value = (double)highest_at(h, i) / unit_divisor;
        double reached = 100.0 * (double)seen / (double)h->_total;
        while (reached >= level) {
            fprintf(f, "%12.*f %2.12f %10llu %14.2f\n", d, value, level / 100.0,
                    (unsigned long long)seen, 1.0 / (1.0 - level / 100.0));
            double next = next_level(level, HGRM_TICKS_PER_HALF);
            /* Beyond 2^50 or so values the step underflows: move on rather than spin. */
            bool stuck = !(next > level) || next >= 100.0;
            if (!stuck)
                level = next;
            if (stuck || seen == h->_total)
                break;
        }
        if (seen == h->_total) {
            fprintf(f, "%12.*f %2.12f %10llu\n", d, value, 1.0, (unsigned long long)seen);
            break;
        }
    }

    fprintf(f, "#[Mean    = %12.*f, StdDeviation   = %12.*f]\n", d,
            histogram_mean(h) / unit_divisor, d, histogram_stddev(h) / unit_divisor);
    fprintf(f, "#[Max     = %12.*f, Total count    = %12llu]\n", d,
            (double)histogram_max(h) / unit_divisor, (unsigned long long)h->_total);
    fprintf(f, "#[Buckets = %12d, SubBuckets     = %12d]\n", h->bucket_count, h->sub_bucket_count);
    return ferror(f) ? EIO : 0;
}
