/* put: `lakewriter put FILE KEY` uploads a local file to the configured bucket through
 * the writer's own uploader (PutObject, or multipart above s3.part_size) and prints
 * the key, the size and the ETag. */
#ifndef LW_PUT_H
#define LW_PUT_H

#include "config.h"

/* Uploads `path` to `key` (used as given: s3.prefix is not added). Prints
 * "size=<bytes> etag=<etag> parts=<n> key=<key>" (the key last:
 * everything after "key=") on stdout on success. Returns the
 * exit status: 0 uploaded, 1 failed (the reason is logged and printed on stderr),
 * 2 io_uring unavailable. The file is read with plain blocking reads: put is a
 * command-line tool, not the service's loop. */
int put_main(const struct config *cfg, const char *path, const char *key);

#endif
