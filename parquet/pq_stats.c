#include "pq_stats.h"

#include <assert.h>
#include <math.h>
#include <string.h>

#include "pq_thrift.h"

enum pq_order pq_field_order(const struct pq_field *f)
{
    switch (pq_field_phys(f)) {
    case PQ_PHYS_BOOLEAN: return PQ_ORDER_BOOL;
    case PQ_PHYS_INT32: return PQ_ORDER_I32;
    case PQ_PHYS_INT64: return PQ_ORDER_I64;
    case PQ_PHYS_FLOAT: return PQ_ORDER_FLOAT;
    case PQ_PHYS_DOUBLE: return PQ_ORDER_DOUBLE;
    case PQ_PHYS_FLBA: return f->type == PQ_DECIMAL ? PQ_ORDER_DECIMAL : PQ_ORDER_BYTES;
    case PQ_PHYS_BYTE_ARRAY: return PQ_ORDER_BYTES;
    }
    return PQ_ORDER_BYTES;
}

static float load_float(const uint8_t *p)
{
    uint32_t bits = pq_load_u32le(p);
    float v;
    memcpy(&v, &bits, 4);
    return v;
}

static double load_double(const uint8_t *p)
{
    uint64_t bits = pq_load_u64le(p);
    double v;
    memcpy(&v, &bits, 8);
    return v;
}

static void store_float(uint8_t *p, float v)
{
    uint32_t bits;
    memcpy(&bits, &v, 4);
    pq_store_u32le(p, bits);
}

static void store_double(uint8_t *p, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, 8);
    pq_store_u64le(p, bits);
}

PQ_HOT static int cmp_bytes(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n > 0 ? memcmp(a, b, n) : 0;
    if (c != 0) return c;
    return (alen > blen) - (alen < blen);
}

static int cmp_decimal(const uint8_t *a, const uint8_t *b, size_t n)
{
    assert(n > 0);
    int sa = a[0] ^ 0x80, sb = b[0] ^ 0x80;
    if (sa != sb) return sa < sb ? -1 : 1;
    return n > 1 ? memcmp(a + 1, b + 1, n - 1) : 0;
}

int pq_order_cmp(enum pq_order o, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    switch (o) {
    case PQ_ORDER_BOOL: return (a[0] > b[0]) - (a[0] < b[0]);
    case PQ_ORDER_I32: {
        int32_t x = (int32_t)pq_load_u32le(a), y = (int32_t)pq_load_u32le(b);
        return (x > y) - (x < y);
    }
    case PQ_ORDER_I64: {
        int64_t x = (int64_t)pq_load_u64le(a), y = (int64_t)pq_load_u64le(b);
        return (x > y) - (x < y);
    }
    case PQ_ORDER_FLOAT: {
        float x = load_float(a), y = load_float(b);
        return (x > y) - (x < y);
    }
    case PQ_ORDER_DOUBLE: {
        double x = load_double(a), y = load_double(b);
        return (x > y) - (x < y);
    }
    case PQ_ORDER_BYTES: return cmp_bytes(a, alen, b, blen);
    case PQ_ORDER_DECIMAL: assert(alen == blen); return cmp_decimal(a, b, alen);
    }
    return 0;
}

void pq_stats_reset(struct pq_stats *s)
{
    memset(s, 0, sizeof *s);
}

const uint8_t *pq_stats_min(const struct pq_stats *s)
{
    assert(s->has_minmax);
    return s->min_ref != NULL ? s->min_ref : s->min_fixed;
}

const uint8_t *pq_stats_max(const struct pq_stats *s)
{
    assert(s->has_minmax);
    return s->max_ref != NULL ? s->max_ref : s->max_fixed;
}

/* Range statistics, one function per order; each fills a fresh `r`. */

PQ_HOT static void range_bool(struct pq_stats *r, const uint8_t *v, size_t n)
{
    unsigned all = 1, any = 0;
    for (size_t i = 0; i < n; i++) {
        all &= v[i];
        any |= v[i];
    }
    r->min_fixed[0] = (uint8_t)all;
    r->max_fixed[0] = (uint8_t)any;
    r->min_len = r->max_len = 1;
    r->has_minmax = true;
}

PQ_HOT static void range_i32(struct pq_stats *r, const uint8_t *v, size_t n)
{
    int32_t mn = INT32_MAX, mx = INT32_MIN;
    for (size_t i = 0; i < n; i++) {
        int32_t x = (int32_t)pq_load_u32le(v + 4 * i);
        mn = x < mn ? x : mn;
        mx = x > mx ? x : mx;
    }
    pq_store_u32le(r->min_fixed, (uint32_t)mn);
    pq_store_u32le(r->max_fixed, (uint32_t)mx);
    r->min_len = r->max_len = 4;
    r->has_minmax = true;
}

PQ_HOT static void range_i64(struct pq_stats *r, const uint8_t *v, size_t n)
{
    int64_t mn = INT64_MAX, mx = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        int64_t x = (int64_t)pq_load_u64le(v + 8 * i);
        mn = x < mn ? x : mn;
        mx = x > mx ? x : mx;
    }
    pq_store_u64le(r->min_fixed, (uint64_t)mn);
    pq_store_u64le(r->max_fixed, (uint64_t)mx);
    r->min_len = r->max_len = 8;
    r->has_minmax = true;
}

/* NaN fails every comparison, so it never replaces a bound; it is counted. */
PQ_HOT static void range_float(struct pq_stats *r, const uint8_t *v, size_t n)
{
    float mn = INFINITY, mx = -INFINITY;
    uint64_t nans = 0;
    for (size_t i = 0; i < n; i++) {
        float x = load_float(v + 4 * i);
        nans += x != x;
        mn = x < mn ? x : mn;
        mx = x > mx ? x : mx;
    }
    r->nans = nans;
    if (nans == n) return;
    store_float(r->min_fixed, mn);
    store_float(r->max_fixed, mx);
    r->min_len = r->max_len = 4;
    r->has_minmax = true;
}

PQ_HOT static void range_double(struct pq_stats *r, const uint8_t *v, size_t n)
{
    double mn = INFINITY, mx = -INFINITY;
    uint64_t nans = 0;
    for (size_t i = 0; i < n; i++) {
        double x = load_double(v + 8 * i);
        nans += x != x;
        mn = x < mn ? x : mn;
        mx = x > mx ? x : mx;
    }
    r->nans = nans;
    if (nans == n) return;
    store_double(r->min_fixed, mn);
    store_double(r->max_fixed, mx);
    r->min_len = r->max_len = 8;
    r->has_minmax = true;
}

/* A big-endian two's complement of w <= 16 bytes as an integer. */
static inline __int128 load_be_signed(const uint8_t *p, size_t w)
{
    unsigned __int128 u = (p[0] & 0x80) ? ~(unsigned __int128)0 : 0;
    for (size_t k = 0; k < w; k++) u = u << 8 | p[k];
    return (__int128)u;
}

static inline int64_t load_be_i64(const uint8_t *p, size_t w)
{
    uint64_t u = (p[0] & 0x80) ? ~(uint64_t)0 : 0;
    if (w == 8) return (int64_t)__builtin_bswap64(pq_load_u64le(p));
    for (size_t k = 0; k < w; k++) u = u << 8 | p[k];
    return (int64_t)u;
}

/* Decimals compare as integers: decode once per value, no byte loops. */
PQ_HOT static void range_decimal(struct pq_stats *r, const uint8_t *v, size_t n, size_t w)
{
    size_t mn = 0, mx = 0;
    if (w <= 8) {
        int64_t lo = load_be_i64(v, w), hi = lo;
        for (size_t i = 1; i < n; i++) {
            int64_t x = load_be_i64(v + w * i, w);
            if (x < lo) { lo = x; mn = i; }
            if (x > hi) { hi = x; mx = i; }
        }
    } else {
        __int128 lo = load_be_signed(v, w), hi = lo;
        for (size_t i = 1; i < n; i++) {
            __int128 x = load_be_signed(v + w * i, w);
            if (x < lo) { lo = x; mn = i; }
            if (x > hi) { hi = x; mx = i; }
        }
    }
    memcpy(r->min_fixed, v + w * mn, w);
    memcpy(r->max_fixed, v + w * mx, w);
    r->min_len = r->max_len = (uint32_t)w;
    r->has_minmax = true;
}

/* Unsigned byte order of 16-byte values (uuids): two big-endian words. */
PQ_HOT static void range_16(const uint8_t *v, size_t n, size_t *mn_i, size_t *mx_i)
{
    uint64_t mnh = __builtin_bswap64(pq_load_u64le(v)), mnl = __builtin_bswap64(pq_load_u64le(v + 8));
    uint64_t mxh = mnh, mxl = mnl;
    size_t mn = 0, mx = 0;
    for (size_t i = 1; i < n; i++) {
        uint64_t h = __builtin_bswap64(pq_load_u64le(v + 16 * i));
        uint64_t l = __builtin_bswap64(pq_load_u64le(v + 16 * i + 8));
        if (h > mxh || (h == mxh && l > mxl)) {
            mxh = h;
            mxl = l;
            mx = i;
        } else if (h < mnh || (h == mnh && l < mnl)) {
            mnh = h;
            mnl = l;
            mn = i;
        }
    }
    *mn_i = mn;
    *mx_i = mx;
}

PQ_HOT static void range_fixed(struct pq_stats *r, const uint8_t *v, size_t n, size_t w, bool decimal)
{
    if (decimal) {
        range_decimal(r, v, n, w);
        return;
    }
    const uint8_t *mn = v, *mx = v;
    if (w == 16) {
        size_t a, b;
        range_16(v, n, &a, &b);
        mn = v + 16 * a;
        mx = v + 16 * b;
    }
    for (size_t i = 1; w != 16 && i < n; i++) {
        const uint8_t *x = v + w * i;
        if (memcmp(x, mx, w) > 0) mx = x;
        else if (memcmp(x, mn, w) < 0) mn = x;
    }
    memcpy(r->min_fixed, mn, w);
    memcpy(r->max_fixed, mx, w);
    r->min_len = r->max_len = (uint32_t)w;
    r->has_minmax = true;
}

/* The first 16 bytes of p[0, n) as two big-endian words, zero-padded: their
 * unsigned order is the byte order of the values, except that a tie may
 * still differ further on (or in length). `wide`: 16 bytes may be read. */
struct key16 {
    uint64_t hi, lo;
};

PQ_INLINE struct key16 key16_of(const uint8_t *p, uint32_t n, bool wide)
{
    uint64_t a, b;
    if (wide) {
        uint32_t na = n < 8 ? n : 8, nb = n < 8 ? 0 : n < 16 ? n - 8 : 8;
        a = pq_load_u64le(p) & pq_low_bytes_mask[na];
        b = pq_load_u64le(p + 8) & pq_low_bytes_mask[nb];
    } else {
        uint8_t buf[16] = {0};
        memcpy(buf, p, n < 16 ? n : 16);
        a = pq_load_u64le(buf);
        b = pq_load_u64le(buf + 8);
    }
    return (struct key16){__builtin_bswap64(a), __builtin_bswap64(b)};
}

/* Compares x (key kx) with y (key ky): the keys decide unless they tie.
 * 2 * (hi order) + (lo order) has the sign of the 128-bit order, computed
 * without a branch: values with a common prefix tie on hi unpredictably. */
PQ_INLINE int cmp_keyed(struct key16 kx, const uint8_t *x, uint32_t xn, struct key16 ky, const uint8_t *y,
                            uint32_t yn)
{
    int c = 2 * ((kx.hi > ky.hi) - (kx.hi < ky.hi)) + ((kx.lo > ky.lo) - (kx.lo < ky.lo));
    return c != 0 ? c : cmp_bytes(x, xn, y, yn);
}

PQ_HOT static void range_bytes(struct pq_stats *r, const uint8_t *arena, const uint32_t *off, size_t from,
                               size_t to)
{
    const uint8_t *mn = arena + off[from], *mx = mn;
    uint32_t mn_len = off[from + 1] - off[from], mx_len = mn_len;
    /* 16 bytes can be read at any value starting 16 before the data's end. */
    uint32_t wide_end = off[to] >= 16 ? off[to] - 16 : 0;
    struct key16 kmn = key16_of(mn, mn_len, off[from] <= wide_end), kmx = kmn;
    for (size_t i = from + 1; i < to; i++) {
        const uint8_t *x = arena + off[i];
        uint32_t n = off[i + 1] - off[i];
        struct key16 k = key16_of(x, n, off[i] <= wide_end);
        /* Max first: stream ids and timestamps mostly grow. */
        if (cmp_keyed(k, x, n, kmx, mx, mx_len) > 0) {
            mx = x;
            mx_len = n;
            kmx = k;
        } else if (cmp_keyed(k, x, n, kmn, mn, mn_len) < 0) {
            mn = x;
            mn_len = n;
            kmn = k;
        }
    }
    r->min_ref = mn;
    r->max_ref = mx;
    r->min_len = mn_len;
    r->max_len = mx_len;
    r->has_minmax = true;
}

/* Value i of a BYTE_ARRAY or FLBA column and its length. */
static const uint8_t *value_at(const struct pq_col *c, size_t i, size_t *len)
{
    if (c->width == 0) {
        const uint32_t *off = pq_col_offsets(c);
        *len = off[i + 1] - off[i];
        return c->arena.data + off[i];
    }
    *len = c->width;
    return c->values.data + (size_t)c->width * i;
}

void pq_stats_add(struct pq_stats *s, const struct pq_col *c, size_t from, size_t to)
{
    assert(from <= to && to <= c->nvalues);
    if (from == to) return;
    struct pq_stats r;
    pq_stats_reset(&r);
    r.values = to - from;
    const uint8_t *v = c->values.data;
    enum pq_order o = pq_field_order(c->field);
    switch (o) {
    case PQ_ORDER_BOOL: range_bool(&r, v + from, to - from); break;
    case PQ_ORDER_I32: range_i32(&r, v + 4 * from, to - from); break;
    case PQ_ORDER_I64: range_i64(&r, v + 8 * from, to - from); break;
    case PQ_ORDER_FLOAT: range_float(&r, v + 4 * from, to - from); break;
    case PQ_ORDER_DOUBLE: range_double(&r, v + 8 * from, to - from); break;
    case PQ_ORDER_DECIMAL:
    case PQ_ORDER_BYTES:
        if (c->width > 0)
            range_fixed(&r, v + (size_t)c->width * from, to - from, c->width, o == PQ_ORDER_DECIMAL);
        else
            range_bytes(&r, c->arena.data, pq_col_offsets(c), from, to);
        break;
    }
    pq_stats_merge(s, &r, o);
}

void pq_stats_add_some(struct pq_stats *s, const struct pq_col *c, const uint32_t *vidx, size_t n,
                       uint64_t values)
{
    enum pq_order o = pq_field_order(c->field);
    assert(o == PQ_ORDER_BYTES || o == PQ_ORDER_DECIMAL);
    struct pq_stats r;
    pq_stats_reset(&r);
    r.values = values;
    if (n > 0) {
        size_t mn = vidx[0], mx = vidx[0];
        for (size_t k = 1; k < n; k++) {
            size_t i = vidx[k];
            assert(i < c->nvalues);
            size_t li, lm;
            const uint8_t *x = value_at(c, i, &li);
            const uint8_t *a = value_at(c, mn, &lm);
            if (pq_order_cmp(o, x, li, a, lm) < 0) mn = i;
            a = value_at(c, mx, &lm);
            if (pq_order_cmp(o, x, li, a, lm) > 0) mx = i;
        }
        size_t ln, lx;
        const uint8_t *pn = value_at(c, mn, &ln), *px = value_at(c, mx, &lx);
        if (c->width == 0) {
            r.min_ref = pn;
            r.max_ref = px;
        } else {
            memcpy(r.min_fixed, pn, ln);
            memcpy(r.max_fixed, px, lx);
        }
        r.min_len = (uint32_t)ln;
        r.max_len = (uint32_t)lx;
        r.has_minmax = true;
    }
    pq_stats_merge(s, &r, o);
}

void pq_stats_merge(struct pq_stats *dst, const struct pq_stats *src, enum pq_order o)
{
    dst->nulls += src->nulls;
    dst->values += src->values;
    dst->nans += src->nans;
    if (!src->has_minmax) return;
    if (!dst->has_minmax ||
        pq_order_cmp(o, pq_stats_min(src), src->min_len, pq_stats_min(dst), dst->min_len) < 0) {
        dst->min_ref = src->min_ref;
        dst->min_len = src->min_len;
        memcpy(dst->min_fixed, src->min_fixed, sizeof dst->min_fixed);
    }
    if (!dst->has_minmax ||
        pq_order_cmp(o, pq_stats_max(src), src->max_len, pq_stats_max(dst), dst->max_len) > 0) {
        dst->max_ref = src->max_ref;
        dst->max_len = src->max_len;
        memcpy(dst->max_fixed, src->max_fixed, sizeof dst->max_fixed);
    }
    dst->has_minmax = true;
}

/* ------------------------------------------------------------------------- */
/* Truncation */

/* Length of the UTF-8 character starting at s[0..n), 0 if not valid. */
static size_t utf8_decode(const uint8_t *s, size_t n, uint32_t *cp_out)
{
    uint8_t c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
        *cp_out = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1Fu; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0Fu; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07u; }
    else return 0;
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3Fu);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))) return 0;
    if (cp >= 0xD800 && cp <= 0xDFFF) return 0;
    *cp_out = cp;
    return len;
}

static size_t utf8_encode(uint32_t cp, uint8_t *out)
{
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | cp >> 6);
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | cp >> 12);
        out[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | cp >> 18);
    out[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

static bool valid_utf8(const uint8_t *s, size_t n)
{
    uint32_t cp;
    for (size_t i = 0; i < n;) {
        size_t l = utf8_decode(s + i, n - i, &cp);
        if (l == 0) return false;
        i += l;
    }
    return true;
}

/* The longest prefix of at most `limit` bytes that ends at a character
 * boundary (before a byte that is not a continuation byte). */
static size_t utf8_cut(const uint8_t *v, size_t n, size_t limit)
{
    if (n <= limit) return n;
    size_t k = limit;
    while (k > 0 && (v[k] & 0xC0) == 0x80) k--;
    return k;
}

size_t pq_truncate_min(const uint8_t *v, size_t n, size_t limit, bool utf8, uint8_t *out)
{
    size_t k = n <= limit ? n : utf8 ? utf8_cut(v, n, limit) : limit;
    if (k > 0) memcpy(out, v, k);
    return k;
}

/* Byte-wise: increment the last byte below 0xFF of the prefix, drop the rest. */
static bool increment_bytes(const uint8_t *v, size_t k, uint8_t *out, size_t *out_len)
{
    while (k > 0 && v[k - 1] == 0xFF) k--;
    if (k == 0) return false;
    memcpy(out, v, k);
    out[k - 1]++;
    *out_len = k;
    return true;
}

bool pq_truncate_max(const uint8_t *v, size_t n, size_t limit, bool utf8, uint8_t *out,
                     size_t *out_len)
{
    if (n <= limit) {
        if (n > 0) memcpy(out, v, n);
        *out_len = n;
        return true;
    }
    if (!utf8) return increment_bytes(v, limit, out, out_len);
    size_t k = utf8_cut(v, n, limit);
    if (!valid_utf8(v, k)) return increment_bytes(v, limit, out, out_len);
    /* Walk back over the characters of v[0..k); replace the last one that has a
     * successor (skipping the surrogates) whose encoding still fits. */
    size_t end = k;
    while (end > 0) {
        size_t start = end - 1;
        while (start > 0 && (v[start] & 0xC0) == 0x80) start--;
        uint32_t cp;
        size_t len = utf8_decode(v + start, end - start, &cp);
        assert(len == end - start);
        (void)len;
        uint32_t next = cp + 1 == 0xD800 ? 0xE000 : cp + 1;
        if (next <= 0x10FFFF) {
            uint8_t enc[4];
            size_t elen = utf8_encode(next, enc);
            if (start + elen <= limit) {
                memcpy(out, v, start);
                memcpy(out + start, enc, elen);
                *out_len = start + elen;
                return true;
            }
        }
        end = start;
    }
    return false;
}

/* ------------------------------------------------------------------------- */

void pq_stats_finish(const struct pq_stats *s, const struct pq_field *f, uint32_t truncate_bytes,
                     struct pq_stats_out *o)
{
    assert(truncate_bytes >= 4 && truncate_bytes <= PQ_STATS_VALUE_MAX_BYTES);
    memset(o, 0, offsetof(struct pq_stats_out, min));
    o->null_count = s->nulls;
    enum pq_order ord = pq_field_order(f);
    o->has_nan_count = ord == PQ_ORDER_FLOAT || ord == PQ_ORDER_DOUBLE;
    o->nan_count = s->nans;
    if (!s->has_minmax) return;
    o->min_exact = o->max_exact = true;
    if (pq_field_phys(f) == PQ_PHYS_BYTE_ARRAY) {
        bool utf8 = f->type != PQ_BINARY;
        size_t max_len;
        if (!pq_truncate_max(pq_stats_max(s), s->max_len, truncate_bytes, utf8, o->max, &max_len))
            return; /* no bound fits: neither min nor max */
        o->max_len = (uint32_t)max_len;
        o->min_len = (uint32_t)pq_truncate_min(pq_stats_min(s), s->min_len, truncate_bytes, utf8, o->min);
        o->min_exact = o->min_len == s->min_len;
        o->max_exact = o->max_len == s->max_len && memcmp(o->max, pq_stats_max(s), max_len) == 0;
    } else {
        assert(s->min_len <= sizeof s->min_fixed && s->max_len <= sizeof s->max_fixed);
        memcpy(o->min, s->min_fixed, s->min_len);
        memcpy(o->max, s->max_fixed, s->max_len);
        o->min_len = s->min_len;
        o->max_len = s->max_len;
        if (ord == PQ_ORDER_FLOAT) {
            if (load_float(o->min) == 0.0f) store_float(o->min, -0.0f);
            if (load_float(o->max) == 0.0f) store_float(o->max, 0.0f);
        } else if (ord == PQ_ORDER_DOUBLE) {
            if (load_double(o->min) == 0.0) store_double(o->min, -0.0);
            if (load_double(o->max) == 0.0) store_double(o->max, 0.0);
        }
    }
    o->has_minmax = true;
    o->deprecated = pq_field_signed_order(f);
}

/*   Statistics { 1: max  2: min  3: null_count  5: max_value  6: min_value
 *                7: is_max_value_exact  8: is_min_value_exact  9: nan_count } */
void pq_stats_write(const struct pq_stats_out *o, struct pq_thrift *t, int16_t id)
{
    pq_thrift_struct_begin(t, id);
    if (o->has_minmax && o->deprecated) {
        pq_thrift_binary(t, 1, o->max, o->max_len);
        pq_thrift_binary(t, 2, o->min, o->min_len);
    }
    pq_thrift_i64(t, 3, (int64_t)o->null_count);
    if (o->has_minmax) {
        pq_thrift_binary(t, 5, o->max, o->max_len);
        pq_thrift_binary(t, 6, o->min, o->min_len);
        pq_thrift_bool(t, 7, o->max_exact);
        pq_thrift_bool(t, 8, o->min_exact);
    }
    if (o->has_nan_count) pq_thrift_i64(t, 9, (int64_t)o->nan_count);
    pq_thrift_struct_end(t);
}
