/* version.c - the version string, from `git describe` at build time. */
#include "cli/cli.h"

#ifndef MSRPLOAD_VERSION
#define MSRPLOAD_VERSION "unknown"
#endif

const char *msrpload_version(void)
{
    return MSRPLOAD_VERSION;
}
