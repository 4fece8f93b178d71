/*
 * version.c - the version string, from `git describe` at build time.
 *
 * Owns: msrpload_version(). May not touch: anything else; the layers below get the version
 * passed in (report_meta.version, report_merge_input.version).
 */
#include "cli/cli.h"

#ifndef MSRPLOAD_VERSION
#define MSRPLOAD_VERSION "unknown"
#endif

const char *msrpload_version(void)
{
    return MSRPLOAD_VERSION;
}
