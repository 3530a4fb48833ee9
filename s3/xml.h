/* xml: a minimal, safe reader for the small XML bodies S3 answers with.
 *
 * Not a general XML parser: it walks elements with a bounded stack (no recursion,
 * no allocation), skips the prolog, comments and attributes, refuses DOCTYPE
 * (so no entity definitions), and decodes the five predefined entities and
 * numeric character references in text. That is enough for
 *
 *   <Error><Code>SlowDown</Code><Message>Please reduce ...</Message>
 *          <RequestId>...</RequestId></Error>
 *   <InitiateMultipartUploadResult>...<UploadId>abc</UploadId>...
 *   <CompleteMultipartUploadResult>...<ETag>&quot;3858f6...-9&quot;</ETag>...
 *
 * and for telling a real CompleteMultipartUpload result from a 200 response
 * whose body is an <Error> or was cut short (S3 sends whitespace while it
 * assembles the object, so the body is only known good once its root closes).
 */
#ifndef LW_S3_XML_H
#define LW_S3_XML_H

#include <stdbool.h>
#include <stddef.h>

enum {
    S3_XML_DEPTH_MAX = 16,      /* element nesting */
    S3_XML_NAME_MAX = 64,       /* bytes of an element name */
    S3_XML_CODE_MAX = 64,       /* <Code>: "NoSuchUpload", "SlowDown" */
    S3_XML_MESSAGE_MAX = 512,   /* <Message>, truncated beyond */
    S3_XML_ID_MAX = 128,        /* <RequestId>, <HostId> is not kept */
};

enum s3_xml_status {
    S3_XML_OK = 0,
    S3_XML_NOT_FOUND,   /* well formed so far, but no such element (or another root) */
    S3_XML_EMPTY,       /* no element at all (empty or whitespace-only body) */
    S3_XML_TRUNCATED,   /* the body ends inside the document */
    S3_XML_MALFORMED,   /* not the XML this reader accepts */
    S3_XML_TOO_DEEP,    /* nesting over S3_XML_DEPTH_MAX or a name over S3_XML_NAME_MAX */
    S3_XML_TOO_LONG,    /* the value does not fit the output (a truncated copy is kept) */
};

/* Checks the whole document: one root element, properly nested and closed.
 * Writes the root's name to root[0..cap) (NUL-terminated, may be NULL/0). */
enum s3_xml_status s3_xml_check(const char *xml, size_t len, char *root, size_t cap);

/* Copies the decoded text of the first element at `path` ("Error/Code": names from
 * the root, '/'-separated) into out[0..cap), NUL-terminated, and its length to
 * *out_len (may be NULL). Text of child elements is not included. On
 * S3_XML_TOO_LONG, out holds the longest prefix that fits, cut at a UTF-8
 * character boundary. */
enum s3_xml_status s3_xml_get(const char *xml, size_t len, const char *path, char *out,
                              size_t cap, size_t *out_len);

/* The fields of an S3 <Error> body. Missing ones are "". */
struct s3_xml_error {
    char code[S3_XML_CODE_MAX];
    char message[S3_XML_MESSAGE_MAX];
    char request_id[S3_XML_ID_MAX];
};

/* Fills `e` if the body's root is <Error> (S3_XML_OK); S3_XML_NOT_FOUND if the
 * root is something else; otherwise why the body could not be read. */
enum s3_xml_status s3_xml_parse_error(const char *xml, size_t len, struct s3_xml_error *e);

enum s3_xml_verdict {
    S3_XML_VERDICT_OK,      /* complete document whose root is the expected one */
    S3_XML_VERDICT_ERROR,   /* complete document whose root is <Error> */
    S3_XML_VERDICT_BROKEN,  /* empty, truncated, malformed, or another root */
};

/* What a 2xx body really says, for CompleteMultipartUpload and the like:
 * anything but VERDICT_OK is to be handled as a server error and retried. */
enum s3_xml_verdict s3_xml_verdict(const char *xml, size_t len, const char *expected_root);

const char *s3_xml_strerror(enum s3_xml_status status);

#endif
