/*
 * scenario.h - a JSON scenario file (scenarios/README.md is the format) loaded, checked and
 * compiled into the structures the load runner walks.
 *
 * Like SIPp's scenarios, the per-session steps are compiled once into a flat array that every
 * session walks with its own program counter; `repeat` becomes a jump back with a counter.
 * Every value is checked before anything runs: the first problem is reported as
 * "FILE: $.json.path: what was expected, got what" and loading fails.
 *
 * Thread safety: a loaded scenario is read-only and may be shared by every worker thread.
 */
#ifndef MSRPLOAD_LOAD_SCENARIO_H
#define MSRPLOAD_LOAD_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire/parser.h"

#define SCENARIO_MAX_STEPS 256
#define SCENARIO_MAX_TARGETS 64
#define SCENARIO_MAX_STATUSES 8

enum scenario_mode { SCENARIO_CLOSED = 0, SCENARIO_OPEN };
enum scenario_topology { SCENARIO_EMBEDDED = 0, SCENARIO_TARGET };

enum step_kind {
    STEP_SEND = 1,
    STEP_EXPECT,
    STEP_PAUSE,
    STEP_REPEAT_BEGIN, /* marks where a repeat starts: its matching END jumps back here */
    STEP_REPEAT_END,
    STEP_CLOSE,
};

struct step_send {
    uint32_t count;
    uint64_t size_min, size_max; /* equal for a fixed size */
    char content_type[128];
    uint32_t chunk_size;
    enum msrp_report failure_report; /* MSRP_REPORT_ABSENT: no header */
    enum msrp_report success_report;
};

struct step_expect {
    int statuses[SCENARIO_MAX_STATUSES];
    unsigned num_statuses;
    int report;           /* 0: no REPORT expected */
    uint64_t timeout_ns;
};

struct step {
    enum step_kind kind;
    union {
        struct step_send send;
        struct step_expect expect;
        uint64_t pause_ns;
        struct {
            uint32_t times;   /* 0: until the run ends */
            uint32_t other;   /* BEGIN: index of its END; END: index of its BEGIN */
        } repeat;
    } u;
};

struct scenario {
    char name[64];
    char description[256];
    char path[512];       /* the file it came from */

    /* load */
    unsigned threads;     /* 0 in the file: the number of cores, filled in by the loader */
    uint64_t sessions;
    uint64_t concurrency;
    bool concurrency_given; /* false: it defaulted to sessions, and should follow --sessions */
    double session_rate;  /* 0: unlimited */
    double ramp_up_s, duration_s, warm_up_s;
    enum scenario_mode mode;
    unsigned outstanding;
    double rate;          /* open mode: messages/s over the run */

    /* topology */
    enum scenario_topology topology;
    bool tls;
    char targets[SCENARIO_MAX_TARGETS][512];
    unsigned num_targets;
    char ca_file[512];

    /* steps */
    struct step steps[SCENARIO_MAX_STEPS];
    unsigned num_steps;

    /* answer */
    int answer_status;
    char accept_types[256];
    uint64_t max_message;

    /* the file as read, for the report's copy of the scenario */
    char *text;
    size_t text_len;
};

/*
 * Loads and checks a scenario. Returns 0 and fills *sc (free with scenario_free), or -1 with a
 * message in err naming the file and the JSON path.
 * On failure *sc is left zeroed (scenario_free on it is harmless); err may be NULL if errlen is 0.
 */
int scenario_load(const char *path, struct scenario *sc, char *err, size_t errlen);
/* The same from text in memory (path only names it in messages). */
int scenario_parse(const char *path, const char *text, size_t len, struct scenario *sc,
                   char *err, size_t errlen);
void scenario_free(struct scenario *sc);

#endif
