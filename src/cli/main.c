/*
 * main.c - `msrpload <command> ...`: dispatches to the subcommands.
 *
 * Owns: the command table, the top-level usage and --version. May not touch: any
 * subcommand's options or work (each cmd_* parses its own arguments).
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"run", cmd_run, "run a load scenario and write its report under results/"},
    {"decode", cmd_decode, "print each MSRP chunk of a raw byte stream as a JSON line"},
    {"bench", cmd_bench, "measure parsing, writing and end-to-end speed beside their limits"},
    {"serve", cmd_serve, "answer MSRP sessions and log each message and peer violation"},
    {"compare", cmd_compare, "compare two run reports; exit 1 when the second regressed"},
    {"merge", cmd_merge, "combine the reports of runs made on several hosts into one"},
    {"conform", cmd_conform, "check an MSRP endpoint or relay against RFC 4975/4976 cases"},
    {"conform-report", cmd_conform_report,
     "render conform --json results of implementations as an HTML/Markdown matrix"},
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: msrpload <command> [options]\n"
            "       msrpload --version | --help\n"
            "\n"
            "MSRP (RFC 4975/4976) load generator and conformance tester.\n"
            "\n"
            "commands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n'msrpload <command> --help' describes a command's options.\n"
                 "exit codes: 0 success, 1 failure or malformed input, 2 usage error,\n"
                 "            3 target or relay unreachable\n");
}

int main(int argc, char **argv)
{
    /* A peer that closes is reported by the write that fails, not by a signal. */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
        printf("msrpload %s\n", msrpload_version());
        return EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "msrpload: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}
