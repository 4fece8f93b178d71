/*
 * cli.h - subcommands of the msrpload command line. Each returns the process exit code.
 *
 * The contract of src/cli/, the top layer: a subcommand parses its options, calls the layers
 * below (load/, conform/, sip/, msrp/, net/, report/, wire/) and turns their results into
 * messages and an exit code. It holds no protocol or report logic of its own, and nothing below
 * includes from here (what a lower layer needs, such as the version, is passed in).
 */
#ifndef MSRPLOAD_CLI_CLI_H
#define MSRPLOAD_CLI_CLI_H

/* Exit codes shared by every subcommand. */
enum {
    EXIT_OK = 0,
    EXIT_FAILED = 1,      /* expectations failed, or malformed input */
    EXIT_USAGE = 2,       /* bad command line or scenario */
    EXIT_UNREACHABLE = 3, /* the target or relay could not be reached */
    /* run only: stopped by a signal, the shell's 128 + its number (the report is written) */
    EXIT_SIGINT = 130,
    EXIT_SIGTERM = 143,
};

const char *msrpload_version(void);

int cmd_decode(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_conform(int argc, char **argv);
int cmd_conform_report(int argc, char **argv);

#endif
