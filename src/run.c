/* Placeholder until the loop lands: see run.h. */
#include "run.h"

#include "log.h"

int run_main(const struct run_options *opt)
{
    (void)opt;
    log_error("the run command is not built yet");
    return 1;
}
