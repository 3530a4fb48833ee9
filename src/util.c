#include "util.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

struct unit {
    const char *name;
    uint64_t factor;
};

static const struct unit size_units[] = {
    { "B", 1 },
    { "KiB", 1ull << 10 }, { "MiB", 1ull << 20 }, { "GiB", 1ull << 30 }, { "TiB", 1ull << 40 },
    { "Ki", 1ull << 10 },  { "Mi", 1ull << 20 },  { "Gi", 1ull << 30 },  { "Ti", 1ull << 40 },
    { "kB", 1000ull },     { "KB", 1000ull },     { "MB", 1000000ull },
    { "GB", 1000000000ull }, { "TB", 1000000000000ull },
};

/* Units people write that could mean either 2^10 or 10^3: refused with a hint. */
static const char *const ambiguous_units[] = { "k", "K", "m", "M", "g", "G", "t", "T",
                                               "kb", "mb", "gb", "tb", "Kb", "Mb", "Gb", "Tb",
                                               "kib", "mib", "gib", "tib", "b" };

/* Reads decimal digits at *p into *out; false on overflow. Advances *p. */
static bool read_digits(const char **p, uint64_t *out, size_t *count)
{
    uint64_t v = 0;
    size_t n = 0;
    const char *s = *p;
    while (*s >= '0' && *s <= '9') {
        uint64_t d = (uint64_t)(*s - '0');
        if (v > (UINT64_MAX - d) / 10) return false;
        v = v * 10 + d;
        s++;
        n++;
    }
    *p = s;
    *out = v;
    *count = n;
    return true;
}

static bool too_long(const char *text, struct lw_err *e)
{
    if (strlen(text) <= UTIL_PARSE_INPUT_MAX) return false;
    lw_err_set(e, 1, "value is too long (more than %d characters)", UTIL_PARSE_INPUT_MAX);
    return true;
}

bool util_parse_size(const char *text, uint64_t *bytes, struct lw_err *e)
{
    assert(text != NULL && bytes != NULL);
    if (too_long(text, e)) return false;
    const char *p = text;
    uint64_t n = 0;
    size_t digits = 0;
    if (!read_digits(&p, &n, &digits)) return lw_err_set(e, 1, "'%s': number is too large", text);
    if (digits == 0) return lw_err_set(e, 1, "'%s': expected a size such as 64MiB, 512KiB or 1048576", text);
    if (*p == '.' || *p == ',')
        return lw_err_set(e, 1, "'%s': fractions are not supported; use a smaller unit (1536MiB, not 1.5GiB)", text);
    bool space = *p == ' ';
    if (space) p++;
    if (*p == '\0') {
        if (space) return lw_err_set(e, 1, "'%s': missing unit after the space", text);
        *bytes = n;
        return true;
    }
    for (size_t i = 0; i < sizeof size_units / sizeof size_units[0]; i++) {
        if (strcmp(p, size_units[i].name) != 0) continue;
        if (n > UINT64_MAX / size_units[i].factor) return lw_err_set(e, 1, "'%s': size is too large", text);
        *bytes = n * size_units[i].factor;
        return true;
    }
    for (size_t i = 0; i < sizeof ambiguous_units / sizeof ambiguous_units[0]; i++) {
        if (strcmp(p, ambiguous_units[i]) == 0)
            return lw_err_set(e, 1, "'%s': ambiguous unit '%s'; write %lluMiB (2^20 bytes) or %lluMB (10^6 bytes), "
                              "and likewise for KiB/kB, GiB/GB, TiB/TB", text, p, (unsigned long long)n,
                              (unsigned long long)n);
    }
    return lw_err_set(e, 1, "'%s': unknown unit '%s' (units: B, KiB, MiB, GiB, TiB, kB, MB, GB, TB)", text, p);
}

enum { DUR_MS, DUR_S, DUR_M, DUR_H, DUR_D };

static const struct unit duration_units[] = {
    /* Longest names first so that "ms" is not read as "m". */
    [DUR_MS] = { "ms", 1 },
    [DUR_S] = { "s", 1000 },
    [DUR_M] = { "m", 60 * 1000 },
    [DUR_H] = { "h", 60 * 60 * 1000 },
    [DUR_D] = { "d", 24 * 60 * 60 * 1000 },
};

/* The unit at p (index into duration_units), or -1; sets *len to its length. */
static int duration_unit(const char *p, size_t *len)
{
    if (p[0] == 'm' && p[1] == 's') {
        *len = 2;
        return DUR_MS;
    }
    for (int i = DUR_S; i <= DUR_D; i++) {
        if (p[0] == duration_units[i].name[0]) {
            *len = 1;
            return i;
        }
    }
    return -1;
}

bool util_parse_duration(const char *text, uint64_t *ms, struct lw_err *e)
{
    assert(text != NULL && ms != NULL);
    if (too_long(text, e)) return false;
    if (strcmp(text, "0") == 0) {
        *ms = 0;
        return true;
    }
    if (text[0] == '\0') return lw_err_set(e, 1, "empty duration; write e.g. 30s, 250ms, 5m or 1h30m");
    const char *p = text;
    uint64_t total = 0;
    int last = DUR_D + 1;
    while (*p != '\0') {
        uint64_t n = 0;
        size_t digits = 0;
        if (!read_digits(&p, &n, &digits)) return lw_err_set(e, 1, "'%s': number is too large", text);
        if (digits == 0) return lw_err_set(e, 1, "'%s': expected a duration such as 30s, 250ms, 5m or 1h30m", text);
        if (*p == '.' || *p == ',')
            return lw_err_set(e, 1, "'%s': fractions are not supported; use a smaller unit (1500ms, not 1.5s)", text);
        if (*p == '\0')
            return lw_err_set(e, 1, "'%s': add a unit, e.g. %llus or %llums", text, (unsigned long long)n,
                              (unsigned long long)n);
        if ((p[0] == 'u' || p[0] == 'n') && p[1] == 's')
            return lw_err_set(e, 1, "'%s': durations are whole milliseconds; '%.2s' is not supported", text, p);
        size_t len = 0;
        int u = duration_unit(p, &len);
        if (u < 0) return lw_err_set(e, 1, "'%s': unknown unit at '%s' (units: ms, s, m, h, d)", text, p);
        if (u >= last) return lw_err_set(e, 1, "'%s': write units from largest to smallest, each once (1h30m)", text);
        last = u;
        uint64_t f = duration_units[u].factor;
        if (n > UINT64_MAX / f || total > UINT64_MAX - n * f) return lw_err_set(e, 1, "'%s': duration is too large", text);
        total += n * f;
        p += len;
    }
    *ms = total;
    return true;
}

bool util_parse_u64(const char *text, uint64_t *out, struct lw_err *e)
{
    assert(text != NULL && out != NULL);
    if (too_long(text, e)) return false;
    const char *p = text;
    uint64_t n = 0;
    size_t digits = 0;
    if (!read_digits(&p, &n, &digits)) return lw_err_set(e, 1, "'%s': number is too large", text);
    if (digits == 0 || *p != '\0') return lw_err_set(e, 1, "'%s' is not a non-negative integer", text);
    *out = n;
    return true;
}

char *util_format_size(uint64_t bytes, char *buf, size_t cap)
{
    static const char *const names[] = { "TiB", "GiB", "MiB", "KiB" };
    static const unsigned shifts[] = { 40, 30, 20, 10 };
    for (size_t i = 0; i < 4; i++) {
        uint64_t f = 1ull << shifts[i];
        if (bytes != 0 && bytes % f == 0) {
            snprintf(buf, cap, "%llu%s", (unsigned long long)(bytes / f), names[i]);
            return buf;
        }
    }
    snprintf(buf, cap, "%lluB", (unsigned long long)bytes);
    return buf;
}

char *util_format_duration(uint64_t ms, char *buf, size_t cap)
{
    assert(cap > 0);
    if (ms == 0) {
        snprintf(buf, cap, "0s");
        return buf;
    }
    static const int order[] = { DUR_H, DUR_M, DUR_S, DUR_MS };
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < 4; i++) {
        uint64_t f = duration_units[order[i]].factor;
        uint64_t n = ms / f;
        ms %= f;
        if (n == 0 || used >= cap) continue;
        int w = snprintf(buf + used, cap - used, "%llu%s", (unsigned long long)n, duration_units[order[i]].name);
        if (w > 0) used += (size_t)w;
    }
    return buf;
}

size_t util_utf8_valid_prefix(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned char c = u[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint32_t cp, min;
        if (c >= 0xC2 && c <= 0xDF) { need = 1; cp = c & 0x1Fu; min = 0x80; }
        else if (c >= 0xE0 && c <= 0xEF) { need = 2; cp = c & 0x0Fu; min = 0x800; }
        else if (c >= 0xF0 && c <= 0xF4) { need = 3; cp = c & 0x07u; min = 0x10000; }
        else return i;
        if (len - i <= need) return i;
        for (size_t k = 1; k <= need; k++) {
            if ((u[i + k] & 0xC0) != 0x80) return i;
            cp = (cp << 6) | (u[i + k] & 0x3Fu);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
        i += need + 1;
    }
    return len;
}

size_t util_utf8_encode(uint32_t cp, char out[4])
{
    if (cp >= 0xD800 && cp <= 0xDFFF) return 0;
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    if (cp <= 0x10FFFF) {
        out[0] = (char)(0xF0 | (cp >> 18));
        out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[3] = (char)(0x80 | (cp & 0x3F));
        return 4;
    }
    return 0;
}

static size_t min3(size_t a, size_t b, size_t c)
{
    size_t m = a < b ? a : b;
    return m < c ? m : c;
}

/* Optimal string alignment distance over three rows of a fixed size. */
size_t util_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > UTIL_SUGGEST_LEN_MAX || lb > UTIL_SUGGEST_LEN_MAX) return SIZE_MAX;
    size_t rows[3][UTIL_SUGGEST_LEN_MAX + 1];
    size_t *prev2 = rows[0], *prev = rows[1], *cur = rows[2];
    for (size_t j = 0; j <= lb; j++) prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            cur[j] = min3(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && prev2[j - 2] + 1 < cur[j])
                cur[j] = prev2[j - 2] + 1;
        }
        size_t *t = prev2;
        prev2 = prev;
        prev = cur;
        cur = t;
    }
    return prev[lb];
}

const char *util_suggest(const char *word, const char *const *candidates, size_t count)
{
    size_t len = strlen(word);
    size_t limit = len / 3 > 1 ? len / 3 : 1;
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (size_t i = 0; i < count; i++) {
        if (candidates[i] == NULL) continue;
        size_t d = util_edit_distance(word, candidates[i]);
        if (d < best_d) {
            best_d = d;
            best = candidates[i];
        }
    }
    return best_d <= limit && best_d > 0 ? best : NULL;
}
