#include "pq_thrift.h"

#include <assert.h>
#include <string.h>

void pq_thrift_init(struct pq_thrift *t, struct pq_buf *out)
{
    assert(t != NULL && out != NULL);
    t->out = out;
    t->depth = 0;
    t->last_id[0] = 0;
}

static void field_header(struct pq_thrift *t, int16_t id, enum pq_ttype ctype)
{
    assert(t->depth < PQ_THRIFT_DEPTH_MAX);
    assert((unsigned)ctype <= 0x0F);
    int delta = (int)id - (int)t->last_id[t->depth];
    if (delta > 0 && delta <= 15) {
        pq_buf_u8(t->out, (uint8_t)(delta << 4 | (int)ctype));
    } else {
        pq_buf_u8(t->out, (uint8_t)ctype);
        pq_buf_varint(t->out, pq_zigzag64(id));
    }
    t->last_id[t->depth] = id;
}

static void push(struct pq_thrift *t)
{
    assert(t->depth + 1 < PQ_THRIFT_DEPTH_MAX);
    t->depth++;
    t->last_id[t->depth] = 0;
}

void pq_thrift_i8(struct pq_thrift *t, int16_t id, int8_t v)
{
    field_header(t, id, PQ_TT_I8);
    pq_buf_u8(t->out, (uint8_t)v);
}

void pq_thrift_i16(struct pq_thrift *t, int16_t id, int16_t v)
{
    field_header(t, id, PQ_TT_I16);
    pq_buf_varint(t->out, pq_zigzag64(v));
}

void pq_thrift_i32(struct pq_thrift *t, int16_t id, int32_t v)
{
    field_header(t, id, PQ_TT_I32);
    pq_buf_varint(t->out, pq_zigzag64(v));
}

void pq_thrift_i64(struct pq_thrift *t, int16_t id, int64_t v)
{
    field_header(t, id, PQ_TT_I64);
    pq_buf_varint(t->out, pq_zigzag64(v));
}

void pq_thrift_bool(struct pq_thrift *t, int16_t id, bool v)
{
    field_header(t, id, v ? PQ_TT_BOOL_TRUE : PQ_TT_BOOL_FALSE);
}

void pq_thrift_binary(struct pq_thrift *t, int16_t id, const void *p, size_t n)
{
    field_header(t, id, PQ_TT_BINARY);
    pq_buf_varint(t->out, n);
    pq_buf_put(t->out, p, n);
}

void pq_thrift_string(struct pq_thrift *t, int16_t id, const char *s)
{
    pq_thrift_binary(t, id, s, strlen(s));
}

void pq_thrift_struct_begin(struct pq_thrift *t, int16_t id)
{
    field_header(t, id, PQ_TT_STRUCT);
    push(t);
}

void pq_thrift_empty_struct(struct pq_thrift *t, int16_t id)
{
    field_header(t, id, PQ_TT_STRUCT);
    pq_buf_u8(t->out, 0);
}

void pq_thrift_struct_raw(struct pq_thrift *t, int16_t id, const uint8_t *body, size_t n)
{
    assert(n > 0 && body[n - 1] == 0);
    field_header(t, id, PQ_TT_STRUCT);
    pq_buf_put(t->out, body, n);
}

void pq_thrift_struct_end(struct pq_thrift *t)
{
    assert(t->depth > 0);
    pq_buf_u8(t->out, 0);
    t->depth--;
}

void pq_thrift_list_begin(struct pq_thrift *t, int16_t id, enum pq_ttype etype, uint32_t n)
{
    field_header(t, id, PQ_TT_LIST);
    if (n < 15) {
        pq_buf_u8(t->out, (uint8_t)(n << 4 | (uint32_t)etype));
    } else {
        pq_buf_u8(t->out, (uint8_t)(0xF0 | (uint32_t)etype));
        pq_buf_varint(t->out, n);
    }
}

void pq_thrift_elem_i32(struct pq_thrift *t, int32_t v)
{
    pq_buf_varint(t->out, pq_zigzag64(v));
}

void pq_thrift_elem_i64(struct pq_thrift *t, int64_t v)
{
    pq_buf_varint(t->out, pq_zigzag64(v));
}

void pq_thrift_elem_bool(struct pq_thrift *t, bool v)
{
    pq_buf_u8(t->out, v ? 1 : 2);
}

void pq_thrift_elem_binary(struct pq_thrift *t, const void *p, size_t n)
{
    pq_buf_varint(t->out, n);
    pq_buf_put(t->out, p, n);
}

void pq_thrift_elem_string(struct pq_thrift *t, const char *s)
{
    pq_thrift_elem_binary(t, s, strlen(s));
}

void pq_thrift_elem_struct_begin(struct pq_thrift *t)
{
    push(t);
}

bool pq_thrift_end(struct pq_thrift *t)
{
    assert(t->depth == 0);
    pq_buf_u8(t->out, 0);
    return !t->out->failed;
}
