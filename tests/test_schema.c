/* schema.c: every type string, decimal bounds, names, metadata, partitioning. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "schema.h"

static struct schema_column type_ok(const char *text)
{
    struct schema_column c = { 0 };
    struct lw_err e = { 0 };
    cr_assert(schema_parse_type(text, &c, &e), "'%s' refused: %s", text, e.msg);
    return c;
}

static void type_err(const char *text, const char *want)
{
    struct schema_column c = { 0 };
    struct lw_err e = { 0 };
    cr_assert_not(schema_parse_type(text, &c, &e), "'%s' accepted", text);
    cr_expect(strstr(e.msg, want) != NULL, "'%s': message '%s' lacks '%s'", text, e.msg, want);
}

/* Parses, formats and compares with the canonical text. */
static void roundtrip(const char *text, const char *canonical)
{
    struct schema_column c = type_ok(text);
    char buf[64];
    cr_expect_str_eq(schema_format_type(&c, buf, sizeof buf), canonical, "'%s'", text);
}

Test(schema, every_primitive_type)
{
    static const struct {
        const char *text;
        enum schema_type type;
    } cases[] = {
        { "string", SCHEMA_STRING },       { "bool", SCHEMA_BOOL },
        { "int8", SCHEMA_INT8 },           { "int16", SCHEMA_INT16 },
        { "int32", SCHEMA_INT32 },         { "int64", SCHEMA_INT64 },
        { "float", SCHEMA_FLOAT },         { "double", SCHEMA_DOUBLE },
        { "date", SCHEMA_DATE },           { "timestamp", SCHEMA_TIMESTAMP },
        { "timestamp_ntz", SCHEMA_TIMESTAMP_NTZ }, { "json", SCHEMA_JSON },
        { "uuid", SCHEMA_UUID },           { "binary", SCHEMA_BINARY },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct schema_column c = type_ok(cases[i].text);
        cr_expect_eq(c.type, cases[i].type, "%s", cases[i].text);
        cr_expect_not(c.required);
        cr_expect_str_eq(schema_type_name(c.type), cases[i].text);
        roundtrip(cases[i].text, cases[i].text);
        char nn[64];
        snprintf(nn, sizeof nn, "%s not null", cases[i].text);
        c = type_ok(nn);
        cr_expect(c.required);
        roundtrip(nn, nn);
    }
}

Test(schema, decimals_and_their_bounds)
{
    struct schema_column c = type_ok("decimal(10,2)");
    cr_expect_eq(c.type, SCHEMA_DECIMAL);
    cr_expect_eq(c.precision, 10);
    cr_expect_eq(c.scale, 2);
    roundtrip("decimal(1,0)", "decimal(1,0)");
    roundtrip("decimal(38,38)", "decimal(38,38)");
    roundtrip("decimal(38,0) not null", "decimal(38,0) not null");
    roundtrip("DECIMAL ( 10 , 2 )  NOT  NULL", "decimal(10,2) not null");
    type_err("decimal(40,2)", "'decimal(40,2)': precision must be 1..38");
    type_err("decimal(39,0)", "precision must be 1..38");
    type_err("decimal(0,0)", "precision must be 1..38");
    type_err("decimal(10,11)", "scale must be 0..precision (10)");
    type_err("decimal(99999999999,2)", "precision must be 1..38");
    type_err("decimal", "decimal needs a precision and a scale, as decimal(10,2)");
    type_err("decimal(10)", "expected ',' and the scale");
    type_err("decimal(10,)", "expected the scale");
    type_err("decimal(,2)", "expected the precision");
    type_err("decimal(10,2", "expected ')'");
    type_err("decimal(-1,2)", "unexpected '-'");
}

Test(schema, lists)
{
    struct schema_column c = type_ok("list<string>");
    cr_expect_eq(c.type, SCHEMA_LIST);
    cr_expect_eq(c.elem, SCHEMA_STRING);
    c = type_ok("list<decimal(12,4)> not null");
    cr_expect_eq(c.elem, SCHEMA_DECIMAL);
    cr_expect_eq(c.precision, 12);
    cr_expect_eq(c.scale, 4);
    cr_expect(c.required);
    roundtrip("list < int64 >", "list<int64>");
    roundtrip("List<UUID> not null", "list<uuid> not null");
    roundtrip("list<timestamp_ntz>", "list<timestamp_ntz>");
    type_err("list<list<int64>>", "lists of lists are not supported");
    type_err("list", "expected '<' and the element type");
    type_err("list<string", "expected '>' to close list<");
    type_err("list<>", "expected a type name, found '>'");
    type_err("list<decimal(50,1)>", "precision must be 1..38");
    type_err("list<strng>", "did you mean string?");
}

Test(schema, errors_and_hints)
{
    type_err("", "empty type");
    type_err("   ", "empty type");
    type_err("decimel(10,2)", "'decimel(10,2)': unknown type 'decimel' (did you mean decimal?)");
    type_err("timestmp", "did you mean timestamp?");
    type_err("bigint", "unknown type 'bigint'; use int64");
    type_err("text", "use string");
    type_err("boolean", "use bool");
    type_err("jsonb", "use json");
    type_err("timestamptz", "use timestamp");
    type_err("numeric(10,2)", "use decimal(P,S)");
    type_err("uint64", "use decimal(20,0)");
    type_err("frobnicate", "types: string, bool");
    type_err("string not", "expected 'not null'");
    type_err("string not nul", "expected 'not null'");
    type_err("string null", "nullable by default");
    type_err("not null", "the type name comes first");
    type_err("int64 int64", "unexpected 'int64' after the type");
    type_err("string(10)", "string takes no arguments");
    type_err("int64;", "unexpected ';'");
    type_err("int64\x01", "unexpected byte 0x01");
    type_err("1nt", "expected a type name, found '1'");
    type_err("a a a a a a a a a a a a a a", "is not a column type");
    type_err("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "is not a column type");
    char long_text[SCHEMA_TYPE_TEXT_MAX + 8];
    memset(long_text, ' ', sizeof long_text - 1);
    long_text[sizeof long_text - 1] = '\0';
    type_err(long_text, "longer than 128 bytes");
}

Test(schema, tables_columns_and_names)
{
    struct schema s = { 0 };
    struct lw_err e = { 0 };
    struct schema_table *t = schema_add_table(&s, "orders", 3, &e);
    cr_assert_not_null(t, "%s", e.msg);
    cr_expect_eq(t->partition_column, SCHEMA_PARTITION_ENTRY_TIME);
    cr_expect_eq(t->metadata, SCHEMA_META_STREAM_ID);
    cr_expect_eq(t->epoch_unit, SCHEMA_EPOCH_MS);
    cr_expect(schema_add_column(t, "order_id", "uuid not null", 5, &e));
    cr_expect(schema_add_column(t, "subtotal", "decimal(10,2) not null", 6, &e));
    cr_expect(schema_add_column(t, "Crème brûlée", "string", 7, &e), "%s", e.msg);
    cr_expect_eq(t->column_count, 3);
    cr_expect_str_eq(t->columns[1].name, "subtotal");
    cr_expect_eq(t->columns[1].line, 6);
    cr_expect_eq(schema_column_index(t, "subtotal"), 1);
    cr_expect_eq(schema_column_index(t, "missing"), -1);

    cr_expect_not(schema_add_column(t, "order_id", "string", 9, &e));
    cr_expect(strstr(e.msg, "declared twice (first on line 5)") != NULL, "%s", e.msg);
    cr_expect_not(schema_add_column(t, "Order_ID", "string", 9, &e));
    cr_expect(strstr(e.msg, "only in case") != NULL, "%s", e.msg);
    cr_expect_not(schema_add_column(t, "_stream_id", "string", 9, &e));
    cr_expect(strstr(e.msg, "metadata column (always present)") != NULL, "%s", e.msg);
    cr_expect_not(schema_add_column(t, "", "string", 9, &e));
    cr_expect(strstr(e.msg, "empty") != NULL);
    cr_expect_not(schema_add_column(t, "a\tb", "string", 9, &e));
    cr_expect(strstr(e.msg, "control character") != NULL);
    cr_expect_not(schema_add_column(t, "bad\xff", "string", 9, &e));
    cr_expect(strstr(e.msg, "UTF-8") != NULL);
    cr_expect_not(schema_add_column(t, "tip", "decimal(40,2)", 9, &e));
    cr_expect(strstr(e.msg, "precision must be 1..38") != NULL);
    char longname[SCHEMA_NAME_MAX + 2];
    memset(longname, 'c', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    cr_expect_not(schema_add_column(t, longname, "string", 9, &e));
    cr_expect_eq(t->column_count, 3);

    cr_expect_null(schema_add_table(&s, "orders", 20, &e));
    cr_expect(strstr(e.msg, "defined twice (first on line 3)") != NULL);
    cr_expect_null(schema_add_table(&s, "", 20, &e));
    cr_expect_null(schema_add_table(&s, "a/b", 20, &e));
    cr_expect(strstr(e.msg, "object keys") != NULL);
    cr_expect_null(schema_add_table(&s, ".hidden", 20, &e));
    cr_expect_null(schema_add_table(&s, "-x", 20, &e));
    cr_expect_null(schema_add_table(&s, longname, 20, &e));
    cr_expect(schema_check_table_name("order_items-v2.x", &e));
    cr_expect_not_null(schema_find_table(&s, "orders"));
    cr_expect_null(schema_find_table(&s, "order"));
    schema_free(&s);
    cr_expect_eq(s.table_count, 0);
}

Test(schema, metadata_columns)
{
    struct schema s = { 0 };
    struct lw_err e = { 0 };
    struct schema_table *t = schema_add_table(&s, "t", 1, &e);
    cr_expect(schema_add_metadata(t, "_stream", &e));
    cr_expect(schema_add_metadata(t, "_ingested_at", &e));
    cr_expect(schema_add_metadata(t, "_stream_id", &e));
    cr_expect_eq(t->metadata, SCHEMA_META_STREAM_ID | SCHEMA_META_STREAM | SCHEMA_META_INGESTED_AT);
    cr_expect_not(schema_add_metadata(t, "_ingest_at", &e));
    cr_expect(strstr(e.msg, "did you mean _ingested_at?") != NULL, "%s", e.msg);
    cr_expect_not(schema_add_metadata(t, "whatever", &e));
    cr_expect(strstr(e.msg, "metadata columns: _stream, _ingested_at") != NULL);
    cr_expect_not(schema_add_column(t, "_stream", "string", 4, &e));
    cr_expect_not(schema_add_column(t, "_INGESTED_AT", "timestamp", 4, &e));
    cr_expect_str_eq(schema_meta_name(SCHEMA_META_INGESTED_AT), "_ingested_at");
    cr_expect_eq(schema_meta_type(SCHEMA_META_INGESTED_AT), SCHEMA_TIMESTAMP);
    cr_expect_eq(schema_meta_type(SCHEMA_META_STREAM_ID), SCHEMA_STRING);

    /* In the other order: a declared column first, then the metadata it would shadow. */
    struct schema_table *u = schema_add_table(&s, "u", 2, &e);
    cr_expect(schema_add_column(u, "_stream", "string", 7, &e));
    cr_expect_not(schema_add_metadata(u, "_stream", &e));
    cr_expect(strstr(e.msg, "clashes with the declared column '_stream' (line 7)") != NULL, "%s", e.msg);
    schema_free(&s);
}

Test(schema, partition_column)
{
    struct schema s = { 0 };
    struct lw_err e = { 0 };
    struct schema_table *t = schema_add_table(&s, "t", 1, &e);
    cr_assert(schema_add_column(t, "status", "string", 2, &e));
    cr_assert(schema_add_column(t, "created_at", "timestamp not null", 3, &e));
    cr_assert(schema_add_column(t, "day", "date", 4, &e));
    cr_assert(schema_add_column(t, "local", "timestamp_ntz", 5, &e));
    cr_expect(schema_set_partition(t, "created_at", &e));
    cr_expect_eq(t->partition_column, 1);
    cr_expect(schema_set_partition(t, "day", &e));
    cr_expect(schema_set_partition(t, "local", &e));
    cr_expect_not(schema_set_partition(t, "status", &e));
    cr_expect(strstr(e.msg, "column 'status' is string; the partition column must be a timestamp") != NULL, "%s",
              e.msg);
    cr_expect_not(schema_set_partition(t, "created", &e));
    cr_expect(strstr(e.msg, "not a column of table 't'") != NULL);
    cr_expect_not(schema_set_partition(t, "creatd_at", &e));
    cr_expect(strstr(e.msg, "did you mean created_at?") != NULL, "%s", e.msg);
    cr_expect_eq(t->partition_column, 3);
    schema_free(&s);
}

Test(schema, epoch_units)
{
    enum schema_epoch_unit u;
    const char *names[] = { "s", "ms", "us", "ns" };
    for (int i = 0; i < 4; i++) {
        cr_expect(schema_parse_epoch_unit(names[i], &u));
        cr_expect_eq((int)u, i);
        cr_expect_str_eq(schema_epoch_unit_name(u), names[i]);
    }
    cr_expect_not(schema_parse_epoch_unit("sec", &u));
    cr_expect_not(schema_parse_epoch_unit("", &u));
}

Test(schema, limits_on_tables_and_columns)
{
    struct schema s = { 0 };
    struct lw_err e = { 0 };
    char name[32];
    for (int i = 0; i < SCHEMA_TABLES_MAX; i++) {
        snprintf(name, sizeof name, "t%d", i);
        cr_assert_not_null(schema_add_table(&s, name, 1, &e), "%s", e.msg);
    }
    cr_expect_null(schema_add_table(&s, "one_more", 1, &e));
    cr_expect(strstr(e.msg, "more than 256 tables") != NULL);
    struct schema_table *t = &s.tables[0];
    for (int i = 0; i < SCHEMA_COLUMNS_MAX; i++) {
        snprintf(name, sizeof name, "c%d", i);
        cr_assert(schema_add_column(t, name, "int64", (uint32_t)i, &e), "%s", e.msg);
    }
    cr_expect_not(schema_add_column(t, "one_more", "int64", 1, &e));
    cr_expect(strstr(e.msg, "more than 1024 columns") != NULL);
    cr_expect_str_eq(t->columns[SCHEMA_COLUMNS_MAX - 1].name, "c1023");
    schema_free(&s);
}
