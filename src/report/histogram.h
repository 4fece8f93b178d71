/*
 * histogram.h - a log-linear latency histogram of the HdrHistogram kind, with a fixed relative
 * precision over a fixed range, written as a `.hgrm` percentile distribution.
 *
 * Values are uint64_t in the caller's unit (msrpload records microseconds; nanoseconds work the
 * same way). The range is fixed at init: `lowest` is the smallest value that must be told apart
 * from its neighbours (1 for "every integer up to the sub-bucket count"), `highest` the largest
 * value that is recorded (msrpload: one hour in microseconds, 3600000000). `sigfigs` (1..5)
 * is the number of significant decimal digits kept: any two values that share a bucket differ
 * by less than 10^-sigfigs of their size, so every reported value is within that relative
 * error of a value that was recorded.
 *
 * Layout (see histogram.c): sub_bucket_count = 2^ceil(log2(2 * 10^sigfigs)) linear sub-buckets
 * per power of two, unit 2^floor(log2(lowest)); bucket 0 holds [0, sub_bucket_count * unit) in
 * steps of one unit, bucket k >= 1 holds its upper half with steps of unit * 2^k. At 3 sigfigs
 * and highest = 3.6e9 that is 2048 sub-buckets, 22 buckets, 23552 counts (184 KiB).
 *
 * "Equivalent" values share a sub-bucket: the histogram cannot tell them apart, and reports a
 * bucket by its highest equivalent value (as HdrHistogram does), so a reported percentile is
 * never below the true one by more than rounding to that bucket.
 *
 * Return codes: constructors and merges return 0 or an errno value (EINVAL, ENOMEM, EIO).
 * Ownership: the struct is the caller's (on the stack, in an array, ...); histogram_init
 * allocates the counts array, histogram_free releases it. Nothing else allocates.
 *
 * Thread safety: none inside. Recording never locks, never allocates and uses no atomics, so
 * a histogram must be recorded to by one thread only: give each worker thread its own, and
 * merge them with histogram_add after the join. Queries on a histogram that another thread is
 * recording to return torn, meaningless figures. Distinct histograms are independent.
 */
#ifndef MSRPLOAD_REPORT_HISTOGRAM_H
#define MSRPLOAD_REPORT_HISTOGRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct histogram {
    /* The layout, fixed by histogram_init: read-only for callers. */
    uint64_t lowest, highest; /* as given to histogram_init */
    int sigfigs;
    int unit_magnitude;   /* log2 of the unit: floor(log2(lowest)) */
    int sub_bucket_count; /* linear steps per power of two (2048 at 3 sigfigs) */
    int bucket_count;     /* powers of two needed to reach highest */
    size_t counts_len;    /* (bucket_count + 1) * sub_bucket_count / 2 */
    uint64_t *counts;     /* counts_len counters, owned; index order is value order */
    /* Values above highest, counted and otherwise dropped. Read-only for callers. */
    uint64_t overflow;
    /* Internal state: use the query functions. */
    int _half_magnitude; /* log2(sub_bucket_count / 2) */
    uint64_t _total;     /* recorded values, overflow excluded */
    uint64_t _min, _max; /* exact extremes of the recorded values */
};

/*
 * Sets up an empty histogram for values in [0, highest] told apart down to `lowest`.
 * Requires 1 <= lowest, highest >= 2 * lowest, 1 <= sigfigs <= 5, and a range that fits in
 * 64 bits. Returns 0, EINVAL for arguments outside those bounds, or ENOMEM. On failure *h is
 * left empty (counts NULL), so histogram_free on it is harmless.
 */
int histogram_init(struct histogram *h, uint64_t lowest, uint64_t highest, int sigfigs);
/* Releases the counts array; h may be freed again or initialised again. */
void histogram_free(struct histogram *h);
/* Forgets every recorded value and the overflow count; keeps the layout and the memory. */
void histogram_reset(struct histogram *h);

/*
 * Counts one value. Values above highest are not recorded: they add to h->overflow and the
 * call returns false. Values below lowest are recorded too, in the unit-wide sub-buckets at
 * the bottom (0 .. 2^floor(log2(lowest)) - 1 share the first). h must be initialised. O(1),
 * no allocation, no lock.
 */
bool histogram_record(struct histogram *h, uint64_t value);
/* Counts `count` occurrences of value at once; false (and overflow += count) above highest. */
bool histogram_record_n(struct histogram *h, uint64_t value, uint64_t count);

/*
 * Records value and corrects for coordinated omission, as HdrHistogram's
 * recordValueWithExpectedInterval: when a load generator sends every expected_interval and one
 * response takes `value`, the sends it held up were never measured. This adds the latencies
 * they would have seen: value - k * expected_interval for k = 1, 2, ... while that is still
 * >= expected_interval. Example: value 100, interval 20 records 100, 80, 60, 40, 20.
 * expected_interval 0 records value alone. A value above highest counts one overflow and adds
 * nothing else. Cost is bounded by the smaller of the number of added values and the number
 * of sub-buckets they span, so a one-hour stall at a 1 µs interval stays cheap.
 */
void histogram_record_corrected(struct histogram *h, uint64_t value, uint64_t expected_interval);

/*
 * dst += src, exactly: counts bucket by bucket, totals, overflow, min and max. Both must have
 * the same layout (same highest, sub-bucket count and unit); EINVAL otherwise, and dst is
 * unchanged. Returns 0 on success. Call after the threads recording to them have been joined.
 */
int histogram_add(struct histogram *dst, const struct histogram *src);

/* Recorded values (overflow excluded). */
uint64_t histogram_count(const struct histogram *h);
/* Lowest equivalent value of the smallest recorded value; 0 when empty. */
uint64_t histogram_min(const struct histogram *h);
/* Highest equivalent value of the largest recorded value; 0 when empty. */
uint64_t histogram_max(const struct histogram *h);
/*
 * Mean and (population) standard deviation, each bucket counted at its middle value as
 * HdrHistogram does: within the relative precision of the exact figures. 0 when empty.
 */
double histogram_mean(const struct histogram *h);
double histogram_stddev(const struct histogram *h);
/*
 * The value at percentile p (0..100, clamped; NaN counts as 0), HdrHistogram's
 * getValueAtPercentile: the smallest recorded bucket holding at least ceil(p% of count)
 * values, reported by its highest equivalent value. p = 100 gives histogram_max; p = 0 gives
 * histogram_min (the lowest equivalent value, as HdrHistogram does for 0). 0 when empty.
 */
uint64_t histogram_percentile(const struct histogram *h, double p);
/*
 * Cumulative counts at ascending upper bounds, as a Prometheus histogram's buckets want them:
 * cum[j] = recorded values at or below bounds[j], where the sub-bucket holding bounds[j]
 * counts in full (its values are equivalent: within the relative precision of the bound).
 * *sum (when not NULL) is the sum of every recorded value, each counted at the middle of its
 * sub-bucket as histogram_mean does. One pass over the counts, up to the largest value
 * recorded; no allocation. bounds must ascend; bounds above highest take every value.
 */
void histogram_cumulative(const struct histogram *h, const uint64_t *bounds, size_t n,
                          uint64_t *cum, double *sum);
/* The bounds of the sub-bucket that holds (or would hold) v: any v, even above highest. */
uint64_t histogram_lowest_equivalent(const struct histogram *h, uint64_t v);
uint64_t histogram_highest_equivalent(const struct histogram *h, uint64_t v);

/*
 * Writes HdrHistogram's percentile distribution text (the `.hgrm` format its plotters read):
 *
 *            Value     Percentile TotalCount 1/(1-Percentile)
 *     <blank line>
 *           10.000 0.000000000000          1           1.00      (one row per tick)
 *           ...
 *           40.000 1.000000000000          4                     (the 100% row: 3 columns)
 *     #[Mean    =       25.000, StdDeviation   =       11.180]
 *     #[Max     =       40.000, Total count    =            4]
 *     #[Buckets =           22, SubBuckets     =         2048]
 *
 * Rows follow HdrHistogram's percentile iteration with 5 ticks per half distance (0, 10, 20,
 * 30, 40, 50, 55, ... 75, 77.5, ... 87.5, ...%), each giving the highest equivalent value of
 * the first bucket whose cumulative count reaches the tick, the tick / 100, the cumulative
 * count and 1/(1 - tick/100). Values (and mean, stddev, max) are divided by unit_divisor (1.0
 * keeps the recorded unit, 1000.0 turns µs into ms) and printed with `sigfigs` decimals. An
 * empty histogram writes the header and footer only. Expects the "C" LC_NUMERIC (a '.' as
 * decimal point), as msrpload never calls setlocale. Returns 0, EINVAL (unit_divisor not
 * > 0) or EIO when the stream reports an error.
 */
int histogram_write_hgrm(const struct histogram *h, FILE *f, double unit_divisor);

#endif
