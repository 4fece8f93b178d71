/*
 * run_sip.h - run's SIP options (run_sip.c): --sip-proxy, --sip-user, --sip-users,
 * --sip-password-file, --sip-domain and --sip-target, laid over the scenario's topology.sip,
 * and the SIP users' password. Private to src/cli/.
 */
#ifndef MSRPLOAD_CLI_RUN_SIP_H
#define MSRPLOAD_CLI_RUN_SIP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "scenario/scenario.h"

struct run_sip_options {
    const char *proxy, *user, *domain, *target, *password_file; /* NULL: not given */
    uint64_t users;                                              /* 0: not given */
    unsigned shard_index, shard_count; /* run's --shard (count 0: none), set by run */
};

/* Reads one SIP option with its value v: 1 when taken, 0 when opt is none of them, -1 when v
 * is wrong (err names the option). */
int run_sip_option(struct run_sip_options *o, const char *opt, const char *v, char *err,
                   size_t errlen);
/* Lays the options over sc (any of them switches the topology to sip) and checks what the
 * sip topology needs: a proxy or a target, a user, TCP or TLS MSRP ends. 0, or -1 with err. */
int run_sip_apply(struct scenario *sc, const struct run_sip_options *o, char *err,
                  size_t errlen);
/* The SIP users' password: --sip-password-file, else MSRPLOAD_SIP_PASSWORD, else the
 * scenario's topology.sip.password_file; its first line. 0, or -1 after saying why. */
int run_sip_password(const struct scenario *sc, const struct run_sip_options *o, char *out,
                     size_t cap);
/* summary.json's config.sip: where and who, never the password. */
json_t *run_sip_config_json(const struct scenario *sc);
/* The options' lines of run --help. */
void run_sip_usage(FILE *out);

#endif
