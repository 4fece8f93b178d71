/*
 * start_at.h - `run --start-at UNIX_TIME`: the wall-clock moment at which every shard of a
 * load starts together (deploy/kubernetes/ gives each pod the same one).
 */
#ifndef MSRPLOAD_CLI_START_AT_H
#define MSRPLOAD_CLI_START_AT_H

#include <signal.h>
#include <stddef.h>

/* A start this many seconds past is still taken (at once): pods never start in the same
 * millisecond; one later than that would not start together with the others. */
#define START_AT_LATE_MAX_S 5.0
/* Further ahead than this is taken for a mistake (milliseconds instead of seconds). */
#define START_AT_AHEAD_MAX_S (7.0 * 86400.0)

/* Reads v (seconds since 1970, fractions allowed). Returns 0, or -1 with err naming the
 * option. */
int start_at_parse(const char *v, double *out, char *err, size_t errlen);
/* Whether t can still be waited for now: 0, or -1 with err saying how late or far it is. */
int start_at_check(double t, char *err, size_t errlen);
/* Sleeps until the wall clock reaches t, or until *stop becomes nonzero (returns -1 then). */
int start_at_wait(double t, volatile sig_atomic_t *stop);

#endif
