/*
 * template.c - raw templates, both ways: compiled once when a scenario is loaded (escapes and
 * {{ }} resolved, placeholders found and checked, the longest expansion bounded) and expanded
 * for each send with the values its caller hands in.
 *
 * Owns: the placeholder names, struct raw_piece's meaning, the expansion. May not touch: where
 * the values come from (the load runner and the conformance executor compute them), any I/O.
 */
#include "scenario/internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BRACES_HINT "write {{ and }} for literal braces"
#define PLACEHOLDERS "{tid}, {to_path}, {from_path}, {message_id}, {local_uri}"
#define CONFORM_PLACEHOLDERS                                                                       \
    "{relay_uri}, {use_path}, {peer_use_path}, {peer_uri}, {authorization}, "                     \
    "{bad_authorization}, {basic_authorization}, {user}, {unknown_session}, "                  \
    "{to_path_recased}, {refused_type}"
/* What a conformance placeholder is taken to fill at load time (a Use-Path can be long). */
#define CONFORM_VALUE_MAX 2048

/* The placeholders a template may hold, and what each becomes. */
static const struct {
    const char *name;
    enum raw_part part;
    enum conform_value value; /* RAW_PART_CONFORM only */
} raw_names[] = {
    {"tid", RAW_PART_TID, 0},
    {"to_path", RAW_PART_TO_PATH, 0},
    {"from_path", RAW_PART_FROM_PATH, 0},
    {"message_id", RAW_PART_MESSAGE_ID, 0},
    {"local_uri", RAW_PART_FROM_PATH, 0},
    /* conformance case files only */
    {"relay_uri", RAW_PART_CONFORM, CONFORM_V_RELAY_URI},
    {"use_path", RAW_PART_CONFORM, CONFORM_V_USE_PATH},
    {"peer_use_path", RAW_PART_CONFORM, CONFORM_V_PEER_USE_PATH},
    {"peer_uri", RAW_PART_CONFORM, CONFORM_V_PEER_URI},
    {"authorization", RAW_PART_CONFORM, CONFORM_V_AUTHORIZATION},
    {"bad_authorization", RAW_PART_CONFORM, CONFORM_V_BAD_AUTHORIZATION},
    {"user", RAW_PART_CONFORM, CONFORM_V_USER},
    {"unknown_session", RAW_PART_CONFORM, CONFORM_V_UNKNOWN_SESSION},
    {"to_path_recased", RAW_PART_CONFORM, CONFORM_V_TO_PATH_RECASED},
    {"refused_type", RAW_PART_CONFORM, CONFORM_V_REFUSED_TYPE},
    {"basic_authorization", RAW_PART_CONFORM, CONFORM_V_BASIC_AUTHORIZATION},
};

#define RAW_NAMES (sizeof raw_names / sizeof raw_names[0])

/* The --data column named name[0..len): its index, -1 for none, -2 for the password column,
 * which no template may hold. */
static int data_column(const struct scn__ctx *c, const char *name, size_t len)
{
    const struct scenario_data *d = c->data;
    for (unsigned i = 0; d != NULL && i < d->num_cols; i++)
        if (strlen(d->names[i]) == len && memcmp(d->names[i], name, len) == 0)
            return (int)i == d->col_password ? -2 : (int)i;
    return -1;
}

/* The index in raw_names of the placeholder name[0..len), or RAW_NAMES. */
static size_t raw_lookup(const char *name, size_t len)
{
    size_t k = 0;
    while (k < RAW_NAMES &&
           !(strlen(raw_names[k].name) == len && memcmp(raw_names[k].name, name, len) == 0))
        k++;
    return k;
}

static bool raw_push(struct scn__raw_build *b, enum raw_part part, uint32_t off, uint32_t len)
{
    /* Literal bytes that follow literal bytes join their piece ({{ and }} split nothing). */
    if (part == RAW_PART_TEXT && b->num > 0 && b->pieces[b->num - 1].part == RAW_PART_TEXT) {
        b->pieces[b->num - 1].len += len;
        return true;
    }
    if (b->num == b->cap) {
        unsigned ncap = b->cap == 0 ? 8 : b->cap * 2;
        struct raw_piece *np = realloc(b->pieces, ncap * sizeof(*np));
        if (np == NULL)
            return false;
        b->pieces = np;
        b->cap = ncap;
    }
    b->pieces[b->num++] = (struct raw_piece){part, off, len};
    return true;
}

/*
 * A JSON string is Unicode, the wire is bytes: each character U+0000..U+00FF stands for the
 * byte of that value (so "\u00ff" is the byte 0xff, as in Latin-1), and any other is refused
 * rather than guessed at. jansson hands the string over as valid UTF-8 of len bytes; the bytes
 * go to out, which has room for len.
 */
static int raw_decode(struct scn__ctx *c, const char *in, size_t len, char *out, size_t *outlen)
{
    size_t n = 0, chars = 0;
    for (size_t i = 0; i < len;) {
        unsigned char b = (unsigned char)in[i];
        size_t k = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
        uint32_t cp = k == 1 ? b : k == 2 ? b & 0x1Fu : k == 3 ? b & 0x0Fu : b & 0x07u;
        for (size_t j = 1; j < k && i + j < len; j++)
            cp = cp << 6 | ((unsigned char)in[i + j] & 0x3Fu);
        chars++;
        if (cp > 0xFF)
            return scn__fail(c,
                        "expected characters U+0000..U+00FF only (one byte each), got U+%04" PRIX32
                        " at character %zu",
                        cp, chars);
        out[n++] = (char)cp;
        i += k;
    }
    *outlen = n;
    return 0;
}

/*
 * Splits the template's bytes into literal text and placeholders, in the manner of Python's
 * str.format: {name} is a placeholder, {{ and }} a brace, and any other brace a mistake (most
 * likely a brace in a body that should have been doubled). The literal text is written over
 * the bytes already read, so b->buf ends up holding just the text.
 */
static int raw_split(struct scn__ctx *c, struct scn__raw_build *b, size_t n)
{
    char *p = b->buf;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        char ch = p[i];
        if ((ch == '{' || ch == '}') && i + 1 < n && p[i + 1] == ch) {
            p[o] = ch;
            if (!raw_push(b, RAW_PART_TEXT, (uint32_t)o, 1))
                return scn__fail(c, "out of memory");
            o++;
            i += 2;
            continue;
        }
        if (ch == '}')
            return scn__fail(c, "\"}\" at character %zu closes no placeholder; " BRACES_HINT, i + 1);
        if (ch != '{') {
            size_t j = i;
            while (j < n && p[j] != '{' && p[j] != '}')
                j++;
            memmove(p + o, p + i, j - i);
            if (!raw_push(b, RAW_PART_TEXT, (uint32_t)o, (uint32_t)(j - i)))
                return scn__fail(c, "out of memory");
            o += j - i;
            i = j;
            continue;
        }
        const char *close = memchr(p + i + 1, '}', n - i - 1);
        if (close == NULL)
            return scn__fail(c, "\"{\" at character %zu opens no placeholder; " BRACES_HINT, i + 1);
        size_t nlen = (size_t)(close - (p + i + 1));
        size_t k = raw_lookup(p + i + 1, nlen);
        /* run --data's columns: a load scenario's {user} is the data's, not conform's */
        int col = data_column(c, p + i + 1, nlen);
        if (col == -2)
            return scn__fail(c, "placeholder {password}: the data file's passwords go only "
                                "into relay AUTH, never into bytes msrpload sends or logs");
        if (col >= 0 && (k == RAW_NAMES || (raw_names[k].part == RAW_PART_CONFORM && !c->is_case))) {
            if (!raw_push(b, RAW_PART_DATA, 0, (uint32_t)col))
                return scn__fail(c, "out of memory");
            b->data_bytes += c->data->col_max[col];
            i += nlen + 2;
            continue;
        }
        if (k == RAW_NAMES) {
            char shown[SHOW_STRING_MAX * 6 + 8];
            if (nlen + 2 > SHOW_STRING_MAX)
                snprintf(shown, sizeof shown, "of %zu bytes", nlen + 2);
            else
                scn__quote_string(p + i, nlen + 2, shown, sizeof shown);
            if (c->is_case)
                return scn__fail(c,
                            "unknown placeholder %s; known placeholders: " PLACEHOLDERS
                            ", " CONFORM_PLACEHOLDERS "; " BRACES_HINT,
                            shown);
            return scn__fail(
                c, "unknown placeholder %s; known placeholders: " PLACEHOLDERS "; " BRACES_HINT,
                shown);
        }
        enum raw_part part = raw_names[k].part;
        if (part == RAW_PART_CONFORM && !c->is_case)
            return scn__fail(c,
                        "placeholder {%s} is only allowed in conformance case files (with a "
                        "top-level \"case\"); known placeholders: " PLACEHOLDERS,
                        raw_names[k].name);
        if (!raw_push(b, part, 0, part == RAW_PART_CONFORM ? (uint32_t)raw_names[k].value : 0))
            return scn__fail(c, "out of memory");
        b->conform += part == RAW_PART_CONFORM;
        b->tids += part == RAW_PART_TID;
        b->message_ids += part == RAW_PART_MESSAGE_ID;
        b->paths += part == RAW_PART_TO_PATH || part == RAW_PART_FROM_PATH;
        i += nlen + 2;
    }
    b->text_len = o;
    return 0;
}

/* raw.template: compiled into b, or -1 with b holding whatever must be freed. */
int scn__compile_template(struct scn__ctx *c, const json_t *v, struct scn__raw_build *b, size_t *max_len)
{
    if (!json_is_string(v))
        return scn__expected(c, "a non-empty string", v, false);
    size_t len = json_string_length(v);
    if (len == 0)
        return scn__expected(c, "a non-empty string", v, true);
    /* Bytes can only shrink from the UTF-8 text (one per character), so len bytes hold them.
     * A template beyond the cap is refused below, by its expanded length. */
    b->buf = malloc(len);
    if (b->buf == NULL)
        return scn__fail(c, "out of memory");
    size_t n = 0;
    if (raw_decode(c, json_string_value(v), len, b->buf, &n) != 0 || raw_split(c, b, n) != 0)
        return -1;
    size_t max = b->text_len + b->tids * SCENARIO_RAW_TID_LEN +
                 b->message_ids * SCENARIO_RAW_MESSAGE_ID_LEN + b->paths * SCENARIO_RAW_PATH_MAX +
                 b->conform * CONFORM_VALUE_MAX + b->data_bytes;
    if (max > SCENARIO_RAW_MAX) {
        if (b->paths == 0)
            return scn__fail(c, "expected at most %d bytes once expanded, got %zu", SCENARIO_RAW_MAX,
                        max);
        return scn__fail(c,
                    "expected at most %d bytes once expanded, got up to %zu ({to_path}, "
                    "{from_path} and {local_uri} counted as %d bytes each)",
                    SCENARIO_RAW_MAX, max, SCENARIO_RAW_PATH_MAX);
    }
    *max_len = max;
    return 0;
}

void scn__template_free(struct raw_template *t)
{
    free(t->pieces);
    free(t->text);
    memset(t, 0, sizeof(*t));
}

/* ---- expansion ---------------------------------------------------------------------------- */

static struct msrp_span piece_value(const struct raw_piece *p, const char *text,
                                    const struct scenario_vars *vars)
{
    switch (p->part) {
    case RAW_PART_TEXT:
        return msrp_span_make(text + p->off, p->len);
    case RAW_PART_TID:
        return vars->tid;
    case RAW_PART_MESSAGE_ID:
        return vars->message_id;
    case RAW_PART_TO_PATH:
        return vars->to_path;
    case RAW_PART_FROM_PATH:
        return vars->from_path;
    case RAW_PART_CONFORM:
        if (p->len < CONFORM_V_COUNT)
            return vars->conform[p->len];
        break;
    case RAW_PART_DATA:
        if (vars->data != NULL)
            return vars->data[p->len];
        break;
    }
    return msrp_span_make(NULL, 0);
}

size_t scenario_template_expand(const struct raw_piece *pieces, unsigned num_pieces,
                                const char *text, const struct scenario_vars *vars, char *out,
                                size_t cap)
{
    size_t o = 0;
    for (unsigned i = 0; i < num_pieces; i++) {
        struct msrp_span v = piece_value(&pieces[i], text, vars);
        if (v.ptr == NULL)
            continue; /* not given: nothing */
        if (v.len > cap - o)
            return SIZE_MAX;
        memcpy(out + o, v.ptr, v.len);
        o += v.len;
    }
    return o;
}

bool scenario_template_uses(const struct raw_piece *pieces, unsigned num_pieces,
                            enum raw_part part, enum conform_value value)
{
    for (unsigned i = 0; i < num_pieces; i++)
        if (pieces[i].part == part && (part != RAW_PART_CONFORM || pieces[i].len == value))
            return true;
    return false;
}
