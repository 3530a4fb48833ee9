/* lakewriter: Redis Streams -> typed Parquet -> S3. The command line. */
#include <stdio.h>
#include <string.h>

#include "version.h"

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "run";
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        version_print(stdout);
        return 0;
    }
    fprintf(stderr, "lakewriter: unknown command '%s'\n", cmd);
    return 2;
}
