#include "pq_schema.h"

#include <assert.h>
#include <string.h>

#include "pq_thrift.h"

/* Thrift enum values (parquet.thrift). */
enum {
    CT_UTF8 = 0,
    CT_LIST = 3,
    CT_DECIMAL = 5,
    CT_DATE = 6,
    CT_TIMESTAMP_MICROS = 10,
    CT_INT_8 = 15,
    CT_INT_16 = 16,
    CT_JSON = 19,
    REP_REQUIRED = 0,
    REP_OPTIONAL = 1,
    REP_REPEATED = 2,
};

const char *pq_type_name(enum pq_type t)
{
    switch (t) {
    case PQ_STRING: return "string";
    case PQ_BOOL: return "bool";
    case PQ_INT8: return "int8";
    case PQ_INT16: return "int16";
    case PQ_INT32: return "int32";
    case PQ_INT64: return "int64";
    case PQ_FLOAT: return "float";
    case PQ_DOUBLE: return "double";
    case PQ_DECIMAL: return "decimal";
    case PQ_DATE: return "date";
    case PQ_TIMESTAMP: return "timestamp";
    case PQ_TIMESTAMP_NTZ: return "timestamp_ntz";
    case PQ_JSON: return "json";
    case PQ_UUID: return "uuid";
    case PQ_BINARY: return "binary";
    }
    return "unknown";
}

enum pq_phys pq_field_phys(const struct pq_field *f)
{
    switch (f->type) {
    case PQ_BOOL: return PQ_PHYS_BOOLEAN;
    case PQ_INT8:
    case PQ_INT16:
    case PQ_INT32:
    case PQ_DATE: return PQ_PHYS_INT32;
    case PQ_INT64:
    case PQ_TIMESTAMP:
    case PQ_TIMESTAMP_NTZ: return PQ_PHYS_INT64;
    case PQ_FLOAT: return PQ_PHYS_FLOAT;
    case PQ_DOUBLE: return PQ_PHYS_DOUBLE;
    case PQ_DECIMAL:
    case PQ_UUID: return PQ_PHYS_FLBA;
    case PQ_STRING:
    case PQ_JSON:
    case PQ_BINARY: return PQ_PHYS_BYTE_ARRAY;
    }
    assert(0 && "unknown type");
    return PQ_PHYS_BYTE_ARRAY;
}

uint32_t pq_decimal_bytes(unsigned precision)
{
    /* max_precision[n] = floor(log10(2^(8n-1) - 1)) for n = 1..16. */
    static const uint8_t max_precision[17] = {0, 2, 4, 6, 9, 11, 14, 16, 18,
                                              21, 23, 26, 28, 31, 33, 35, 38};
    assert(precision >= 1 && precision <= PQ_DECIMAL_PRECISION_MAX);
    uint32_t n = 1;
    while (max_precision[n] < precision) n++;
    return n;
}

uint32_t pq_field_width(const struct pq_field *f)
{
    switch (pq_field_phys(f)) {
    case PQ_PHYS_BOOLEAN: return 1;
    case PQ_PHYS_INT32:
    case PQ_PHYS_FLOAT: return 4;
    case PQ_PHYS_INT64:
    case PQ_PHYS_DOUBLE: return 8;
    case PQ_PHYS_FLBA: return f->type == PQ_UUID ? 16 : pq_decimal_bytes(f->precision);
    case PQ_PHYS_BYTE_ARRAY: return 0;
    }
    return 0;
}

uint8_t pq_field_max_def(const struct pq_field *f)
{
    if (!f->list) return f->nullable ? 1 : 0;
    return (uint8_t)((f->nullable ? 1 : 0) + 1 + (f->element_nullable ? 1 : 0));
}

uint8_t pq_field_max_rep(const struct pq_field *f)
{
    return f->list ? 1 : 0;
}

bool pq_field_signed_order(const struct pq_field *f)
{
    enum pq_phys p = pq_field_phys(f);
    return p == PQ_PHYS_INT32 || p == PQ_PHYS_INT64 || p == PQ_PHYS_FLOAT || p == PQ_PHYS_DOUBLE;
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if invalid. */
static size_t utf8_char_len(const uint8_t *s, size_t n)
{
    uint8_t c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80) return 1;
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
    return len;
}

static bool valid_utf8(const char *s, size_t n)
{
    const uint8_t *p = (const uint8_t *)s;
    for (size_t i = 0; i < n;) {
        size_t l = utf8_char_len(p + i, n - i);
        if (l == 0) return false;
        i += l;
    }
    return true;
}

static bool same_ignoring_ascii_case(const char *a, const char *b)
{
    for (;; a++, b++) {
        unsigned char x = (unsigned char)*a, y = (unsigned char)*b;
        if (x >= 'A' && x <= 'Z') x = (unsigned char)(x + 32);
        if (y >= 'A' && y <= 'Z') y = (unsigned char)(y + 32);
        if (x != y) return false;
        if (x == 0) return true;
    }
}

static bool check_field(const struct pq_field *f, size_t i, struct pq_err *err)
{
    if (f->name == NULL || f->name[0] == '\0')
        return pq_err_set(err, PQ_E_SCHEMA, "column %zu: the name is empty", i);
    size_t len = strlen(f->name);
    if (len > PQ_NAME_MAX_BYTES)
        return pq_err_set(err, PQ_E_SCHEMA, "column %zu: the name is longer than %d bytes",
                          i, PQ_NAME_MAX_BYTES);
    if (!valid_utf8(f->name, len))
        return pq_err_set(err, PQ_E_SCHEMA, "column %zu: the name is not valid UTF-8", i);
    if (f->type < PQ_STRING || f->type > PQ_BINARY)
        return pq_err_set(err, PQ_E_SCHEMA, "column '%s': unknown type %d", f->name, (int)f->type);
    if (f->type == PQ_DECIMAL) {
        if (f->precision < 1 || f->precision > PQ_DECIMAL_PRECISION_MAX)
            return pq_err_set(err, PQ_E_SCHEMA,
                              "column '%s': decimal precision %u is not in 1..%d", f->name,
                              (unsigned)f->precision, PQ_DECIMAL_PRECISION_MAX);
        if (f->scale > f->precision)
            return pq_err_set(err, PQ_E_SCHEMA,
                              "column '%s': decimal scale %u is larger than the precision %u",
                              f->name, (unsigned)f->scale, (unsigned)f->precision);
    }
    if (!f->list && f->element_nullable)
        return pq_err_set(err, PQ_E_SCHEMA, "column '%s': element_nullable is set but it is not a list",
                          f->name);
    return true;
}

bool pq_schema_init(struct pq_schema *s, const struct pq_field *fields, size_t count,
                    struct pq_err *err)
{
    assert(s != NULL);
    if (count == 0) return pq_err_set(err, PQ_E_SCHEMA, "a table needs at least one column");
    if (count > PQ_COLUMNS_MAX)
        return pq_err_set(err, PQ_E_LIMIT, "%zu columns: more than the limit of %d", count,
                          PQ_COLUMNS_MAX);
    if (fields == NULL)
        return pq_err_set(err, PQ_E_SCHEMA, "no field array for %zu columns", count);
    for (size_t i = 0; i < count; i++) {
        if (!check_field(&fields[i], i, err)) return false;
        for (size_t j = 0; j < i; j++) {
            if (same_ignoring_ascii_case(fields[i].name, fields[j].name))
                return pq_err_set(err, PQ_E_SCHEMA,
                                  "column '%s': the name repeats column '%s' (names are compared ignoring case)",
                                  fields[i].name, fields[j].name);
        }
    }
    s->fields = fields;
    s->count = (uint32_t)count;
    return true;
}

uint32_t pq_schema_element_count(const struct pq_schema *s)
{
    uint32_t n = 1;
    for (uint32_t i = 0; i < s->count; i++) n += s->fields[i].list ? 3 : 1;
    return n;
}

/* LogicalType union (SchemaElement field 10), or nothing. */
static void write_logical_type(struct pq_thrift *t, const struct pq_field *f)
{
    switch (f->type) {
    case PQ_STRING:
        pq_thrift_struct_begin(t, 10);
        pq_thrift_empty_struct(t, 1);      /* STRING */
        pq_thrift_struct_end(t);
        break;
    case PQ_INT8:
    case PQ_INT16:
        pq_thrift_struct_begin(t, 10);
        pq_thrift_struct_begin(t, 10);     /* INTEGER */
        pq_thrift_i8(t, 1, f->type == PQ_INT8 ? 8 : 16);
        pq_thrift_bool(t, 2, true);
        pq_thrift_struct_end(t);
        pq_thrift_struct_end(t);
        break;
    case PQ_DECIMAL:
        pq_thrift_struct_begin(t, 10);
        pq_thrift_struct_begin(t, 5);      /* DECIMAL */
        pq_thrift_i32(t, 1, f->scale);
        pq_thrift_i32(t, 2, f->precision);
        pq_thrift_struct_end(t);
        pq_thrift_struct_end(t);
        break;
    case PQ_DATE:
        pq_thrift_struct_begin(t, 10);
        pq_thrift_empty_struct(t, 6);      /* DATE */
        pq_thrift_struct_end(t);
        break;
    case PQ_TIMESTAMP:
    case PQ_TIMESTAMP_NTZ:
        pq_thrift_struct_begin(t, 10);
        pq_thrift_struct_begin(t, 8);      /* TIMESTAMP */
        pq_thrift_bool(t, 1, f->type == PQ_TIMESTAMP);
        pq_thrift_struct_begin(t, 2);      /* unit: TimeUnit */
        pq_thrift_empty_struct(t, 2);      /* MICROS */
        pq_thrift_struct_end(t);
        pq_thrift_struct_end(t);
        pq_thrift_struct_end(t);
        break;
    case PQ_JSON:
        pq_thrift_struct_begin(t, 10);
        pq_thrift_empty_struct(t, 12);     /* JSON */
        pq_thrift_struct_end(t);
        break;
    case PQ_UUID:
        pq_thrift_struct_begin(t, 10);
        pq_thrift_empty_struct(t, 14);     /* UUID */
        pq_thrift_struct_end(t);
        break;
    case PQ_BOOL:
    case PQ_INT32:
    case PQ_INT64:
    case PQ_FLOAT:
    case PQ_DOUBLE:
    case PQ_BINARY:
        break;
    }
}

static int converted_type(enum pq_type t)
{
    switch (t) {
    case PQ_STRING: return CT_UTF8;
    case PQ_INT8: return CT_INT_8;
    case PQ_INT16: return CT_INT_16;
    case PQ_DECIMAL: return CT_DECIMAL;
    case PQ_DATE: return CT_DATE;
    case PQ_TIMESTAMP:
    case PQ_TIMESTAMP_NTZ: return CT_TIMESTAMP_MICROS;
    case PQ_JSON: return CT_JSON;
    default: return -1;
    }
}

/* One primitive SchemaElement. */
static void write_leaf(struct pq_thrift *t, const struct pq_field *f, const char *name, bool optional)
{
    pq_thrift_elem_struct_begin(t);
    enum pq_phys phys = pq_field_phys(f);
    pq_thrift_i32(t, 1, (int32_t)phys);
    if (phys == PQ_PHYS_FLBA) pq_thrift_i32(t, 2, (int32_t)pq_field_width(f));
    pq_thrift_i32(t, 3, optional ? REP_OPTIONAL : REP_REQUIRED);
    pq_thrift_string(t, 4, name);
    int ct = converted_type(f->type);
    if (ct >= 0) pq_thrift_i32(t, 6, ct);
    if (f->type == PQ_DECIMAL) {
        pq_thrift_i32(t, 7, f->scale);
        pq_thrift_i32(t, 8, f->precision);
    }
    write_logical_type(t, f);
    pq_thrift_struct_end(t);
}

/* A group SchemaElement with one child. */
static void write_group(struct pq_thrift *t, const char *name, int repetition, bool is_list)
{
    pq_thrift_elem_struct_begin(t);
    pq_thrift_i32(t, 3, repetition);
    pq_thrift_string(t, 4, name);
    pq_thrift_i32(t, 5, 1);
    if (is_list) {
        pq_thrift_i32(t, 6, CT_LIST);
        pq_thrift_struct_begin(t, 10);
        pq_thrift_empty_struct(t, 3);      /* LIST */
        pq_thrift_struct_end(t);
    }
    pq_thrift_struct_end(t);
}

void pq_schema_write(const struct pq_schema *s, struct pq_thrift *t)
{
    /* Root: a name and the number of children, no type, no repetition. */
    pq_thrift_elem_struct_begin(t);
    pq_thrift_string(t, 4, "schema");
    pq_thrift_i32(t, 5, (int32_t)s->count);
    pq_thrift_struct_end(t);
    for (uint32_t i = 0; i < s->count; i++) {
        const struct pq_field *f = &s->fields[i];
        if (!f->list) {
            write_leaf(t, f, f->name, f->nullable);
            continue;
        }
        write_group(t, f->name, f->nullable ? REP_OPTIONAL : REP_REQUIRED, true);
        write_group(t, "list", REP_REPEATED, false);
        write_leaf(t, f, "element", f->element_nullable);
    }
}
