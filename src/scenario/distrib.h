/*
 * distrib.h - the distributions a scenario draws message sizes and think times from
 * (scenarios/README.md, "Sizes and think times from distributions"), and the small seeded
 * generator every calling session draws them with.
 *
 * Owns: the distribution kinds and their sampling, the empirical table files (`size,weight`
 * lines) read and checked, the per-session generator (xoshiro256** seeded through splitmix64
 * from the run's seed and the session's number, so that a session's draws depend on nothing
 * but those two: not on threads' timing, not on other sessions). Pure: no I/O but reading a
 * table file when asked, no global state; a distribution is read-only once loaded and may be
 * shared by every thread, each drawing with its own generator.
 *
 * It sits in the scenario layer because the loader reads and checks the distributions; the
 * load layer (runner_steps.c) only draws.
 */
#ifndef MSRPLOAD_SCENARIO_DISTRIB_H
#define MSRPLOAD_SCENARIO_DISTRIB_H

#include <stddef.h>
#include <stdint.h>

/* ---- the generator ------------------------------------------------------------------------ */

struct distrib_rng {
    uint64_t s[4];
};

/* One step of splitmix64 on *x: the next of a well-mixed sequence (used to seed). */
uint64_t distrib_splitmix64(uint64_t *x);
/* Seeds r from one 64-bit number (any value, 0 included). */
void distrib_rng_seed(struct distrib_rng *r, uint64_t seed);
/* Seeds r for the session numbered index of a run seeded with run_seed. */
void distrib_rng_session(struct distrib_rng *r, uint64_t run_seed, uint64_t index);
/* The next 64 random bits (xoshiro256**). */
uint64_t distrib_next(struct distrib_rng *r);
/* A double uniform in [0, 1), 53 bits. */
double distrib_unit(struct distrib_rng *r);
/* An integer uniform in 0..n-1 without bias (n >= 1). */
uint64_t distrib_below(struct distrib_rng *r, uint64_t n);
/* A standard normal deviate (Box-Muller, one per call: no state kept between calls). */
double distrib_normal(struct distrib_rng *r);

/* ---- distributions ------------------------------------------------------------------------ */

enum distrib_kind {
    DISTRIB_FIXED = 0, /* always value */
    DISTRIB_UNIFORM,   /* min..max (sizes: every integer equally likely) */
    DISTRIB_LOGNORMAL, /* exp(mu + sigma * N(0,1)), clamped to min..max (sizes only) */
    DISTRIB_EXPONENTIAL, /* mean * -ln(U) (think times only: Poisson arrivals) */
    DISTRIB_TABLE,     /* one of the table's values, each with its weight (sizes only) */
};

/* An empirical table: values[i] is drawn with probability weights[i] / total. */
struct distrib_table {
    size_t n;
    uint64_t *values;
    double *cum; /* cumulative weights, cum[n-1] == total */
    double total;
};

struct distrib {
    enum distrib_kind kind;
    double value;       /* FIXED */
    double min, max;    /* UNIFORM; LOGNORMAL's clamp; every kind: the least and most a draw
                           can be (the loader fills them for all) */
    double mean, stddev; /* LOGNORMAL (of the values themselves), EXPONENTIAL (mean) */
    double mu, sigma;   /* LOGNORMAL: of the underlying normal, from mean and stddev */
    struct distrib_table *table; /* TABLE: owned (distrib_free) */
};

/* "fixed", "uniform", "lognormal", "exponential", "table". */
const char *distrib_kind_name(enum distrib_kind k);
/* mu and sigma of the normal whose exponential has this mean and standard deviation. */
void distrib_lognormal_params(double mean, double stddev, double *mu, double *sigma);
/* A draw as a whole number (message sizes): uniform over the integers min..max, the others
 * rounded to the nearest and kept within min..max. */
uint64_t distrib_draw_u64(const struct distrib *d, struct distrib_rng *r);
/* A draw as a real number (think times, seconds), within min..max. */
double distrib_draw(const struct distrib *d, struct distrib_rng *r);
/* Frees what d owns (its table); d is left fixed at 0, so a second call is harmless. */
void distrib_free(struct distrib *d);

/*
 * Reads an empirical table: lines "SIZE,WEIGHT" (SIZE an integer 0..max_value, WEIGHT a
 * number > 0; spaces around either allowed), blank lines and lines starting with '#'
 * skipped, at most DISTRIB_TABLE_MAX lines with values. name only names the text in messages.
 * Returns 0 with a table in *out (free with distrib_table_free), or -1 with "NAME line N: why"
 * in err.
 */
#define DISTRIB_TABLE_MAX 65536
int distrib_table_parse(const char *name, const char *text, size_t len, uint64_t max_value,
                        struct distrib_table **out, char *err, size_t errlen);
/* The same from a file (at most 16 MiB), errors naming it. */
int distrib_table_load(const char *path, uint64_t max_value, struct distrib_table **out,
                       char *err, size_t errlen);
void distrib_table_free(struct distrib_table *t);

#endif
