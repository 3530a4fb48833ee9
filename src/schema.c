#include "schema.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static const char *const type_names[] = {
    [SCHEMA_STRING] = "string",       [SCHEMA_BOOL] = "bool",     [SCHEMA_INT8] = "int8",
    [SCHEMA_INT16] = "int16",         [SCHEMA_INT32] = "int32",   [SCHEMA_INT64] = "int64",
    [SCHEMA_FLOAT] = "float",         [SCHEMA_DOUBLE] = "double", [SCHEMA_DECIMAL] = "decimal",
    [SCHEMA_DATE] = "date",           [SCHEMA_TIMESTAMP] = "timestamp",
    [SCHEMA_TIMESTAMP_NTZ] = "timestamp_ntz",
    [SCHEMA_JSON] = "json",           [SCHEMA_UUID] = "uuid",     [SCHEMA_BINARY] = "binary",
    [SCHEMA_LIST] = "list",
};
enum { TYPE_COUNT = sizeof type_names / sizeof type_names[0] };

/* Names from other systems, and what to write instead. */
static const struct {
    const char *name, *use;
} type_hints[] = {
    { "bigint", "int64" },       { "long", "int64" },         { "integer", "int32" },
    { "int", "int32" },          { "int4", "int32" },         { "int2", "int16" },
    { "smallint", "int16" },     { "short", "int16" },        { "tinyint", "int8" },
    { "byte", "int8" },          { "int64_t", "int64" },      { "text", "string" },
    { "varchar", "string" },     { "char", "string" },        { "str", "string" },
    { "utf8", "string" },        { "boolean", "bool" },       { "real", "float" },
    { "float4", "float" },       { "float32", "float" },      { "float8", "double" },
    { "float64", "double" },     { "numeric", "decimal(P,S)" }, { "number", "decimal(P,S)" },
    { "money", "decimal(P,S)" }, { "timestamptz", "timestamp" }, { "datetime", "timestamp" },
    { "time", "string (times of day are not supported)" },    { "jsonb", "json" },
    { "object", "json" },        { "map", "json" },           { "struct", "json" },
    { "bytea", "binary" },       { "bytes", "binary" },       { "blob", "binary" },
    { "array", "list<T>" },      { "uint8", "int16" },        { "uint16", "int32" },
    { "uint32", "int64" },       { "uint64", "decimal(20,0)" },
};

/* ---------------------------------------------------------------------------
 * Type strings */

enum { TOKENS_MAX = 12, WORD_MAX = 32 };

struct token {
    char kind;             /* 'w' word, 'n' number, or the punctuation character */
    char word[WORD_MAX + 1];
    unsigned long number;
};

/* Splits lower-cased `text` into tokens; false with `e` set if it cannot. */
static bool lex(const char *text, struct token *toks, size_t *count, struct lw_err *e)
{
    size_t n = 0;
    for (const char *p = text; *p != '\0';) {
        unsigned char c = (unsigned char)*p;
        if (c == ' ' || c == '\t') {
            p++;
            continue;
        }
        if (n == TOKENS_MAX) return lw_err_set(e, 1, "'%s' is not a column type", text);
        struct token *t = &toks[n++];
        if (isalpha(c) || c == '_') {
            size_t len = 0;
            while (isalnum((unsigned char)*p) || *p == '_') {
                if (len == WORD_MAX) return lw_err_set(e, 1, "'%s' is not a column type", text);
                t->word[len++] = (char)tolower((unsigned char)*p++);
            }
            t->word[len] = '\0';
            t->kind = 'w';
        } else if (isdigit(c)) {
            unsigned long v = 0;
            while (isdigit((unsigned char)*p)) {
                if (v < 100000) v = v * 10 + (unsigned long)(*p - '0');
                p++;
            }
            t->number = v;
            t->kind = 'n';
        } else if (strchr("(),<>", c) != NULL) {
            t->kind = (char)c;
            p++;
        } else if (c >= 0x20 && c < 0x7f) {
            return lw_err_set(e, 1, "'%s': unexpected '%c'", text, c);
        } else {
            return lw_err_set(e, 1, "'%s': unexpected byte 0x%02X", text, c);
        }
    }
    *count = n;
    return true;
}

static bool unknown_type(const char *text, const char *word, struct lw_err *e)
{
    for (size_t i = 0; i < sizeof type_hints / sizeof type_hints[0]; i++) {
        if (strcmp(word, type_hints[i].name) == 0)
            return lw_err_set(e, 1, "'%s': unknown type '%s'; use %s", text, word, type_hints[i].use);
    }
    const char *guess = util_suggest(word, type_names, TYPE_COUNT);
    if (guess != NULL) return lw_err_set(e, 1, "'%s': unknown type '%s' (did you mean %s?)", text, word, guess);
    return lw_err_set(e, 1, "'%s': unknown type '%s' (types: string, bool, int8, int16, int32, int64, float, "
                      "double, decimal(P,S), date, timestamp, timestamp_ntz, json, uuid, binary, list<T>)",
                      text, word);
}

static const char *tok_text(const struct token *t, char buf[48])
{
    if (t->kind == 'w') snprintf(buf, 48, "'%s'", t->word);
    else if (t->kind == 'n') snprintf(buf, 48, "'%lu'", t->number);
    else snprintf(buf, 48, "'%c'", t->kind);
    return buf;
}

static bool expect(const char *text, const struct token *toks, size_t n, size_t *i, char kind, const char *what,
                   struct lw_err *e)
{
    if (*i < n && toks[*i].kind == kind) {
        (*i)++;
        return true;
    }
    char b[48];
    return lw_err_set(e, 1, "'%s': expected %s%s%s", text, what, *i < n ? ", found " : " at the end",
                      *i < n ? tok_text(&toks[*i], b) : "");
}

/* decimal(P,S) after the word: fills precision and scale. */
static bool decimal_args(const char *text, const struct token *toks, size_t n, size_t *i, struct schema_column *col,
                         struct lw_err *e)
{
    if (*i >= n || toks[*i].kind != '(')
        return lw_err_set(e, 1, "'%s': decimal needs a precision and a scale, as decimal(10,2)", text);
    (*i)++;
    if (!expect(text, toks, n, i, 'n', "the precision (a number)", e)) return false;
    unsigned long p = toks[*i - 1].number;
    if (!expect(text, toks, n, i, ',', "',' and the scale: decimal(P,S)", e)) return false;
    if (!expect(text, toks, n, i, 'n', "the scale (a number)", e)) return false;
    unsigned long s = toks[*i - 1].number;
    if (!expect(text, toks, n, i, ')', "')'", e)) return false;
    if (p < 1 || p > SCHEMA_DECIMAL_PRECISION_MAX)
        return lw_err_set(e, 1, "'%s': precision must be 1..%d", text, SCHEMA_DECIMAL_PRECISION_MAX);
    if (s > p) return lw_err_set(e, 1, "'%s': scale must be 0..precision (%lu)", text, p);
    col->precision = (uint8_t)p;
    col->scale = (uint8_t)s;
    return true;
}

/* One non-list type name (with decimal arguments) at toks[*i]. */
static bool base_type(const char *text, const struct token *toks, size_t n, size_t *i, enum schema_type *type,
                      struct schema_column *col, struct lw_err *e)
{
    if (*i >= n) return lw_err_set(e, 1, "'%s': expected a type name", text);
    if (toks[*i].kind != 'w') {
        char b[48];
        return lw_err_set(e, 1, "'%s': expected a type name, found %s", text, tok_text(&toks[*i], b));
    }
    const char *w = toks[(*i)++].word;
    for (size_t k = 0; k < TYPE_COUNT; k++) {
        if (strcmp(w, type_names[k]) != 0) continue;
        *type = (enum schema_type)k;
        if (*type == SCHEMA_DECIMAL) return decimal_args(text, toks, n, i, col, e);
        if (*i < n && toks[*i].kind == '(')
            return lw_err_set(e, 1, "'%s': %s takes no arguments", text, type_names[k]);
        return true;
    }
    if (strcmp(w, "not") == 0 || strcmp(w, "null") == 0)
        return lw_err_set(e, 1, "'%s': the type name comes first, as 'int64 not null'", text);
    return unknown_type(text, w, e);
}

bool schema_parse_type(const char *text, struct schema_column *col, struct lw_err *e)
{
    assert(text != NULL && col != NULL);
    if (strlen(text) > SCHEMA_TYPE_TEXT_MAX)
        return lw_err_set(e, 1, "type is longer than %d bytes", SCHEMA_TYPE_TEXT_MAX);
    struct token toks[TOKENS_MAX];
    size_t n = 0, i = 0;
    if (!lex(text, toks, &n, e)) return false;
    if (n == 0) return lw_err_set(e, 1, "empty type (types: string, int64, decimal(10,2), timestamp, ...)");
    struct schema_column c = { .type = SCHEMA_STRING, .elem = SCHEMA_STRING };
    if (!base_type(text, toks, n, &i, &c.type, &c, e)) return false;
    if (c.type == SCHEMA_LIST) {
        if (!expect(text, toks, n, &i, '<', "'<' and the element type: list<T>", e)) return false;
        if (!base_type(text, toks, n, &i, &c.elem, &c, e)) return false;
        if (c.elem == SCHEMA_LIST) return lw_err_set(e, 1, "'%s': lists of lists are not supported", text);
        if (!expect(text, toks, n, &i, '>', "'>' to close list<", e)) return false;
    }
    if (i < n && toks[i].kind == 'w' && strcmp(toks[i].word, "not") == 0) {
        i++;
        if (i >= n || toks[i].kind != 'w' || strcmp(toks[i].word, "null") != 0)
            return lw_err_set(e, 1, "'%s': expected 'not null'", text);
        i++;
        c.required = true;
    }
    if (i < n) {
        char b[48];
        if (toks[i].kind == 'w' && strcmp(toks[i].word, "null") == 0)
            return lw_err_set(e, 1, "'%s': columns are nullable by default; drop 'null' (or write 'not null')", text);
        return lw_err_set(e, 1, "'%s': unexpected %s after the type", text, tok_text(&toks[i], b));
    }
    col->type = c.type;
    col->elem = c.elem;
    col->precision = c.precision;
    col->scale = c.scale;
    col->required = c.required;
    return true;
}

char *schema_format_type(const struct schema_column *col, char *buf, size_t cap)
{
    char inner[32];
    enum schema_type t = col->type == SCHEMA_LIST ? col->elem : col->type;
    if (t == SCHEMA_DECIMAL) snprintf(inner, sizeof inner, "decimal(%u,%u)", col->precision, col->scale);
    else snprintf(inner, sizeof inner, "%s", schema_type_name(t));
    if (col->type == SCHEMA_LIST) snprintf(buf, cap, "list<%s>%s", inner, col->required ? " not null" : "");
    else snprintf(buf, cap, "%s%s", inner, col->required ? " not null" : "");
    return buf;
}

const char *schema_type_name(enum schema_type type)
{
    return (size_t)type < TYPE_COUNT ? type_names[type] : "?";
}

/* ---------------------------------------------------------------------------
 * Names */

bool schema_check_table_name(const char *name, struct lw_err *e)
{
    size_t len = strlen(name);
    if (len == 0) return lw_err_set(e, 1, "table name is empty");
    if (len > SCHEMA_NAME_MAX) return lw_err_set(e, 1, "table name is longer than %d bytes", SCHEMA_NAME_MAX);
    if (name[0] == '.' || name[0] == '-')
        return lw_err_set(e, 1, "table name '%s' must start with a letter, a digit or '_'", name);
    for (const char *p = name; *p != '\0'; p++) {
        if (isalnum((unsigned char)*p) || *p == '_' || *p == '-' || *p == '.') continue;
        return lw_err_set(e, 1, "table name '%s': only A-Z a-z 0-9 _ - . are allowed (it becomes part of "
                          "object keys)", name);
    }
    return true;
}

static bool check_column_name(const char *name, struct lw_err *e)
{
    size_t len = strlen(name);
    if (len == 0) return lw_err_set(e, 1, "column name is empty");
    if (len > SCHEMA_NAME_MAX) return lw_err_set(e, 1, "column name is longer than %d bytes", SCHEMA_NAME_MAX);
    if (util_utf8_valid_prefix(name, len) != len) return lw_err_set(e, 1, "column name is not valid UTF-8");
    for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++) {
        if (*p < 0x20 || *p == 0x7f) return lw_err_set(e, 1, "column name contains a control character");
    }
    return true;
}

static bool same_ignoring_case(const char *a, const char *b)
{
    for (; *a != '\0' && *b != '\0'; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b)) return false;
    return *a == *b;
}

/* ---------------------------------------------------------------------------
 * Metadata */

static const struct {
    enum schema_meta bit;
    const char *name;
    enum schema_type type;
} metas[] = {
    { SCHEMA_META_STREAM_ID, "_stream_id", SCHEMA_STRING },
    { SCHEMA_META_STREAM, "_stream", SCHEMA_STRING },
    { SCHEMA_META_INGESTED_AT, "_ingested_at", SCHEMA_TIMESTAMP },
};
enum { META_COUNT = sizeof metas / sizeof metas[0] };

const char *schema_meta_name(enum schema_meta bit)
{
    for (size_t i = 0; i < META_COUNT; i++)
        if (metas[i].bit == bit) return metas[i].name;
    return "?";
}

enum schema_type schema_meta_type(enum schema_meta bit)
{
    for (size_t i = 0; i < META_COUNT; i++)
        if (metas[i].bit == bit) return metas[i].type;
    return SCHEMA_STRING;
}

bool schema_add_metadata(struct schema_table *t, const char *name, struct lw_err *e)
{
    for (size_t i = 0; i < META_COUNT; i++) {
        if (strcmp(name, metas[i].name) != 0) continue;
        int clash = -1;
        for (size_t c = 0; c < t->column_count && clash < 0; c++)
            if (same_ignoring_case(t->columns[c].name, name)) clash = (int)c;
        if (clash >= 0)
            return lw_err_set(e, 1, "metadata column '%s' clashes with the declared column '%s' (line %u)", name,
                              t->columns[clash].name, t->columns[clash].line);
        t->metadata |= (unsigned)metas[i].bit;
        return true;
    }
    const char *names[META_COUNT];
    for (size_t i = 0; i < META_COUNT; i++) names[i] = metas[i].name;
    const char *guess = util_suggest(name, names, META_COUNT);
    if (guess != NULL) return lw_err_set(e, 1, "unknown metadata column '%s' (did you mean %s?)", name, guess);
    return lw_err_set(e, 1, "unknown metadata column '%s' (metadata columns: _stream, _ingested_at; _stream_id "
                      "is always present)", name);
}

/* ---------------------------------------------------------------------------
 * Tables */

struct schema_table *schema_add_table(struct schema *s, const char *name, uint32_t line, struct lw_err *e)
{
    if (!schema_check_table_name(name, e)) return NULL;
    for (size_t i = 0; i < s->table_count; i++) {
        if (strcmp(s->tables[i].name, name) == 0) {
            lw_err_set(e, 1, "table '%s' is defined twice (first on line %u)", name, s->tables[i].line);
            return NULL;
        }
    }
    if (s->table_count == SCHEMA_TABLES_MAX) {
        lw_err_set(e, 1, "more than %d tables", SCHEMA_TABLES_MAX);
        return NULL;
    }
    if (s->tables == NULL) {
        s->tables = calloc(SCHEMA_TABLES_MAX, sizeof *s->tables);
        if (s->tables == NULL) {
            lw_err_set(e, 2, "out of memory");
            return NULL;
        }
    }
    struct schema_table *t = &s->tables[s->table_count++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->partition_column = SCHEMA_PARTITION_ENTRY_TIME;
    t->metadata = SCHEMA_META_STREAM_ID;
    t->epoch_unit = SCHEMA_EPOCH_MS;
    t->line = line;
    return t;
}

bool schema_add_column(struct schema_table *t, const char *name, const char *type_text, uint32_t line,
                       struct lw_err *e)
{
    if (!check_column_name(name, e)) return false;
    for (size_t i = 0; i < META_COUNT; i++) {
        if ((t->metadata & (unsigned)metas[i].bit) && same_ignoring_case(name, metas[i].name))
            return lw_err_set(e, 1, "'%s' is the name of a metadata column%s", metas[i].name,
                              metas[i].bit == SCHEMA_META_STREAM_ID ? " (always present)" : "");
    }
    for (size_t i = 0; i < t->column_count; i++) {
        if (strcmp(t->columns[i].name, name) == 0)
            return lw_err_set(e, 1, "column '%s' is declared twice (first on line %u)", name, t->columns[i].line);
        if (same_ignoring_case(t->columns[i].name, name))
            return lw_err_set(e, 1, "column '%s' differs from '%s' (line %u) only in case, which readers such as "
                              "DuckDB and Spark do not tell apart", name, t->columns[i].name, t->columns[i].line);
    }
    if (t->column_count == SCHEMA_COLUMNS_MAX)
        return lw_err_set(e, 1, "more than %d columns in table '%s'", SCHEMA_COLUMNS_MAX, t->name);
    struct schema_column col = { .line = line };
    if (!schema_parse_type(type_text, &col, e)) return false;
    /* Capacity is implicit: 8, then doubling at each power of two. */
    size_t n = t->column_count;
    if (n == 0 || (n >= 8 && (n & (n - 1)) == 0)) {
        size_t cap = t->column_count == 0 ? 8 : t->column_count * 2;
        if (cap > SCHEMA_COLUMNS_MAX) cap = SCHEMA_COLUMNS_MAX;
        if (cap > t->column_count) {
            struct schema_column *grown = realloc(t->columns, cap * sizeof *grown);
            if (grown == NULL) return lw_err_set(e, 2, "out of memory");
            t->columns = grown;
        }
    }
    snprintf(col.name, sizeof col.name, "%s", name);
    t->columns[t->column_count++] = col;
    return true;
}

bool schema_set_partition(struct schema_table *t, const char *column, struct lw_err *e)
{
    int i = schema_column_index(t, column);
    if (i < 0) {
        const char *names[SCHEMA_COLUMNS_MAX];
        for (size_t k = 0; k < t->column_count; k++) names[k] = t->columns[k].name;
        const char *guess = util_suggest(column, names, t->column_count);
        if (guess != NULL)
            return lw_err_set(e, 1, "'%s' is not a column of table '%s' (did you mean %s?)", column, t->name, guess);
        return lw_err_set(e, 1, "'%s' is not a column of table '%s'", column, t->name);
    }
    enum schema_type ty = t->columns[i].type;
    if (ty != SCHEMA_TIMESTAMP && ty != SCHEMA_TIMESTAMP_NTZ && ty != SCHEMA_DATE) {
        char b[64];
        return lw_err_set(e, 1, "column '%s' is %s; the partition column must be a timestamp, timestamp_ntz or date",
                          column, schema_format_type(&t->columns[i], b, sizeof b));
    }
    t->partition_column = i;
    return true;
}

static const char *const epoch_names[] = { [SCHEMA_EPOCH_S] = "s", [SCHEMA_EPOCH_MS] = "ms",
                                           [SCHEMA_EPOCH_US] = "us", [SCHEMA_EPOCH_NS] = "ns" };

bool schema_parse_epoch_unit(const char *text, enum schema_epoch_unit *out)
{
    for (size_t i = 0; i < 4; i++) {
        if (strcmp(text, epoch_names[i]) == 0) {
            *out = (enum schema_epoch_unit)i;
            return true;
        }
    }
    return false;
}

const char *schema_epoch_unit_name(enum schema_epoch_unit unit)
{
    return (size_t)unit < 4 ? epoch_names[unit] : "?";
}

const struct schema_table *schema_find_table(const struct schema *s, const char *name)
{
    for (size_t i = 0; i < s->table_count; i++)
        if (strcmp(s->tables[i].name, name) == 0) return &s->tables[i];
    return NULL;
}

int schema_column_index(const struct schema_table *t, const char *name)
{
    for (size_t i = 0; i < t->column_count; i++)
        if (strcmp(t->columns[i].name, name) == 0) return (int)i;
    return -1;
}

void schema_free(struct schema *s)
{
    for (size_t i = 0; i < s->table_count; i++) free(s->tables[i].columns);
    free(s->tables);
    s->tables = NULL;
    s->table_count = 0;
}
