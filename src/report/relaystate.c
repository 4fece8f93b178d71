/*
 * relaystate.c - the relay-state series (`run --relay-state CMD`): parsing what CMD printed,
 * keeping the samples bounded, the verdict after the run and its rendering (relaystate.h).
 *
 * Owns: the `name value` line format, the thinning of a long series, the sessions-left and
 * memory-growth comparison and its threshold, summary.json's "relay_state" and
 * relay-state.csv. Runs nothing: cli/relay_state.c samples.
 */
#include "report/relaystate.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

const char *relay_state_phase_name(enum relay_state_phase p)
{
    switch (p) {
    case RELAY_STATE_BEFORE:
        return "before";
    case RELAY_STATE_DURING:
        return "during";
    case RELAY_STATE_GRACE:
        return "grace";
    case RELAY_STATE_AFTER:
        return "after";
    }
    return "?";
}

int relay_state_init(struct relay_state *rs)
{
    memset(rs, 0, sizeof(*rs));
    rs->cap = 64;
    rs->samples = calloc(rs->cap, sizeof(*rs->samples));
    return rs->samples != NULL ? 0 : ENOMEM;
}

void relay_state_free(struct relay_state *rs)
{
    free(rs->samples);
    rs->samples = NULL;
    rs->len = rs->cap = 0;
}

int relay_state_name_index(const struct relay_state *rs, const char *name)
{
    for (unsigned i = 0; i < rs->num_names; i++)
        if (strcmp(rs->names[i], name) == 0)
            return (int)i;
    return -1;
}

/* Halves the samples taken during the run and the grace period (every second one goes), so
 * that a run of any length keeps at most RELAY_STATE_MAX_SAMPLES; the first and last stay. */
static void thin(struct relay_state *rs)
{
    size_t out = 0, k = 0;
    for (size_t i = 0; i < rs->len; i++) {
        const struct relay_state_sample *s = &rs->samples[i];
        bool keep = s->phase == RELAY_STATE_BEFORE || s->phase == RELAY_STATE_AFTER ||
                    i == rs->len - 1 || (k++ % 2) == 0;
        if (keep)
            rs->samples[out++] = *s;
    }
    rs->len = out;
    rs->thinned++;
}

/* Room for one more sample: grows up to the bound, then thins. */
static struct relay_state_sample *next_slot(struct relay_state *rs)
{
    if (rs->len == rs->cap && rs->cap < RELAY_STATE_MAX_SAMPLES) {
        size_t cap = rs->cap * 2 > RELAY_STATE_MAX_SAMPLES ? RELAY_STATE_MAX_SAMPLES : rs->cap * 2;
        struct relay_state_sample *p = realloc(rs->samples, cap * sizeof(*p));
        if (p != NULL) {
            rs->samples = p;
            rs->cap = cap;
        }
    }
    if (rs->len == rs->cap)
        thin(rs);
    if (rs->len == rs->cap) /* cannot happen after thin() with cap >= 4; kept as a bound */
        return NULL;
    struct relay_state_sample *s = &rs->samples[rs->len++];
    memset(s, 0, sizeof(*s));
    return s;
}

/* The line quoted for a warning: at most 80 bytes, non-printable bytes as '?'. */
static void quote_line(const char *line, size_t n, char *out, size_t cap)
{
    size_t m = n > 80 ? 80 : n, o = 0;
    for (size_t i = 0; i < m && o + 1 < cap; i++)
        out[o++] = isprint((unsigned char)line[i]) ? line[i] : '?';
    out[o] = '\0';
    if (n > m && o + 4 < cap)
        strcat(out, "...");
}

static void warn(struct relay_state *rs, void (*on_warning)(void *, const char *), void *arg,
                 const char *line, size_t n, const char *why)
{
    char q[96], text[256];
    quote_line(line, n, q, sizeof(q));
    snprintf(text, sizeof(text), "line '%s': %s", q, why);
    if (rs->warnings++ == 0)
        snprintf(rs->first_warning, sizeof(rs->first_warning), "%s", text);
    if (on_warning != NULL)
        on_warning(arg, text);
}

static bool name_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '.' || c == '-';
}

/* One line into s; "" when it parsed (or was skipped), else why not. */
static const char *parse_line(struct relay_state *rs, struct relay_state_sample *s,
                              const char *line, size_t n)
{
    size_t i = 0;
    while (i < n && (line[i] == ' ' || line[i] == '\t'))
        i++;
    if (i == n || line[i] == '#')
        return "";
    size_t name_at = i;
    while (i < n && name_char(line[i]))
        i++;
    size_t name_len = i - name_at;
    if (name_len == 0 || i == n || (line[i] != ' ' && line[i] != '\t'))
        return "expected 'name value' (a name of letters, digits, '_', '.', '-', then a number)";
    if (name_len >= RELAY_STATE_NAME_MAX)
        return "the name is too long";
    while (i < n && (line[i] == ' ' || line[i] == '\t'))
        i++;
    size_t end = n;
    while (end > i && (line[end - 1] == ' ' || line[end - 1] == '\t' || line[end - 1] == '\r'))
        end--;
    char num[64];
    if (end == i || end - i >= sizeof(num))
        return "the value is missing or too long";
    memcpy(num, line + i, end - i);
    num[end - i] = '\0';
    char *stop;
    errno = 0;
    double v = strtod(num, &stop);
    if (stop == num || *stop != '\0' || errno == ERANGE || !isfinite(v))
        return "the value is not a finite number";
    char name[RELAY_STATE_NAME_MAX];
    memcpy(name, line + name_at, name_len);
    name[name_len] = '\0';
    int k = relay_state_name_index(rs, name);
    if (k < 0) {
        if (rs->num_names == RELAY_STATE_MAX_NAMES)
            return "too many names (at most 32 are kept)";
        k = (int)rs->num_names++;
        snprintf(rs->names[k], sizeof(rs->names[k]), "%s", name);
    }
    if (s->has & (1u << k))
        return "the name was already given in this output (the first value is kept)";
    s->has |= 1u << k;
    s->values[k] = v;
    return "";
}

size_t relay_state_add(struct relay_state *rs, double unix_s, enum relay_state_phase phase,
                       const char *text, size_t len,
                       void (*on_warning)(void *arg, const char *warning), void *arg)
{
    struct relay_state_sample *s = next_slot(rs);
    if (s == NULL)
        return 0;
    s->unix_s = unix_s;
    s->phase = phase;
    size_t at = 0, count = 0;
    while (at < len) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t n = nl != NULL ? (size_t)(nl - (text + at)) : len - at;
        const char *why = parse_line(rs, s, text + at, n);
        if (why[0] != '\0')
            warn(rs, on_warning, arg, text + at, n, why);
        at += n + (nl != NULL);
    }
    for (unsigned i = 0; i < rs->num_names; i++)
        count += (s->has >> i) & 1u;
    return count;
}

void relay_state_failed(struct relay_state *rs, const char *why)
{
    if (rs->failures++ == 0)
        snprintf(rs->first_failure, sizeof(rs->first_failure), "%s", why);
}

/* The first "before" sample and the last "after" one, or NULL. */
static const struct relay_state_sample *find(const struct relay_state *rs,
                                             enum relay_state_phase p)
{
    if (p == RELAY_STATE_BEFORE) {
        for (size_t i = 0; i < rs->len; i++)
            if (rs->samples[i].phase == p)
                return &rs->samples[i];
    } else {
        for (size_t i = rs->len; i-- > 0;)
            if (rs->samples[i].phase == p)
                return &rs->samples[i];
    }
    return NULL;
}

static bool ends_with(const char *s, const char *tail)
{
    size_t a = strlen(s), b = strlen(tail);
    return a >= b && strcmp(s + a - b, tail) == 0;
}

/* "12.3 MB", "-512 KB", "+0.2 MB": signed sizes in decimal units, as the summary prints them */
static void human_bytes(double b, bool sign, char *out, size_t cap)
{
    double m = fabs(b);
    const char *s = b < 0 ? "-" : sign ? "+" : "";
    if (m >= 1e9)
        snprintf(out, cap, "%s%.2f GB", s, m / 1e9);
    else if (m >= 1e6)
        snprintf(out, cap, "%s%.1f MB", s, m / 1e6);
    else if (m >= 1e3)
        snprintf(out, cap, "%s%.1f KB", s, m / 1e3);
    else
        snprintf(out, cap, "%s%.0f B", s, m);
}

static void human_count(uint64_t n, char *out, size_t cap)
{
    if (n >= 10000000)
        snprintf(out, cap, "%.0fM", (double)n / 1e6);
    else if (n >= 10000)
        snprintf(out, cap, "%.0fk", (double)n / 1e3);
    else
        snprintf(out, cap, "%llu", (unsigned long long)n);
}

/* Appends to v->text, bounded. */
static void say(struct relay_state_verdict *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void say(struct relay_state_verdict *v, const char *fmt, ...)
{
    size_t n = strlen(v->text);
    if (n + 1 >= sizeof(v->text))
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->text + n, sizeof(v->text) - n, fmt, ap);
    va_end(ap);
}

/* Whether name's growth is judged: in the list, else when it ends in "_bytes". */
static bool judged(const char *name, const char *list)
{
    if (list == NULL)
        return ends_with(name, "_bytes");
    size_t n = strlen(name);
    for (const char *p = list; *p != '\0';) {
        size_t k = strcspn(p, ",");
        if (k == n && strncmp(p, name, n) == 0)
            return true;
        p += k + (p[k] == ',');
    }
    return false;
}

void relay_state_judge(const struct relay_state *rs, const struct relay_state_run *run,
                       struct relay_state_verdict *v)
{
    memset(v, 0, sizeof(*v));
    const struct relay_state_sample *b = find(rs, RELAY_STATE_BEFORE);
    const struct relay_state_sample *a = find(rs, RELAY_STATE_AFTER);
    char churned[32];
    human_count(run->sessions_started, churned, sizeof(churned));
    if (b == NULL || a == NULL || (b->has == 0 && a->has == 0)) {
        snprintf(v->text, sizeof(v->text),
                 "relay state: no comparison (%s sample missing or empty; %llu samples "
                 "failed%s%s)",
                 b == NULL || b->has == 0 ? "the before-the-run" : "the after-the-run",
                 (unsigned long long)rs->failures,
                 rs->first_failure[0] ? ": " : "", rs->first_failure);
        v->warning = true;
        return;
    }
    v->comparable = true;
    say(v, "relay state: ");
    int si = relay_state_name_index(rs, "sessions");
    if (si >= 0 && (b->has >> si & 1u) && (a->has >> si & 1u)) {
        v->has_sessions = true;
        v->sessions_before = b->values[si];
        v->sessions_after = a->values[si];
        v->sessions_left = a->values[si] - b->values[si] - (double)run->msrpload_open;
        if (v->sessions_left > 0)
            v->warning = true;
        say(v, "%s%.0f sessions left", v->sessions_left > 0 ? "WARNING: " : "",
            v->sessions_left);
        if (run->msrpload_open > 0)
            say(v, " beyond the %llu msrpload holds", (unsigned long long)run->msrpload_open);
        say(v, " (%.0f before, %.0f after)", v->sessions_before, v->sessions_after);
    } else {
        say(v, "no 'sessions' to compare");
    }
    double k = (double)run->sessions_started / 1000.0;
    double allowed = run->max_growth_per_1000 * k;
    if (allowed < run->growth_floor)
        allowed = run->growth_floor;
    for (unsigned i = 0; i < rs->num_names; i++) {
        if (!judged(rs->names[i], run->judge) || !(b->has >> i & 1u) || !(a->has >> i & 1u))
            continue;
        unsigned g = v->num_growth++;
        v->growth[g].name = rs->names[i];
        v->growth[g].before = b->values[i];
        v->growth[g].after = a->values[i];
        v->growth[g].delta = a->values[i] - b->values[i];
        v->growth[g].per_1000 = k > 0 ? v->growth[g].delta / k : 0;
        v->growth[g].over = v->growth[g].delta > allowed;
        char d[32];
        human_bytes(v->growth[g].delta, true, d, sizeof(d));
        /* "shm_used_bytes" reads as "shm" in the line; the JSON keeps the full name */
        char shortname[RELAY_STATE_NAME_MAX];
        snprintf(shortname, sizeof(shortname), "%s", rs->names[i]);
        char *cut = strstr(shortname, "_used_bytes");
        if (cut == NULL)
            cut = strstr(shortname, "_bytes");
        if (cut != NULL && cut != shortname)
            *cut = '\0';
        say(v, ", %s%s %s", v->growth[g].over ? "WARNING: " : "", shortname, d);
        if (v->growth[g].over) {
            char per[32], lim[32];
            human_bytes(v->growth[g].per_1000, false, per, sizeof(per));
            human_bytes(allowed, false, lim, sizeof(lim));
            say(v, " (%s per 1000 sessions, above the %s allowed)", per, lim);
            v->warning = true;
        }
    }
    say(v, " after %s sessions", churned);
    if (run->grace_cut)
        say(v, "; the grace period was cut short by a signal");
    else
        say(v, ", %.0f s after the run", run->waited_s);
    if (rs->failures > 0)
        say(v, "; %llu samples failed", (unsigned long long)rs->failures);
}

/* The command and what it printed are the user's bytes: JSON keeps them only as UTF-8 (a
 * string jansson refuses would drop the key without a word). */
static json_t *utf8_or_note(const char *s)
{
    json_t *v = json_string(s != NULL ? s : "");
    return v != NULL ? v : json_string("(not UTF-8)");
}

char *relay_state_json(const struct relay_state *rs, const struct relay_state_run *run,
                       const struct relay_state_verdict *v, const char *command,
                       double interval_s, const char *grace_spec)
{
    json_t *o = json_object();
    json_t *names = json_array(), *samples = json_array();
    if (o == NULL || names == NULL || samples == NULL) {
        json_decref(o);
        json_decref(names);
        json_decref(samples);
        return NULL;
    }
    json_object_set_new(o, "command", utf8_or_note(command));
    json_object_set_new(o, "interval_s", json_real(interval_s));
    json_object_set_new(o, "grace", json_string(grace_spec));
    json_object_set_new(o, "grace_s", json_real(run->grace_s));
    json_object_set_new(o, "grace_cut", json_boolean(run->grace_cut));
    json_object_set_new(o, "waited_s", json_real(run->waited_s));
    for (unsigned i = 0; i < rs->num_names; i++)
        json_array_append_new(names, json_string(rs->names[i]));
    json_object_set_new(o, "names", names);
    for (size_t i = 0; i < rs->len; i++) {
        const struct relay_state_sample *s = &rs->samples[i];
        json_t *vals = json_object();
        for (unsigned k = 0; k < rs->num_names; k++)
            if (s->has >> k & 1u)
                json_object_set_new(vals, rs->names[k], json_real(s->values[k]));
        json_array_append_new(samples,
                              json_pack("{s:f, s:s, s:o}", "t_s", s->unix_s - run->started_unix,
                                        "phase", relay_state_phase_name(s->phase), "values",
                                        vals));
    }
    json_object_set_new(o, "samples", samples);
    json_object_set_new(o, "thinned", json_integer((json_int_t)rs->thinned));
    json_object_set_new(o, "failures", json_integer((json_int_t)rs->failures));
    json_object_set_new(o, "first_failure", utf8_or_note(rs->first_failure));
    json_object_set_new(o, "warnings", json_integer((json_int_t)rs->warnings));
    json_object_set_new(o, "first_warning", utf8_or_note(rs->first_warning));
    json_t *vj = json_object();
    json_object_set_new(vj, "comparable", json_boolean(v->comparable));
    json_object_set_new(vj, "warning", json_boolean(v->warning));
    json_object_set_new(vj, "sessions_started", json_integer((json_int_t)run->sessions_started));
    json_object_set_new(vj, "msrpload_open", json_integer((json_int_t)run->msrpload_open));
    if (v->has_sessions)
        json_object_set_new(vj, "sessions",
                            json_pack("{s:f, s:f, s:f}", "before", v->sessions_before, "after",
                                      v->sessions_after, "left", v->sessions_left));
    json_t *growth = json_object();
    for (unsigned g = 0; g < v->num_growth; g++)
        json_object_set_new(growth, v->growth[g].name,
                            json_pack("{s:f, s:f, s:f, s:f, s:b}", "before", v->growth[g].before,
                                      "after", v->growth[g].after, "delta", v->growth[g].delta,
                                      "per_1000_sessions", v->growth[g].per_1000, "over",
                                      v->growth[g].over));
    json_object_set_new(vj, "growth", growth);
    json_object_set_new(vj, "max_growth_per_1000", json_real(run->max_growth_per_1000));
    json_object_set_new(vj, "growth_floor", json_real(run->growth_floor));
    json_object_set_new(vj, "judged", json_string(run->judge != NULL ? run->judge : "*_bytes"));
    json_object_set_new(vj, "text", utf8_or_note(v->text));
    json_object_set_new(o, "verdict", vj);
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return text;
}

/* Appends to a growing buffer; false on ENOMEM. */
static bool put(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static bool put(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
    for (int round = 0; round < 2; round++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
        va_end(ap);
        if (n < 0)
            return false;
        if ((size_t)n < *cap - *len) {
            *len += (size_t)n;
            return true;
        }
        size_t ncap = *cap * 2 + (size_t)n + 1;
        char *p = realloc(*buf, ncap);
        if (p == NULL)
            return false;
        *buf = p;
        *cap = ncap;
    }
    return false;
}

char *relay_state_csv(const struct relay_state *rs, double started_unix, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    if (buf == NULL)
        return NULL;
    bool ok = put(&buf, &n, &cap, "t_s,phase");
    for (unsigned i = 0; ok && i < rs->num_names; i++)
        ok = put(&buf, &n, &cap, ",%s", rs->names[i]);
    ok = ok && put(&buf, &n, &cap, "\n");
    for (size_t i = 0; ok && i < rs->len; i++) {
        const struct relay_state_sample *s = &rs->samples[i];
        ok = put(&buf, &n, &cap, "%.3f,%s", s->unix_s - started_unix,
                 relay_state_phase_name(s->phase));
        for (unsigned k = 0; ok && k < rs->num_names; k++)
            ok = (s->has >> k & 1u) ? put(&buf, &n, &cap, ",%.15g", s->values[k])
                                    : put(&buf, &n, &cap, ",");
        ok = ok && put(&buf, &n, &cap, "\n");
    }
    if (!ok) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}
