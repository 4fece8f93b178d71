/*
 * conform.c - `msrpload conform`: runs the RFC 4975/4976/7977 conformance cases (case files under
 * scenarios/conformance/) against an endpoint or a relay, one line per case, with TAP, JUnit
 * and JSON reports for CI.
 *
 * Cases run one after the other, each on fresh connections (src/conform/exec.c). A case that is
 * not met gets the verdict its level calls for (conform.h): fail for a MUST, non-strict for a
 * SHOULD, info for a MAY or a sentence without a keyword. The exit code counts fails only,
 * unless --strict, which counts non-strict too; info never counts. --coverage prints the
 * requirements list against the cases (src/conform/coverage.c) and runs nothing.
 *
 * Owns: the command line (options, case files found and selected, the password file), the
 * order the cases run in, the messages on standard error and the exit code. May not touch: how
 * a case runs (src/conform/exec.c and its parts) or how results are written (TAP, JUnit, JSON
 * and the case lines are src/conform/results.c); it holds no protocol or report logic.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"
#include "conform/conform.h"
#include "conform/expect.h"
#include "conform/results.h"
#include "scenario/scenario.h"
#include "wire/parser.h"

#define MAX_CASES 512
#define REQUIREMENTS_FILE "requirements.json"
#define MAX_SELECT 32

static void conform_usage(FILE *out)
{
    fprintf(out,
            "usage: msrpload conform (--target URI | --relay URI [--relay-b URI]\n"
            "                         --relay-user USER --relay-password-file FILE)\n"
            "                        [--list] [--case ID-or-prefix ...] [--strict] [--tap]\n"
            "                        [--junit FILE] [--json FILE] [--cases DIR]\n"
            "                        [--timeout-scale X] [--refused-type TYPE]\n"
            "                        [--delivery PATTERN] [--quick] [--verbose]\n"
            "                        [--expect FILE] [--write-expect FILE] [--name NAME]\n"
            "       msrpload conform --listen HOST:PORT [--client-cmd TEMPLATE]\n"
            "                        [--session-id ID] [--timeout S] [the run options above]\n"
            "                        [--as-relay --relay-user USER --relay-password-file FILE]\n"
            "       msrpload conform --sip-target URI [--sip-proxy URI --sip-user USER\n"
            "                        --sip-password-file FILE] [the run options above]\n"
            "       msrpload conform --coverage [--markdown] [--cases DIR]\n"
            "\n"
            "Checks an MSRP endpoint (RFC 4975) or relay (RFC 4976; over WebSocket, RFC 7977)\n"
            "against the requirements of the RFCs that can be seen on the wire. Each case is a\n"
            "file under the cases folder (scenarios/conformance/README.md), named by the RFC\n"
            "and section of the sentence it checks, e.g. 4975-7.2/response-tid. Prints one\n"
            "line per case and its verdict:\n"
            "  pass          the peer did what the case expects\n"
            "  fail          a MUST not met\n"
            "  non-strict    a SHOULD not met (counts only with --strict)\n"
            "  info          behaviour the RFC allows (MAY) or names without a keyword was\n"
            "                not seen: reported, never failing\n"
            "  unobservable  the peer's answer hides what the case checks (e.g. a 413 to a\n"
            "                message it needed taken): the reason, not counted\n"
            "  skip          the run lacks what the case needs: the reason\n"
            "Under fail, non-strict and info: the requirement, what was expected, what was\n"
            "observed and the wire exchange (a> sent by endpoint a, a< received; CR and LF\n"
            "written as \\r \\n).\n"
            "\n"
            "options:\n"
            "  --target URI         the endpoint under test: a session URI it answers, e.g.\n"
            "                       msrp://127.0.0.1:2855/s1;tcp (msrps:// for TLS, not verified);\n"
            "                       runs the endpoint cases, skips the relay cases\n"
            "  --relay URI          the relay under test, e.g. msrp://127.0.0.1:2855;tcp: runs the\n"
            "                       relay cases, skips the endpoint cases. Over WebSocket (RFC\n"
            "                       7977): ws://HOST:PORT/PATH, wss://HOST:PORT/PATH (TLS, not\n"
            "                       verified), or msrp://HOST:PORT;ws / msrps://HOST:PORT;ws\n"
            "                       (path /); both test endpoints then connect and AUTH through\n"
            "                       a WebSocket with subprotocol msrp, and the RFC 7977 cases\n"
            "                       run (they are skipped otherwise)\n"
            "  --listen HOST:PORT   play the answering endpoint and check what the client under\n"
            "                       test sends: runs the client cases (needs \"client\"), skips\n"
            "                       the others; port 0 picks a free one. Plain TCP only\n"
            "  --client-cmd TEMPLATE\n"
            "                       a shell command run once per client case to make the client\n"
            "                       act, e.g. 'my-client --to {uri} --send {file} --chunk\n"
            "                       {chunk_size} --report {success_report}'. Placeholders (each\n"
            "                       value inserted single-quoted): {uri} the session URI to\n"
            "                       send to, {file} a file holding the body to send, {size} its\n"
            "                       length, {chunk_size} the largest chunk body to use,\n"
            "                       {success_report} yes, no or absent, {session_id}, {host},\n"
            "                       {port}, {case} the case id. A case that needs a\n"
            "                       placeholder the template lacks is skipped, saying which.\n"
            "                       The command's process group is ended (SIGTERM, then\n"
            "                       SIGKILL) when the case is over. Without --client-cmd one\n"
            "                       connection is awaited and every client case judged from it\n"
            "  --as-relay           with --listen: play an RFC 4976 relay instead, with one\n"
            "                       account (--relay-user, --relay-password-file), and run the\n"
            "                       relay-client cases: digest AUTH challenged and verified,\n"
            "                       Use-Path and Expires granted, SENDs and REPORTs\n"
            "                       forwarded between its clients. {uri} is then the relay's\n"
            "                       URI, {user} and\n"
            "                       {password_file} the account\n"
            "  --session-id ID      the session id of the URI the client is given (default: a\n"
            "                       random one per case)\n"
            "  --timeout S          with --listen: the most seconds a case waits for the client\n"
            "                       (default: the case's own, 30 s without --client-cmd)\n"
            "  --sip-target URI     play the SIP caller: INVITE this SIP URI with MSRP SDP\n"
            "                       offers and judge each answer (RFC 4975 section 8, RFC\n"
            "                       6714): runs the SIP cases (needs \"sip\"), skips the\n"
            "                       others; e.g. sip:answer@127.0.0.1:5062 (UDP), or with\n"
            "                       ;transport=tcp. Each call is ACKed and ended with BYE\n"
            "  --sip-proxy URI      with --sip-target: send every INVITE through this outbound\n"
            "                       proxy (e.g. sip:127.0.0.1:5060; its ;transport= picks\n"
            "                       the transport)\n"
            "  --sip-user USER      with --sip-target: our From user and digest username\n"
            "                       (default msrpload)\n"
            "  --sip-password-file FILE\n"
            "                       its password (first line), for 401 / 407 challenges\n"
            "  --relay-b URI        endpoint b connects here instead (same forms), e.g. the\n"
            "                       relay's plain TCP URI beside a WebSocket --relay: a over\n"
            "                       WebSocket, b over TCP through a bridging relay; the cases\n"
            "                       that need a non-WebSocket peer run only with it\n"
            "  --relay-user USER    the account both test endpoints authenticate with\n"
            "  --relay-password-file FILE\n"
            "                       its password: the first line of FILE\n"
            "  --list               list the selected cases (id, level, needs, title); run nothing\n"
            "  --case ID            run the case with this id, or every case whose id starts\n"
            "                       with it (4975-7.1 or 4976-); an id a case had before (its\n"
            "                       aliases, see the README's table) selects it too; may repeat\n"
            "  --strict             SHOULD cases count too: non-strict makes the exit code 1\n"
            "  --coverage           print the requirements list (requirements.json in the cases\n"
            "                       folder) with the cases that cover each, or why none does,\n"
            "                       and the counts; run nothing\n"
            "  --markdown           with --coverage: as the Markdown document\n"
            "                       docs/conformance-coverage.md\n"
            "  --tap                write TAP version 13 on standard output instead of the lines\n"
            "  --junit FILE         write a JUnit XML report: one testsuite per RFC section\n"
            "  --json FILE          write every result as JSON\n"
            "  --cases DIR          where the case files are (default scenarios/conformance)\n"
            "  --timeout-scale X    multiply every timeout by X (a slow peer or link; default 1)\n"
            "  --refused-type TYPE  a media type the target is known not to take (one missing\n"
            "                       from its SDP accept-types), e.g. application/x-refused:\n"
            "                       4975-7.3.1/415-unsupported-type sends it and wants 415;\n"
            "                       without it that case is skipped\n"
            "  --delivery PATTERN   how the requests a case sends are cut into writes: whole\n"
            "                       (default: each request in one write), bytes (one byte per\n"
            "                       write), split (writes cut between CR and LF and inside\n"
            "                       each end-line), pipelined (all a case sends before it\n"
            "                       next waits, binding SEND included, in one write), all\n"
            "                       (each case in each of the four; a case whose verdicts\n"
            "                       differ fails, naming them); over WebSocket only whole\n"
            "                       and pipelined (each chunk leaves as one frame anyway)\n"
            "  --quick              skip the slow cases: those marked slow (they wait out a\n"
            "                       30 s timer of the RFC) and those that may wait over 20 s\n"
            "                       for the peer; each is listed as skip, saying so\n"
            "  --verbose            print the wire exchange of passing cases too\n"
            "  --expect FILE        the verdicts the implementation is known to get; the exit\n"
            "                       code then says whether any changed (see below). FILE is\n"
            "                       JSON when its first non-blank character is '{' (\"expect\":\n"
            "                       [{\"id\",\"verdict\",\"reason\"}], or a --json results file),\n"
            "                       else text: one 'CASE-ID VERDICT # reason' a line, '#'\n"
            "                       lines are comments. Old ids (aliases) resolve to the\n"
            "                       current ones. Lists the cases that regressed, newly pass,\n"
            "                       changed otherwise, were not compared (skipped in this run\n"
            "                       or expected skip), are not in the file, and the file's ids\n"
            "                       no case has; only the first three make the exit code 1\n"
            "  --write-expect FILE  write this run's verdicts as an --expect file (text form)\n"
            "  --name NAME          the implementation's name in the --json results (the\n"
            "                       column title of conform-report; default the URI)\n"
            "\n"
            "exit codes: 0 no case failed (with --strict: none failed or was non-strict; info\n"
            "            never counts), 1 a case that counts failed, 2 usage error, a case file\n"
            "            that does not load, or (--coverage) a requirements list that does not\n"
            "            agree with the cases, 3 the target or relay could not be reached (or\n"
            "            authenticated with), or no client connected (--listen without\n"
            "            --client-cmd)\n"
            "            With --expect: 0 every verdict as expected, 1 one regressed, newly\n"
            "            passes or changed (failures that were expected do not count), 2 and 3\n"
            "            as above (2 also for an --expect file that does not load: file:line)\n");
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "msrpload conform: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(msrpload conform --help lists the options)\n");
    return EXIT_USAGE;
}

static int by_id(const void *a, const void *b)
{
    const struct conform_item *x = *(struct conform_item *const *)a;
    const struct conform_item *y = *(struct conform_item *const *)b;
    return strcmp(x->sc.kase->id, y->sc.kase->id);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Loads every case file of dir into items (sorted by id). Returns the count, or -1. */
static int load_cases(const char *dir, struct conform_item **items, size_t cap)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, "msrpload conform: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    size_t n = 0;
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d)) != NULL) {
        if (!ends_with(de->d_name, ".json") || strcmp(de->d_name, REQUIREMENTS_FILE) == 0)
            continue;
        if (n == cap) {
            fprintf(stderr, "msrpload conform: more than %zu case files in %s\n", cap, dir);
            rc = -1;
            break;
        }
        char path[4096], err[1024];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        struct conform_item *it = calloc(1, sizeof(*it));
        if (it == NULL) {
            rc = -1;
            break;
        }
        if (scenario_load(path, &it->sc, err, sizeof err) != 0) {
            fprintf(stderr, "msrpload conform: %s\n", err);
            free(it);
            rc = -1;
            continue;
        }
        if (it->sc.kase != NULL && it->sc.kase->needs == CASE_SIP &&
            !conform_sip_check_known(it->sc.kase->sip_check)) {
            fprintf(stderr, "msrpload conform: %s: $.case.sip.check: no SIP check named \"%s\"\n",
                    path, it->sc.kase->sip_check);
            scenario_free(&it->sc);
            free(it);
            rc = -1;
            continue;
        }
        if (it->sc.kase == NULL) {
            fprintf(stderr, "msrpload conform: %s: not a case file (no top-level \"case\")\n",
                    path);
            scenario_free(&it->sc);
            free(it);
            rc = -1;
            continue;
        }
        items[n++] = it;
    }
    closedir(d);
    qsort(items, n, sizeof(*items), by_id);
    for (size_t i = 1; i < n && rc == 0; i++)
        if (strcmp(items[i]->sc.kase->id, items[i - 1]->sc.kase->id) == 0) {
            fprintf(stderr, "msrpload conform: two case files have the id %s\n",
                    items[i]->sc.kase->id);
            rc = -1;
        }
    if (rc != 0) {
        for (size_t i = 0; i < n; i++) {
            scenario_free(&items[i]->sc);
            free(items[i]);
        }
        return -1;
    }
    return (int)n;
}

/* ---- the command -------------------------------------------------------------------------- */

/* A case is selected by its id or one of its old ids (aliases), whole or by prefix. */
static bool selected(const struct scenario_case *k, char **sel, size_t nsel)
{
    if (nsel == 0)
        return true;
    for (size_t i = 0; i < nsel; i++) {
        size_t n = strlen(sel[i]);
        if (strncmp(k->id, sel[i], n) == 0)
            return true;
        for (unsigned a = 0; a < k->num_aliases; a++)
            if (strncmp(k->aliases[a], sel[i], n) == 0)
                return true;
    }
    return false;
}

static int read_password(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "msrpload conform: %s: %s\n", path, strerror(errno));
        return -1;
    }
    bool ok = fgets(out, (int)cap, f) != NULL;
    fclose(f);
    if (!ok) {
        fprintf(stderr, "msrpload conform: %s: empty password file\n", path);
        return -1;
    }
    out[strcspn(out, "\r\n")] = '\0';
    return 0;
}

/* The command line, read. */
struct conform_opts {
    struct conform_peer peer;
    const char *password_file, *junit, *json, *dir;
    const char *expect, *write_expect, *name; /* --expect, --write-expect, --name */
    const char *listen, *client_cmd, *session_id; /* --listen and its options */
    struct conform_sip_peer sip;                  /* --sip-target and its options */
    const char *sip_password_file;
    double timeout;                               /* --timeout (with --listen) */
    char *sel[MAX_SELECT];
    size_t nsel;
    bool list, strict, tap, verbose, quick, coverage, markdown;
    bool as_relay;                                /* --as-relay (with --listen) */
};

/* An option with a value (v); returns -1, or the exit code of a usage error. */
static int set_option(struct conform_opts *o, const char *a, char *v)
{
    if (strcmp(a, "--target") == 0) {
        o->peer.target_uri = v;
    } else if (strcmp(a, "--sip-target") == 0 || strcmp(a, "--sip-proxy") == 0) {
        if (strncasecmp(v, "sip:", 4) != 0 || strlen(v) > 250)
            return usage_error("expected a sip: URI of at most 250 characters, got '%s'", v);
        *(a[6] == 't' ? &o->sip.target : &o->sip.proxy) = v;
    } else if (strcmp(a, "--sip-user") == 0) {
        /* a SIP user part kept to unreserved characters: it goes into From and the digest */
        if (v[0] == '\0' || strlen(v) > 64 ||
            strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.!~*'+") !=
                strlen(v))
            return usage_error("--sip-user: expected 1 to 64 letters, digits or -_.!~*'+, got "
                               "'%s'", v);
        o->sip.user = v;
    } else if (strcmp(a, "--sip-password-file") == 0) {
        o->sip_password_file = v;
    } else if (strcmp(a, "--relay") == 0) {
        o->peer.relay_uri = v;
    } else if (strcmp(a, "--relay-b") == 0) {
        o->peer.relay_b_uri = v;
    } else if (strcmp(a, "--relay-user") == 0) {
        o->peer.user = v;
    } else if (strcmp(a, "--relay-password-file") == 0) {
        o->password_file = v;
    } else if (strcmp(a, "--case") == 0) {
        if (o->nsel == MAX_SELECT)
            return usage_error("at most 32 --case options%s", "");
        o->sel[o->nsel++] = v;
    } else if (strcmp(a, "--junit") == 0) {
        o->junit = v;
    } else if (strcmp(a, "--json") == 0) {
        o->json = v;
    } else if (strcmp(a, "--expect") == 0) {
        o->expect = v;
    } else if (strcmp(a, "--write-expect") == 0) {
        o->write_expect = v;
    } else if (strcmp(a, "--name") == 0) {
        if (v[0] == '\0' || strlen(v) > 200)
            return usage_error("--name: expected 1 to 200 characters, got '%s'", v);
        o->name = v;
    } else if (strcmp(a, "--cases") == 0) {
        o->dir = v;
    } else if (strcmp(a, "--listen") == 0) {
        o->listen = v;
    } else if (strcmp(a, "--client-cmd") == 0) {
        if (v[0] == '\0')
            return usage_error("--client-cmd: expected a command%s", "");
        o->client_cmd = v;
    } else if (strcmp(a, "--session-id") == 0) {
        /* RFC 4975 section 9: session-id = 1*( unreserved / "+" / "=" / "/" ); kept to the
         * ident characters here, so that it needs no escaping anywhere */
        if (!msrp_is_ident(v, strlen(v)))
            return usage_error("--session-id: expected 4 to 32 letters, digits or . - + %% =, "
                               "starting with a letter or digit, got '%s'", v);
        o->session_id = v;
    } else if (strcmp(a, "--timeout") == 0) {
        char *end = NULL;
        o->timeout = strtod(v, &end);
        if (end == v || *end != '\0' || !(o->timeout > 0) || o->timeout > 3600)
            return usage_error("--timeout: expected seconds in (0, 3600], got '%s'", v);
    } else if (strcmp(a, "--refused-type") == 0) {
        /* type "/" subtype, tokens without parameters (RFC 4975 section 9, RFC 2045) */
        size_t n = strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                             "0123456789!#$&-^_.+%*'`|~/");
        const char *slash = strchr(v, '/');
        if (n != strlen(v) || slash == NULL || slash == v || slash[1] == '\0' ||
            strchr(slash + 1, '/') != NULL || strlen(v) > 200)
            return usage_error("--refused-type: expected a media type such as "
                               "application/x-refused, got '%s'",
                               v);
        o->peer.refused_type = v;
    } else if (strcmp(a, "--delivery") == 0) {
        int d = conform_delivery_parse(v);
        if (d < 0)
            return usage_error("--delivery: expected whole, bytes, split, pipelined or all, "
                               "got '%s'",
                               v);
        o->peer.delivery = (enum conform_delivery)d;
    } else {
        char *end = NULL;
        o->peer.timeout_scale = strtod(v, &end);
        if (end == v || *end != '\0' || !(o->peer.timeout_scale > 0) ||
            o->peer.timeout_scale > 100)
            return usage_error("--timeout-scale: expected a number in (0, 100], got '%s'", v);
    }
    return -1;
}

/* Reads the command line into o. Returns -1 to go on, or the exit code (--help, a usage
 * error). */
static int parse_options(int argc, char **argv, struct conform_opts *o)
{
    const struct {
        const char *name;
        bool *flag;
    } flags[] = {
        {"--list", &o->list},         {"--strict", &o->strict}, {"--quick", &o->quick},
        {"--coverage", &o->coverage}, {"--markdown", &o->markdown}, {"--tap", &o->tap},
        {"--verbose", &o->verbose},   {"--as-relay", &o->as_relay},
    };
    static const char *const with_value[] = {
        "--target", "--relay", "--relay-b", "--relay-user", "--relay-password-file", "--case",
        "--junit",  "--json",  "--cases",      "--timeout-scale",       "--refused-type",
        "--delivery", "--expect", "--write-expect", "--name", "--listen", "--client-cmd",
        "--session-id", "--timeout", "--sip-target", "--sip-proxy", "--sip-user",
        "--sip-password-file", NULL};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            conform_usage(stdout);
            return EXIT_OK;
        }
        size_t f = 0;
        while (f < sizeof flags / sizeof flags[0] && strcmp(a, flags[f].name) != 0)
            f++;
        if (f < sizeof flags / sizeof flags[0]) {
            *flags[f].flag = true;
            continue;
        }
        size_t k = 0;
        while (with_value[k] != NULL && strcmp(a, with_value[k]) != 0)
            k++;
        if (with_value[k] == NULL)
            return usage_error("unknown option or argument '%s'", a);
        if (i + 1 >= argc)
            return usage_error("%s needs a value", a);
        int rc = set_option(o, a, argv[++i]);
        if (rc >= 0)
            return rc;
    }
    if (o->markdown && !o->coverage)
        return usage_error("--markdown goes with --coverage%s", "");
    if (o->coverage && (o->list || o->nsel > 0 || o->peer.target_uri != NULL ||
                        o->peer.relay_uri != NULL || o->sip.target != NULL))
        return usage_error("--coverage takes only --cases and --markdown%s", "");
    if ((o->list || o->coverage) && (o->expect != NULL || o->write_expect != NULL))
        return usage_error("--expect and --write-expect go with a run, not --list or "
                           "--coverage%s", "");
    if ((o->client_cmd != NULL || o->session_id != NULL || o->timeout > 0) && o->listen == NULL)
        return usage_error("--client-cmd, --session-id and --timeout go with --listen%s", "");
    if (o->as_relay && o->listen == NULL)
        return usage_error("--as-relay goes with --listen%s", "");
    if (o->as_relay && !o->list && o->client_cmd == NULL)
        return usage_error("--as-relay needs --client-cmd (the relay runs each case's client "
                           "command; there is no passive relay mode)%s", "");
    if (o->as_relay && !o->list && (o->peer.user == NULL || o->password_file == NULL))
        return usage_error("--as-relay needs --relay-user and --relay-password-file (the "
                           "relay's one account)%s", "");
    if ((o->sip.proxy != NULL || o->sip.user != NULL || o->sip_password_file != NULL) &&
        o->sip.target == NULL)
        return usage_error("--sip-proxy, --sip-user and --sip-password-file go with "
                           "--sip-target%s", "");
    if (o->sip.target != NULL &&
        (o->listen != NULL || o->peer.target_uri != NULL || o->peer.relay_uri != NULL))
        return usage_error("--sip-target checks SIP offer/answer: it does not go with --target, "
                           "--relay or --listen%s", "");
    if (o->sip.target != NULL && o->peer.delivery != CONFORM_DELIVER_WHOLE)
        return usage_error("--delivery is for --target and --relay runs%s", "");
    if (o->listen != NULL && (o->peer.target_uri != NULL || o->peer.relay_uri != NULL))
        return usage_error("--listen checks a client: it does not go with --target or "
                           "--relay%s", "");
    if (o->listen != NULL && o->peer.delivery != CONFORM_DELIVER_WHOLE)
        return usage_error("--delivery is for --target and --relay runs%s", "");
    if (!o->list && !o->coverage && o->listen == NULL && o->sip.target == NULL) {
        if ((o->peer.target_uri == NULL) == (o->peer.relay_uri == NULL))
            return usage_error("give either --target, --relay, --listen or --sip-target%s", "");
        if (o->peer.relay_uri != NULL && (o->peer.user == NULL || o->password_file == NULL))
            return usage_error("--relay needs --relay-user and --relay-password-file%s", "");
        if (o->peer.relay_b_uri != NULL && o->peer.relay_uri == NULL)
            return usage_error("--relay-b goes with --relay%s", "");
        if (o->peer.target_uri != NULL && (o->peer.user != NULL || o->password_file != NULL))
            return usage_error("--relay-user and --relay-password-file go with --relay%s", "");
    }
    return -1;
}

/* --coverage: the requirements list against the selected cases. */
static int print_coverage(const struct conform_opts *o, struct conform_item **items, size_t n)
{
    char path[4096], err[1024];
    snprintf(path, sizeof path, "%s/%s", o->dir, REQUIREMENTS_FILE);
    const struct scenario **cases = calloc(n + 1, sizeof(*cases));
    if (cases == NULL)
        return EXIT_USAGE;
    int rc = EXIT_OK;
    for (size_t i = 0; i < n; i++)
        cases[i] = &items[i]->sc;
    if (conform_print_coverage(path, cases, n, o->markdown, stdout, err, sizeof err) != 0) {
        fprintf(stderr, "msrpload conform: %s\n", err);
        rc = EXIT_USAGE;
    }
    free(cases);
    return rc;
}

/* Runs the n cases one after the other, printing each as it ends; returns the exit code. */
static int run_cases(const struct conform_opts *o, const struct conform_peer *peer,
                     struct conform_listener *listener, struct conform_item **items, size_t n,
                     struct conform_expect *expect)
{
    struct conform_tally tally = {0};
    bool unreachable = false;
    char listen_text[320] = "";
    if (listener != NULL)
        snprintf(listen_text, sizeof listen_text, "client at %s%s%s:%u",
                 strchr(listener->host, ':') != NULL ? "[" : "", listener->host,
                 strchr(listener->host, ':') != NULL ? "]" : "", (unsigned)listener->port);
    struct conform_result *passive = NULL;
    if (listener != NULL && listener->client_cmd == NULL) {
        /* One connection, every case judged from it. */
        const struct scenario **cases = calloc(n + 1, sizeof(*cases));
        passive = calloc(n + 1, sizeof(*passive));
        if (cases == NULL || passive == NULL) {
            free(cases);
            free(passive);
            fprintf(stderr, "msrpload conform: out of memory\n");
            return EXIT_FAILED;
        }
        for (size_t i = 0; i < n; i++)
            cases[i] = &items[i]->sc;
        conform_listen_passive(listener, cases, n, passive);
        free(cases);
    }
    if (o->tap)
        conform_results_tap_plan(stdout, n);
    for (size_t i = 0; i < n; i++) {
        struct conform_item *it = items[i];
        const struct scenario_case *k = it->sc.kase;
        double wait = listener != NULL ? k->client.timeout : conform_case_max_wait(&it->sc, peer);
        if (unreachable) {
            it->r.verdict = CONFORM_SKIP;
            snprintf(it->r.observed, sizeof it->r.observed, "not run: the peer is unreachable");
        } else if (o->quick && passive == NULL && (k->slow || wait > CONFORM_QUICK_MAX_WAIT_S)) {
            it->r.verdict = CONFORM_SKIP;
            snprintf(it->r.observed, sizeof it->r.observed,
                     "slow: %s; --quick skips cases marked slow or that may wait over %.0f s",
                     k->slow ? "it waits out a 30 s timer of the RFC" : "it may wait long",
                     CONFORM_QUICK_MAX_WAIT_S);
        } else if (passive != NULL) {
            it->r = passive[i];
            it->ran = true;
        } else if (listener != NULL) {
            conform_listen_run_case(listener, &it->sc, &it->r);
            it->ran = true;
        } else if (o->sip.target != NULL) {
            conform_sip_run_case(&it->sc, &o->sip, &it->r);
            it->ran = true;
        } else {
            conform_run_case(&it->sc, peer, &it->r);
            it->ran = true;
        }
        if (it->r.verdict == CONFORM_UNREACHABLE) {
            /* Nothing else will fare better: say so once and stop trying. */
            unreachable = true;
            fprintf(stderr, "msrpload conform: %s: %s\n",
                    listener != NULL            ? listen_text
                    : o->sip.target != NULL    ? o->sip.target
                    : peer->target_uri != NULL ? peer->target_uri
                                               : peer->relay_uri,
                    it->r.observed);
        }
        conform_tally_add(&tally, it->r.verdict, o->strict);
        if (o->tap)
            conform_results_tap_case(stdout, i + 1, it, o->strict);
        else
            conform_results_print_case(stdout, it, o->verbose);
    }
    free(passive);
    conform_results_print_summary(stdout, &tally, n, o->strict, peer->delivery, o->tap);

    int rc = EXIT_OK;
    char err[4200];
    const char *peer_text = listener != NULL          ? listen_text
                            : o->sip.target != NULL    ? o->sip.target
                            : peer->target_uri != NULL ? peer->target_uri
                                                       : peer->relay_uri;
    const char *name = o->name != NULL ? o->name : peer_text;
    size_t changed = 0;
    if (expect != NULL && !unreachable)
        changed = conform_expect_compare(expect, items, n, stdout, o->tap ? "# " : "");
    if (o->write_expect != NULL && unreachable) {
        fprintf(stderr, "msrpload conform: %s not written: the peer was unreachable\n",
                o->write_expect);
    } else if (o->write_expect != NULL &&
               conform_expect_write(o->write_expect, items, n, name, msrpload_version(), err,
                                    sizeof err) != 0) {
        fprintf(stderr, "msrpload conform: %s\n", err);
        rc = EXIT_FAILED;
    }
    if (o->junit != NULL &&
        conform_results_write_junit(o->junit, items, n, o->strict, err, sizeof err) != 0) {
        fprintf(stderr, "msrpload conform: %s\n", err);
        rc = EXIT_FAILED;
    }
    if (o->json != NULL && conform_results_write_json(o->json, items, n, peer_text, name,
                                                      msrpload_version(), err, sizeof err) != 0) {
        fprintf(stderr, "msrpload conform: %s\n", err);
        rc = EXIT_FAILED;
    }
    if (unreachable)
        rc = EXIT_UNREACHABLE;
    else if (expect != NULL)
        rc = changed > 0 ? EXIT_FAILED : rc; /* what changed counts, not what fails */
    else if (tally.counted > 0)
        rc = EXIT_FAILED;
    return rc;
}

int cmd_conform(int argc, char **argv)
{
    struct conform_opts o = {.dir = "scenarios/conformance"};
    int rc = parse_options(argc, argv, &o);
    if (rc >= 0)
        return rc;

    static struct conform_item *items[MAX_CASES];
    int loaded = load_cases(o.dir, items, MAX_CASES);
    if (loaded < 0)
        return EXIT_USAGE;
    /* The expectations are read against every case, selected or not: an id of the file
     * that is an alias resolves, and one that names no case at all is told apart. */
    struct conform_expect expect;
    bool have_expect = false;
    if (o.expect != NULL) {
        char xerr[1024];
        if (conform_expect_load(o.expect, items, (size_t)loaded, &expect, xerr, sizeof xerr) !=
            0) {
            fprintf(stderr, "msrpload conform: %s\n", xerr);
            for (int i = 0; i < loaded; i++) {
                scenario_free(&items[i]->sc);
                free(items[i]);
            }
            return EXIT_USAGE;
        }
        have_expect = true;
    }
    size_t n = 0;
    for (int i = 0; i < loaded; i++) {
        /* --listen runs the client cases only, --target and --relay (and --list without
         * --listen) the others; --coverage counts them all. */
        bool client = items[i]->sc.kase->needs == CASE_CLIENT;
        /* --as-relay runs the relay-client cases only, --listen without it the others */
        bool relay_client = client && items[i]->sc.kase->client.relay != 0;
        /* --sip-target runs the SIP cases only, and nothing else runs them */
        bool sip = items[i]->sc.kase->needs == CASE_SIP;
        if (selected(items[i]->sc.kase, o.sel, o.nsel) &&
            (o.coverage || (client == (o.listen != NULL) && relay_client == o.as_relay &&
                            sip == (o.sip.target != NULL)))) {
            items[n++] = items[i];
        } else {
            scenario_free(&items[i]->sc);
            free(items[i]);
        }
    }
    rc = EXIT_OK;
    char password[512] = "", err[1024];
    if (o.coverage) {
        rc = print_coverage(&o, items, n);
    } else if (n == 0) {
        fprintf(stderr, "msrpload conform: no case matches the selection\n");
        rc = EXIT_USAGE;
    } else if (o.list) {
        for (size_t i = 0; i < n; i++) {
            const struct scenario_case *k = items[i]->sc.kase;
            printf("%-48s %-6s %-6s %s\n", k->id, conform_level_name(k->level),
                   k->needs == CASE_TARGET ? "target"
                   : k->needs == CASE_RELAY ? "relay"
                   : k->needs == CASE_SIP   ? "sip"
                                            : "client",
                   k->title);
        }
    } else if (o.password_file != NULL &&
               read_password(o.password_file, password, sizeof password) != 0) {
        rc = EXIT_USAGE;
    } else if (o.sip.target != NULL) {
        if (o.sip_password_file != NULL &&
            read_password(o.sip_password_file, password, sizeof password) != 0) {
            rc = EXIT_USAGE;
        } else {
            o.sip.password = o.sip_password_file != NULL ? password : NULL;
            o.sip.timeout_scale = o.peer.timeout_scale;
            rc = run_cases(&o, &o.peer, NULL, items, n, have_expect ? &expect : NULL);
        }
    } else if (o.listen != NULL) {
        struct conform_listener l = {.session_id = o.session_id, .client_cmd = o.client_cmd,
                                     .timeout = o.timeout,
                                     .timeout_scale = o.peer.timeout_scale,
                                     .as_relay = o.as_relay, .relay_user = o.peer.user,
                                     .relay_password = password};
        if (conform_listen_open(&l, o.listen, err, sizeof err) != 0) {
            fprintf(stderr, "msrpload conform: %s\n", err);
            rc = EXIT_USAGE;
        } else {
            fprintf(stderr, "msrpload conform: listening on %s port %u\n", l.host,
                    (unsigned)l.port);
            if (o.client_cmd == NULL)
                fprintf(stderr, "msrpload conform: waiting for a client to open %s\n",
                        l.passive_uri);
            rc = run_cases(&o, &o.peer, &l, items, n, have_expect ? &expect : NULL);
            conform_listen_close(&l);
        }
    } else {
        if (o.password_file != NULL)
            o.peer.password = password;
        if (conform_peer_resolve(&o.peer, err, sizeof err) != 0) {
            fprintf(stderr, "msrpload conform: %s\n", err);
            rc = EXIT_UNREACHABLE;
        } else if ((o.peer.hop[0].ws || o.peer.hop[1].ws) &&
                   o.peer.delivery != CONFORM_DELIVER_WHOLE &&
                   o.peer.delivery != CONFORM_DELIVER_PIPELINED) {
            /* The WebSocket transport frames a chunk only once its end is queued (one
             * unfragmented frame per chunk), so a chunk cut into writes still leaves whole:
             * bytes and split would only repeat whole. */
            rc = usage_error("--delivery %s cuts chunks into several writes, but over a "
                             "WebSocket each chunk leaves as one frame however it is written, "
                             "so only whole and pipelined apply",
                             conform_delivery_name(o.peer.delivery));
        } else {
            rc = run_cases(&o, &o.peer, NULL, items, n, have_expect ? &expect : NULL);
        }
    }

    if (have_expect)
        conform_expect_free(&expect);
    for (size_t i = 0; i < n; i++) {
        conform_result_free(&items[i]->r);
        scenario_free(&items[i]->sc);
        free(items[i]);
    }
    return rc;
}
