/*
 * run_sip.h - run's SIP options (run_sip.c): --sip-proxy, --sip-user, --sip-users,
 * --sip-password-file, --sip-domain, --sip-target, --sip-ca and --sip-insecure, laid over the
 * scenario's topology.sip, the SIP users' password and the SIP TLS contexts. Private to src/cli/.
 */
#ifndef MSRPLOAD_CLI_RUN_SIP_H
#define MSRPLOAD_CLI_RUN_SIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "scenario/scenario.h"

struct run_sip_options {
    const char *proxy, *user, *domain, *target, *password_file; /* NULL: not given */
    uint64_t users;                                              /* 0: not given */
    const char *ca_file;                                         /* --sip-ca */
    bool insecure;                                               /* --sip-insecure */
    unsigned shard_index, shard_count; /* run's --shard (count 0: none), set by run */
};

/* Reads one SIP option with its value v (NULL: none followed): 1 when taken with v, 2 when a
 * flag was taken (v not used), 0 when opt is none of them, -1 when v is wrong or missing (err
 * names the option). */
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
/* True when the sip topology's proxy (or target) is SIP over TLS (sips: or ;transport=tls). */
bool run_sip_tls(const struct scenario *sc);
/* Over SIP TLS, the agents' contexts: the client verifying against sc->sip.ca_file (none with
 * insecure), the server with a self-signed certificate made now; both NULL otherwise. 0, or
 * -1 after saying why. */
struct net_tls;
int run_sip_tls_setup(const struct scenario *sc, struct net_tls **client,
                      struct net_tls **server);
/* summary.json's config.sip: where and who, never the password. */
json_t *run_sip_config_json(const struct scenario *sc);
/* The options' lines of run --help. */
void run_sip_usage(FILE *out);

#endif
