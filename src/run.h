/* run: the writer's main job (`lakewriter run`), on the one io_uring loop. */
#ifndef LW_RUN_H
#define LW_RUN_H

#include <stdint.h>

struct run_options {
    uint32_t shutdown_timeout_ms; /* graceful drain deadline after SIGTERM/SIGINT */
};

/* Runs until stopped by a signal; returns the process exit status:
 * 0 after a graceful stop, 2 if io_uring is unavailable (the message says why),
 * 1 on other start-up failures, 130 when a second signal stops it at once. */
int run_main(const struct run_options *opt);

#endif
