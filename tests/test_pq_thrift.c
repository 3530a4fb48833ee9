/* parquet/pq_thrift: the compact protocol writer against hand-computed bytes. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "parquet/pq_thrift.h"

static struct pq_mem mem;
static struct pq_buf out;
static struct pq_thrift t;

static void setup(void)
{
    pq_mem_init(&mem, NULL, NULL, 0);
    pq_buf_init(&out, &mem);
    pq_thrift_init(&t, &out);
}

static void teardown(void)
{
    pq_buf_free(&out);
    cr_assert_eq(mem.used_bytes, 0);
}

TestSuite(pq_thrift, .init = setup, .fini = teardown);

#define EXPECT_BYTES(...)                                                                   \
    do {                                                                                    \
        const uint8_t want[] = {__VA_ARGS__};                                               \
        cr_assert(pq_thrift_end(&t));                                                       \
        cr_assert_eq(out.len, sizeof want, "length %zu, expected %zu", out.len, sizeof want); \
        for (size_t i_ = 0; i_ < sizeof want; i_++)                                         \
            cr_assert_eq(out.data[i_], want[i_], "byte %zu: 0x%02x, expected 0x%02x", i_,    \
                         out.data[i_], want[i_]);                                           \
    } while (0)

Test(pq_thrift, short_field_headers_carry_the_delta)
{
    pq_thrift_i32(&t, 1, 1);       /* 0x15 = delta 1, I32; zigzag(1) = 2 */
    pq_thrift_i32(&t, 3, -1);      /* delta 2: 0x25; zigzag(-1) = 1 */
    pq_thrift_i64(&t, 18, 3);      /* delta 15: 0xF6; zigzag(3) = 6 */
    EXPECT_BYTES(0x15, 0x02, 0x25, 0x01, 0xF6, 0x06, 0x00);
}

Test(pq_thrift, long_field_ids_and_going_back)
{
    pq_thrift_i32(&t, 1, 0);       /* 0x15 0x00 */
    pq_thrift_i32(&t, 20, 0);      /* delta 19 > 15: type byte 0x05, zigzag(20) = 40 */
    pq_thrift_i32(&t, 2, 0);       /* going back: 0x05, zigzag(2) = 4 */
    pq_thrift_i32(&t, 300, 0);     /* zigzag(300) = 600 = 0xD8 0x04 */
    EXPECT_BYTES(0x15, 0x00, 0x05, 0x28, 0x00, 0x05, 0x04, 0x00, 0x05, 0xD8, 0x04, 0x00, 0x00);
}

Test(pq_thrift, zigzag_varints)
{
    cr_assert_eq(pq_zigzag64(0), 0);
    cr_assert_eq(pq_zigzag64(-1), 1);
    cr_assert_eq(pq_zigzag64(1), 2);
    cr_assert_eq(pq_zigzag64(-64), 127);
    cr_assert_eq(pq_zigzag64(INT64_MAX), UINT64_MAX - 1);
    cr_assert_eq(pq_zigzag64(INT64_MIN), UINT64_MAX);
    pq_thrift_i64(&t, 1, -65);              /* 129: 0x81 0x01 */
    pq_thrift_i64(&t, 2, INT64_MIN);        /* 2^64 - 1: nine 0xFF then 0x01 */
    pq_thrift_i32(&t, 3, INT32_MAX);        /* 2^32 - 2: FE FF FF FF 0F */
    EXPECT_BYTES(0x16, 0x81, 0x01, 0x16, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01,
                 0x15, 0xFE, 0xFF, 0xFF, 0xFF, 0x0F, 0x00);
}

Test(pq_thrift, bool_fields_live_in_the_type_nibble)
{
    pq_thrift_bool(&t, 1, true);   /* 0x11 */
    pq_thrift_bool(&t, 2, false);  /* 0x12 */
    pq_thrift_bool(&t, 40, true);  /* long form: 0x01, zigzag(40) = 80 */
    EXPECT_BYTES(0x11, 0x12, 0x01, 0x50, 0x00);
}

Test(pq_thrift, i8_i16_binary_string)
{
    pq_thrift_i8(&t, 1, 8);                 /* 0x13 then one raw byte */
    pq_thrift_i8(&t, 2, -1);                /* 0x13 0xFF */
    pq_thrift_i16(&t, 7, -3);               /* delta 5: 0x54; zigzag(-3) = 5 */
    pq_thrift_binary(&t, 8, "ab\0", 3);     /* 0x18, length 3, bytes */
    pq_thrift_string(&t, 9, "");            /* 0x18, length 0 */
    EXPECT_BYTES(0x13, 0x08, 0x13, 0xFF, 0x54, 0x05, 0x18, 0x03, 'a', 'b', 0x00, 0x18, 0x00, 0x00);
}

Test(pq_thrift, nested_structs_restore_the_field_id)
{
    pq_thrift_i32(&t, 4, 1);                /* 0x45 0x02 */
    pq_thrift_struct_begin(&t, 5);          /* 0x1C */
    pq_thrift_i32(&t, 1, 5);                /*   0x15 0x0A: ids restart at 0 inside */
    pq_thrift_struct_begin(&t, 3);          /*   0x2C */
    pq_thrift_empty_struct(&t, 2);          /*     0x2C 0x00 */
    pq_thrift_struct_end(&t);               /*   0x00 */
    pq_thrift_struct_end(&t);               /* 0x00 */
    pq_thrift_i32(&t, 6, 0);                /* delta from 5: 0x15 0x00 */
    EXPECT_BYTES(0x45, 0x02, 0x1C, 0x15, 0x0A, 0x2C, 0x2C, 0x00, 0x00, 0x00, 0x15, 0x00, 0x00);
}

Test(pq_thrift, short_and_long_lists)
{
    pq_thrift_list_begin(&t, 2, PQ_TT_I32, 3);   /* 0x29, (3 << 4) | 5 = 0x35 */
    pq_thrift_elem_i32(&t, 1);
    pq_thrift_elem_i32(&t, -2);
    pq_thrift_elem_i32(&t, 64);                  /* zigzag 128: 0x80 0x01 */
    pq_thrift_list_begin(&t, 3, PQ_TT_I64, 15);  /* 0x19, 0xF6 then varint 15 */
    for (int i = 0; i < 15; i++) pq_thrift_elem_i64(&t, 0);
    pq_thrift_list_begin(&t, 4, PQ_TT_BINARY, 0); /* 0x19, 0x08 */
    EXPECT_BYTES(0x29, 0x35, 0x02, 0x03, 0x80, 0x01, 0x19, 0xF6, 0x0F, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                 0, 0, 0, 0, 0, 0x19, 0x08, 0x00);
}

Test(pq_thrift, list_of_bool_is_type_1_with_1_2_bytes)
{
    pq_thrift_list_begin(&t, 1, PQ_TT_BOOL_TRUE, 3);  /* 0x19, 0x31 */
    pq_thrift_elem_bool(&t, true);
    pq_thrift_elem_bool(&t, false);
    pq_thrift_elem_bool(&t, true);
    EXPECT_BYTES(0x19, 0x31, 0x01, 0x02, 0x01, 0x00);
}

Test(pq_thrift, list_of_structs_and_binaries)
{
    pq_thrift_list_begin(&t, 1, PQ_TT_STRUCT, 2);     /* 0x19 0x2C */
    pq_thrift_elem_struct_begin(&t);
    pq_thrift_empty_struct(&t, 1);                    /* 0x1C 0x00 (TYPE_ORDER) */
    pq_thrift_struct_end(&t);                         /* 0x00 */
    pq_thrift_elem_struct_begin(&t);
    pq_thrift_i64(&t, 3, 1);                          /* 0x36 0x02 */
    pq_thrift_struct_end(&t);
    pq_thrift_list_begin(&t, 2, PQ_TT_BINARY, 2);     /* 0x19 0x28 */
    pq_thrift_elem_string(&t, "a");
    pq_thrift_elem_binary(&t, "", 0);
    EXPECT_BYTES(0x19, 0x2C, 0x1C, 0x00, 0x00, 0x36, 0x02, 0x00, 0x19, 0x28, 0x01, 'a', 0x00, 0x00);
}

Test(pq_thrift, raw_struct_bodies_splice_in)
{
    struct pq_buf body;
    pq_buf_init(&body, &mem);
    struct pq_thrift b;
    pq_thrift_init(&b, &body);
    pq_thrift_i32(&b, 1, 1);
    cr_assert(pq_thrift_end(&b));
    pq_thrift_i64(&t, 2, 0);                          /* 0x26 0x00 */
    pq_thrift_struct_raw(&t, 3, body.data, body.len); /* 0x1C 0x15 0x02 0x00 */
    pq_thrift_i64(&t, 4, 0);                          /* 0x16 0x00 */
    pq_buf_free(&body);
    EXPECT_BYTES(0x26, 0x00, 0x1C, 0x15, 0x02, 0x00, 0x16, 0x00, 0x00);
}

Test(pq_thrift, start_of_a_file_metadata)
{
    /* reference/parquet.md §1.2: 15 02 (version 1), then a list of 3 structs. */
    pq_thrift_i32(&t, 1, 1);
    pq_thrift_list_begin(&t, 2, PQ_TT_STRUCT, 3);
    for (int i = 0; i < 3; i++) {
        pq_thrift_elem_struct_begin(&t);
        pq_thrift_struct_end(&t);
    }
    pq_thrift_i64(&t, 3, 0);
    pq_thrift_string(&t, 6, "x");                    /* delta 3: 0x38 */
    EXPECT_BYTES(0x15, 0x02, 0x19, 0x3C, 0x00, 0x00, 0x00, 0x16, 0x00, 0x38, 0x01, 'x', 0x00);
}

Test(pq_thrift, growth_failure_is_sticky)
{
    struct pq_mem tiny;
    pq_mem_init(&tiny, NULL, NULL, 16);
    struct pq_buf small;
    pq_buf_init(&small, &tiny);
    struct pq_thrift s;
    pq_thrift_init(&s, &small);
    pq_thrift_string(&s, 1, "a string longer than the sixteen bytes allowed");
    cr_assert(small.failed);
    cr_assert_not(pq_thrift_end(&s));
    pq_buf_free(&small);
    cr_assert_eq(tiny.used_bytes, 0);
}
