#include "pq_column.h"

#include <assert.h>
#include <string.h>

static void col_init(struct pq_col *c, const struct pq_field *f, uint32_t index,
                     struct pq_mem *mem, struct pq_err *err)
{
    memset(c, 0, sizeof *c);
    c->field = f;
    c->err = err;
    c->index = index;
    c->phys = pq_field_phys(f);
    c->width = pq_field_width(f);
    c->max_def = pq_field_max_def(f);
    c->max_rep = pq_field_max_rep(f);
    c->def_empty_list = f->nullable ? 1 : 0;
    pq_buf_init(&c->values, mem);
    pq_buf_init(&c->arena, mem);
    pq_buf_init(&c->defs, mem);
    pq_buf_init(&c->reps, mem);
    c->defs_lazy = !f->list;
}

/* Empties a builder; BYTE_ARRAY columns keep their leading 0 offset. */
static bool col_clear(struct pq_col *c)
{
    pq_buf_clear(&c->values);
    pq_buf_clear(&c->arena);
    pq_buf_clear(&c->defs);
    pq_buf_clear(&c->reps);
    c->defs_lazy = !c->field->list;
    c->slots = c->nvalues = c->nulls = c->rows = 0;
    c->in_list = false;
    c->list_len = 0;
    memset(&c->mark, 0, sizeof c->mark);
    /* Every buffer gets storage up front, so that no reader of an empty
     * column does arithmetic on a NULL pointer. */
    pq_buf_reserve(&c->values, 16);
    pq_buf_reserve(&c->arena, 1);
    pq_buf_reserve(&c->defs, 1);
    pq_buf_reserve(&c->reps, 1);
    if (c->width == 0) pq_buf_u32le(&c->values, 0);
    return !(c->values.failed || c->arena.failed || c->defs.failed || c->reps.failed);
}

bool pq_batch_init(struct pq_batch *b, const struct pq_schema *schema, struct pq_mem *mem,
                   struct pq_err *err)
{
    assert(b != NULL && schema != NULL && mem != NULL);
    memset(b, 0, sizeof *b);
    b->schema = schema;
    b->mem = mem;
    size_t n = schema->count;
    if (n > 0) {
        b->cols = pq_mem_realloc(mem, NULL, 0, n * sizeof *b->cols);
        if (b->cols == NULL)
            return pq_err_set(err, PQ_E_MEMORY, "batch of %zu columns: out of memory budget", n);
    }
    /* All builders are valid (empty) before the first can fail to allocate. */
    for (uint32_t i = 0; i < n; i++) col_init(&b->cols[i], &schema->fields[i], i, mem, &b->err);
    for (uint32_t i = 0; i < n; i++) {
        if (!col_clear(&b->cols[i])) {
            pq_batch_free(b);
            return pq_err_set(err, PQ_E_MEMORY, "batch: out of memory budget");
        }
    }
    return true;
}

void pq_batch_free(struct pq_batch *b)
{
    if (b->cols == NULL) return;
    for (uint32_t i = 0; i < b->schema->count; i++) {
        struct pq_col *c = &b->cols[i];
        pq_buf_free(&c->values);
        pq_buf_free(&c->arena);
        pq_buf_free(&c->defs);
        pq_buf_free(&c->reps);
    }
    pq_mem_free(b->mem, b->cols, b->schema->count * sizeof *b->cols);
    b->cols = NULL;
    b->rows = 0;
}

void pq_batch_reset(struct pq_batch *b)
{
    for (uint32_t i = 0; i < b->schema->count; i++) {
        /* The leading offset fits in the capacity kept from before. */
        bool ok = col_clear(&b->cols[i]);
        assert(ok);
        (void)ok;
    }
    b->rows = 0;
    pq_err_clear(&b->err);
}

bool pq_batch_commit(struct pq_batch *b)
{
    uint32_t n = b->schema->count;
    if (n == 0) return true;
    size_t rows = b->cols[0].rows;
    for (uint32_t i = 0; i < n; i++) {
        const struct pq_col *c = &b->cols[i];
        if (c->in_list)
            return pq_err_set(&b->err, PQ_E_STATE, "column '%s': a list is still open", c->field->name);
        if (c->rows != rows)
            return pq_err_set(&b->err, PQ_E_STATE,
                              "column '%s': %zu rows, but column '%s' has %zu",
                              c->field->name, c->rows - b->rows, b->cols[0].field->name,
                              rows - b->rows);
    }
    for (uint32_t i = 0; i < n; i++) {
        struct pq_col *c = &b->cols[i];
        c->mark.slots = c->slots;
        c->mark.nvalues = c->nvalues;
        c->mark.rows = c->rows;
        c->mark.arena_bytes = c->arena.len;
    }
    b->rows = rows;
    return true;
}

void pq_batch_rollback(struct pq_batch *b)
{
    for (uint32_t i = 0; i < b->schema->count; i++) {
        struct pq_col *c = &b->cols[i];
        c->slots = c->mark.slots;
        c->nvalues = c->mark.nvalues;
        c->nulls = c->slots - c->nvalues;
        c->rows = c->mark.rows;
        c->in_list = false;
        c->list_len = 0;
        pq_buf_truncate(&c->values, c->width == 0 ? (c->nvalues + 1) * 4 : c->nvalues * c->width);
        pq_buf_truncate(&c->arena, c->mark.arena_bytes);
        if (!c->defs_lazy) pq_buf_truncate(&c->defs, c->slots);
        if (c->max_rep > 0) pq_buf_truncate(&c->reps, c->slots);
        c->values.failed = c->arena.failed = c->defs.failed = c->reps.failed = false;
    }
    assert(b->schema->count == 0 || b->cols[0].rows == b->rows);
}

size_t pq_batch_mem_bytes(const struct pq_batch *b)
{
    size_t n = b->schema->count * sizeof *b->cols;
    for (uint32_t i = 0; i < b->schema->count; i++) {
        const struct pq_col *c = &b->cols[i];
        n += c->values.cap + c->arena.cap + c->defs.cap + c->reps.cap;
    }
    return n;
}

size_t pq_batch_data_bytes(const struct pq_batch *b)
{
    size_t n = 0;
    for (uint32_t i = 0; i < b->schema->count; i++) {
        const struct pq_col *c = &b->cols[i];
        n += c->width == 0 ? c->arena.len + 4 * c->nvalues : c->width * c->nvalues;
        n += (c->slots * (c->max_def > 0) + c->slots * (c->max_rep > 0)) / 4;
    }
    return n;
}

/* ------------------------------------------------------------------------- */
/* Appends */

static bool out_of_memory(struct pq_col *c)
{
    c->values.failed = c->arena.failed = c->defs.failed = c->reps.failed = false;
    return pq_err_set(c->err, PQ_E_MEMORY, "column '%s': out of memory budget", c->field->name);
}

/* Fills the lazy definition levels (all present) before the first null. */
static bool materialize_defs(struct pq_col *c)
{
    assert(c->defs_lazy && c->nulls == 0);
    if (!pq_buf_reserve(&c->defs, c->slots + 1)) return out_of_memory(c);
    memset(c->defs.data, c->max_def, c->slots);
    c->defs.len = c->slots;
    c->defs_lazy = false;
    return true;
}

/* Reserves the levels of one more slot. */
static bool reserve_levels(struct pq_col *c)
{
    if (c->max_rep > 0 && !pq_buf_reserve(&c->reps, 1)) return out_of_memory(c);
    if (!c->defs_lazy && c->max_def > 0 && !pq_buf_reserve(&c->defs, 1)) return out_of_memory(c);
    return true;
}

/* Records the levels of one slot (room reserved) and counts it. */
static void push_slot(struct pq_col *c, uint8_t def, bool present)
{
    if (c->max_rep > 0) {
        c->reps.data[c->reps.len++] = c->in_list && c->list_len > 0 ? 1 : 0;
    }
    if (!c->defs_lazy && c->max_def > 0) c->defs.data[c->defs.len++] = def;
    c->slots++;
    if (present) c->nvalues++;
    else c->nulls++;
    if (c->in_list) c->list_len++;
    else c->rows++;
    assert(c->defs_lazy || c->max_def == 0 || c->defs.len == c->slots);
    assert(c->max_rep == 0 || c->reps.len == c->slots);
}

/* Checks the list state before a value or a null. */
static bool check_slot(struct pq_col *c)
{
    assert(!c->field->list || c->in_list); /* values of a list column go inside a list */
    if (c->in_list && c->list_len >= PQ_LIST_MAX_ELEMENTS)
        return pq_err_set(c->err, PQ_E_LIMIT, "column '%s': a list longer than %d elements",
                          c->field->name, PQ_LIST_MAX_ELEMENTS);
    return true;
}

/* Appends one fixed-width value of c->width bytes. */
static bool push_fixed(struct pq_col *c, const void *v)
{
    if (!check_slot(c)) return false;
    if (!pq_buf_reserve(&c->values, c->width) || !reserve_levels(c)) return out_of_memory(c);
    memcpy(c->values.data + c->values.len, v, c->width);
    c->values.len += c->width;
    push_slot(c, c->max_def, true);
    return true;
}

bool pq_col_null(struct pq_col *c)
{
    const struct pq_field *f = c->field;
    uint8_t def;
    if (c->in_list) {
        if (!f->element_nullable)
            return pq_err_set(c->err, PQ_E_VALUE, "column '%s': list elements are not nullable (null element)",
                              f->name);
        if (!check_slot(c)) return false;
        def = (uint8_t)(c->max_def - 1);
    } else {
        if (!f->nullable)
            return pq_err_set(c->err, PQ_E_VALUE, "column '%s': null in a required column", f->name);
        def = 0;
    }
    if (c->defs_lazy && !materialize_defs(c)) return false;
    if (!reserve_levels(c)) return false;
    push_slot(c, def, false);
    return true;
}

bool pq_col_bool(struct pq_col *c, bool v)
{
    assert(c->field->type == PQ_BOOL);
    uint8_t b = v ? 1 : 0;
    return push_fixed(c, &b);
}

bool pq_col_i32(struct pq_col *c, int32_t v)
{
    enum pq_type t = c->field->type;
    assert(t == PQ_INT8 || t == PQ_INT16 || t == PQ_INT32 || t == PQ_DATE);
    if (t == PQ_INT8 && (v < INT8_MIN || v > INT8_MAX))
        return pq_err_set(c->err, PQ_E_VALUE, "column '%s': %d does not fit int8", c->field->name, (int)v);
    if (t == PQ_INT16 && (v < INT16_MIN || v > INT16_MAX))
        return pq_err_set(c->err, PQ_E_VALUE, "column '%s': %d does not fit int16", c->field->name, (int)v);
    uint8_t le[4];
    pq_store_u32le(le, (uint32_t)v);
    return push_fixed(c, le);
}

bool pq_col_i64(struct pq_col *c, int64_t v)
{
    enum pq_type t = c->field->type;
    assert(t == PQ_INT64 || t == PQ_TIMESTAMP || t == PQ_TIMESTAMP_NTZ);
    (void)t;
    uint8_t le[8];
    pq_store_u64le(le, (uint64_t)v);
    return push_fixed(c, le);
}

bool pq_col_float(struct pq_col *c, float v)
{
    assert(c->field->type == PQ_FLOAT);
    uint32_t bits;
    memcpy(&bits, &v, 4);
    uint8_t le[4];
    pq_store_u32le(le, bits);
    return push_fixed(c, le);
}

bool pq_col_double(struct pq_col *c, double v)
{
    assert(c->field->type == PQ_DOUBLE);
    uint64_t bits;
    memcpy(&bits, &v, 8);
    uint8_t le[8];
    pq_store_u64le(le, bits);
    return push_fixed(c, le);
}

bool pq_col_bytes(struct pq_col *c, const void *p, size_t n)
{
    assert(c->width == 0);
    assert(p != NULL || n == 0);
    if (!check_slot(c)) return false;
    if (n > PQ_VALUE_MAX_BYTES)
        return pq_err_set(c->err, PQ_E_LIMIT, "column '%s': a value of %zu bytes (the limit is %d)",
                          c->field->name, n, PQ_VALUE_MAX_BYTES);
    if (n > PQ_ARENA_MAX_BYTES - c->arena.len)
        return pq_err_set(c->err, PQ_E_LIMIT, "column '%s': more than %zu bytes of values in one batch",
                          c->field->name, PQ_ARENA_MAX_BYTES);
    if (!pq_buf_reserve(&c->arena, n) || !pq_buf_reserve(&c->values, 4) || !reserve_levels(c))
        return out_of_memory(c);
    if (n > 0) memcpy(c->arena.data + c->arena.len, p, n);
    c->arena.len += n;
    pq_store_u32le(c->values.data + c->values.len, (uint32_t)c->arena.len);
    c->values.len += 4;
    push_slot(c, c->max_def, true);
    return true;
}

bool pq_col_fixed(struct pq_col *c, const void *p, size_t n)
{
    assert(c->field->type == PQ_UUID);
    if (n != c->width)
        return pq_err_set(c->err, PQ_E_VALUE, "column '%s': %zu bytes, a %s takes %u",
                          c->field->name, n, pq_type_name(c->field->type), (unsigned)c->width);
    return push_fixed(c, p);
}

bool pq_col_decimal(struct pq_col *c, int64_t hi, uint64_t lo)
{
    assert(c->field->type == PQ_DECIMAL);
    unsigned __int128 u = (unsigned __int128)(uint64_t)hi << 64 | lo;
    bool negative = hi < 0;
    unsigned __int128 mag = negative ? ~u + 1 : u;
    unsigned __int128 limit = 1;
    for (unsigned i = 0; i < c->field->precision; i++) limit *= 10;
    if (mag >= limit)
        return pq_err_set(c->err, PQ_E_VALUE, "column '%s': the value has more than %u digits",
                          c->field->name, (unsigned)c->field->precision);
    /* The low `width` bytes of the two's complement, most significant first. */
    uint8_t be[16];
    for (uint32_t i = 0; i < c->width; i++)
        be[c->width - 1 - i] = (uint8_t)(u >> (8 * i));
    return push_fixed(c, be);
}

bool pq_col_list_begin(struct pq_col *c)
{
    assert(c->field->list && !c->in_list);
    c->in_list = true;
    c->list_len = 0;
    return true;
}

bool pq_col_list_end(struct pq_col *c)
{
    assert(c->field->list && c->in_list);
    if (c->list_len == 0) {
        /* An empty list is one slot: rep 0, def = list present. */
        if (!reserve_levels(c)) return false;
        c->in_list = false;
        push_slot(c, c->def_empty_list, false);
        return true;
    }
    c->in_list = false;
    c->list_len = 0;
    c->rows++;
    return true;
}
