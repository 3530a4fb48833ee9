/* run: `lakewriter run` on the one io_uring loop. See run.h.
 *
 * Stopping: the first SIGTERM/SIGINT logs "stopping" and starts a graceful stop: the
 * work in flight is drained (nothing yet; later the consumer's batches and uploads),
 * bounded by opt->shutdown_timeout_ms; then loop_run returns and we exit 0. A second
 * signal makes the loop return at once and we exit 130. */
#include "run.h"

#include <stdio.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "version.h"

struct run_state {
    const struct run_options *opt;
    struct loop *loop;
    bool stopping;
    struct loop_op shutdown_timer;
};

/* True when nothing is left to finish before exiting. Later: no batch buffered or
 * being uploaded, no acknowledgement in flight. */
static bool run_drained(const struct run_state *s)
{
    (void)s;
    return true;
}

/* Stops the loop once drained; the components call it as their work finishes. */
static void run_stop_if_drained(struct run_state *s)
{
    if (!s->stopping || !run_drained(s)) return;
    loop_timer_cancel(s->loop, &s->shutdown_timer);
    loop_stop(s->loop);
}

static void on_shutdown_timeout(struct loop *loop, struct loop_op *op)
{
    struct run_state *s = op->context;
    log_warn("shutdown timeout: stopping with work in flight",
             LOG_UINT("shutdown_timeout_ms", s->opt->shutdown_timeout_ms));
    loop_stop(loop);
}

static void on_stop_signal(struct loop *loop, void *context)
{
    struct run_state *s = context;
    log_info("stopping", LOG_UINT("shutdown_timeout_ms", s->opt->shutdown_timeout_ms));
    s->stopping = true;
    loop_timer_start(loop, &s->shutdown_timer, s->opt->shutdown_timeout_ms, on_shutdown_timeout, s);
    run_stop_if_drained(s);
}

int run_main(const struct run_options *opt)
{
    struct loop loop;
    struct lw_err err;
    if (!loop_init(&loop, &err)) {
        log_error("cannot start", LOG_STR("error", err.msg));
        fprintf(stderr, "lakewriter: %s\n", err.msg);
        return err.code == LOOP_E_UNAVAILABLE ? 2 : 1;
    }
    struct run_state state = { .opt = opt, .loop = &loop };
    loop_set_stop_handler(&loop, on_stop_signal, &state);
    log_info("lakewriter started", LOG_STR("version", version_string()),
             LOG_STR("commit", version_commit()), LOG_INT("pid", getpid()),
             LOG_STR("io_uring", loop_mode(&loop)));

    enum loop_run_status status = loop_run(&loop);
    int exit_status = 1;
    switch (status) {
    case LOOP_RUN_STOPPED:
        log_info("stopped");
        exit_status = 0;
        break;
    case LOOP_RUN_HARD_STOP:
        log_warn("second signal: stopping now");
        exit_status = 130;
        break;
    case LOOP_RUN_FAILED:
    case LOOP_RUN_CONTINUE:
        log_error("the event loop failed");
        break;
    }
    loop_deinit(&loop);
    return exit_status;
}
