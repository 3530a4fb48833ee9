/* version: what this binary is and what it was built from. */
#ifndef LW_VERSION_H
#define LW_VERSION_H

#include <stdio.h>

/* The release version, "X.Y.Z". */
const char *version_string(void);

/* The git commit the binary was built from (12 hex digits, or "unknown"). */
const char *version_commit(void);

/* The Parquet `created_by` value: "lakewriter version X.Y.Z (build <sha>)". */
const char *version_created_by(void);

/* Prints the version, the commit and the bundled libraries' versions to `out`. */
void version_print(FILE *out);

#endif
