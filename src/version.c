#include "version.h"

#include <zstd.h>

#include "build_info.h"

const char *version_string(void) { return LW_VERSION; }

const char *version_commit(void) { return LW_COMMIT; }

const char *version_created_by(void)
{
    return "lakewriter version " LW_VERSION " (build " LW_COMMIT ")";
}

/* The Debian source package versions come from scripts/deps.lock at build time;
 * zstd's is also asked from the library itself, as a check that the pin and the
 * linked code agree. */
void version_print(FILE *out)
{
    fprintf(out, "lakewriter %s (commit %s)\n", LW_VERSION, LW_COMMIT);
    fprintf(out, "  liburing %s\n", LW_DEP_LIBURING);
    fprintf(out, "  zstd     %s (library reports %s)\n", LW_DEP_ZSTD, ZSTD_versionString());
    fprintf(out, "  BearSSL  %s\n", LW_DEP_BEARSSL);
    fprintf(out, "  hiredis  %s (RESP reader only)\n", LW_DEP_HIREDIS);
}
