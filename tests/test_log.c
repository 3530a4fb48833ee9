/* log.c: every line is one valid JSON object (or one text line), whatever the input. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* Captures what the logger writes: a temporary file as the log fd. */
static FILE *capture;

static void capture_start(enum log_format format, enum log_level level)
{
    capture = tmpfile();
    cr_assert_not_null(capture);
    log_configure(format, level, fileno(capture));
}

static char *capture_text(void)
{
    fflush(capture);
    long size = ftell(capture);
    cr_assert_geq(size, 0);
    char *text = calloc(1, (size_t)size + 1);
    rewind(capture);
    cr_assert_eq(fread(text, 1, (size_t)size, capture), (size_t)size);
    fclose(capture);
    log_configure(LOG_FORMAT_JSON, LOG_INFO, 2);
    return text;
}

/* A strict-enough JSON object checker for one line: balanced quotes with valid escapes,
 * starts with '{', ends with "}\n", no raw control characters, valid UTF-8. */
static bool json_line_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < 3 || s[0] != '{' || s[n - 1] != '\n' || s[n - 2] != '}') return false;
    bool in_string = false;
    for (size_t i = 0; i < n - 1; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20) return false;
        if (in_string && c == '\\') {
            char e = s[++i];
            if (e == 'u') {
                for (int k = 1; k <= 4; k++)
                    if (!strchr("0123456789abcdefABCDEF", s[i + (size_t)k])) return false;
                i += 4;
            } else if (!strchr("\"\\/bfnrt", e)) {
                return false;
            }
        } else if (c == '"') {
            in_string = !in_string;
        } else if (c >= 0x80) {
            size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
            if (len == 0) return false;
            for (size_t k = 1; k < len; k++)
                if (((unsigned char)s[i + k] & 0xC0) != 0x80) return false;
            i += len - 1;
        }
    }
    return !in_string;
}

Test(log, json_line_has_fields_in_order)
{
    capture_start(LOG_FORMAT_JSON, LOG_DEBUG);
    log_info("batch committed", LOG_STR("table", "orders"), LOG_UINT("rows", 5000),
             LOG_INT("delta", -3), LOG_BOOL("retried", false));
    char *text = capture_text();
    cr_assert(json_line_valid(text), "%s", text);
    cr_assert(strncmp(text, "{\"ts\":\"", 7) == 0, "%s", text);
    cr_assert_not_null(strstr(text, "\",\"level\":\"info\",\"msg\":\"batch committed\",\"table\":\"orders\","
                                    "\"rows\":5000,\"delta\":-3,\"retried\":false}\n"), "%s", text);
    /* ts is ISO-8601 UTC with milliseconds: 2026-11-25T10:00:00.123Z */
    const char *ts = text + 7;
    cr_assert_eq(ts[4], '-');
    cr_assert_eq(ts[10], 'T');
    cr_assert_eq(ts[19], '.');
    cr_assert_eq(ts[23], 'Z');
    free(text);
}

Test(log, escapes_quotes_controls_and_invalid_utf8)
{
    capture_start(LOG_FORMAT_JSON, LOG_DEBUG);
    log_warn("bad \"entry\"\n", LOG_STR("value", "a\\b\t\x01\xff\xc3(z"), LOG_STR("ok", "Phở bò 寿司"));
    char *text = capture_text();
    cr_assert(json_line_valid(text), "%s", text);
    cr_assert_not_null(strstr(text, "\"msg\":\"bad \\\"entry\\\"\\n\""), "%s", text);
    cr_assert_not_null(strstr(text, "\"value\":\"a\\\\b\\t\\u0001\\ufffd\\ufffd(z\""), "%s", text);
    cr_assert_not_null(strstr(text, "\"ok\":\"Phở bò 寿司\""), "%s", text);
    free(text);
}

Test(log, level_filter_and_counts)
{
    capture_start(LOG_FORMAT_JSON, LOG_WARN);
    uint64_t info_before = log_count(LOG_INFO), warn_before = log_count(LOG_WARN);
    log_info("hidden");
    log_warn("shown");
    char *text = capture_text();
    cr_assert_null(strstr(text, "hidden"));
    cr_assert_not_null(strstr(text, "shown"));
    cr_assert_eq(log_count(LOG_INFO), info_before + 1, "filtered lines are still counted");
    cr_assert_eq(log_count(LOG_WARN), warn_before + 1);
    free(text);
}

Test(log, overlong_field_is_dropped_and_line_stays_valid)
{
    size_t n = 20000;
    char *big = malloc(n + 1);
    for (size_t i = 0; i < n; i++) big[i] = (char)('a' + i % 26);
    big[n] = '\0';
    capture_start(LOG_FORMAT_JSON, LOG_DEBUG);
    log_error("upload failed", LOG_STR("key", "a/b.parquet"), LOG_STR("body", big), LOG_INT("status", 500));
    char *text = capture_text();
    cr_assert(json_line_valid(text), "line not valid JSON (len %zu)", strlen(text));
    cr_assert_leq(strlen(text), 8192);
    cr_assert_not_null(strstr(text, "\"key\":\"a/b.parquet\""));
    cr_assert_null(strstr(text, "\"body\""), "a field that does not fit is left out whole");
    cr_assert_not_null(strstr(text, "\"truncated\":true}\n"));
    free(text);
    free(big);
}

Test(log, overlong_message_is_cut_at_a_character_boundary)
{
    size_t n = 9000;
    char *msg = malloc(n * 2 + 1);
    for (size_t i = 0; i < n; i++) memcpy(msg + 2 * i, "é", 2);
    msg[2 * n] = '\0';
    capture_start(LOG_FORMAT_JSON, LOG_DEBUG);
    log_info(msg, LOG_INT("n", 1));
    char *text = capture_text();
    cr_assert(json_line_valid(text), "cut message left invalid JSON or UTF-8");
    cr_assert_not_null(strstr(text, "\"truncated\":true}\n"));
    free(text);
    free(msg);
}

Test(log, text_format)
{
    capture_start(LOG_FORMAT_TEXT, LOG_DEBUG);
    log_error("connect failed", LOG_STR("addr", "127.0.0.1:6390"), LOG_STR("why", "connection refused"),
              LOG_F64("ratio", 0.5));
    char *text = capture_text();
    cr_assert_not_null(strstr(text, "Z ERROR connect failed addr=127.0.0.1:6390 why=\"connection refused\" ratio=0.5\n"),
                       "%s", text);
    free(text);
}

Test(log, parse_level_and_format)
{
    enum log_level l;
    enum log_format f;
    cr_assert(log_parse_level("debug", &l) && l == LOG_DEBUG);
    cr_assert(log_parse_level("warning", &l) && l == LOG_WARN);
    cr_assert(!log_parse_level("verbose", &l));
    cr_assert(log_parse_format("text", &f) && f == LOG_FORMAT_TEXT);
    cr_assert(!log_parse_format("yaml", &f));
}
