#include "put.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "upload.h"

struct put {
    struct loop *loop;
    struct upload_service svc;
    struct upload_job job;
    const char *path;
    const char *key;
    int fd;
    uint64_t size_bytes;        /* at start; a file that changes size is an error */
    uint64_t read_bytes;
    int status;                 /* exit status once done */
    bool uploading;
};

/* The producer: the next bytes of the file. */
static size_t put_produce(void *context, uint8_t *buf, size_t cap, bool *end, struct lw_err *err)
{
    struct put *p = context;
    ssize_t n;
    do {
        n = read(p->fd, buf, cap);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        lw_err_set(err, 1, "read %s: %s", p->path, strerror(errno));
        return 0;
    }
    p->read_bytes += (uint64_t)n;
    if (n == 0) {
        if (p->read_bytes != p->size_bytes) {
            lw_err_set(err, 1, "%s changed size while being uploaded (%llu bytes, then %llu)", p->path,
                       (unsigned long long)p->size_bytes, (unsigned long long)p->read_bytes);
            return 0;
        }
        *end = true;
    }
    return (size_t)n;
}

static void put_closed(struct upload_service *svc, void *context)
{
    (void)svc;
    struct put *p = context;
    loop_stop(p->loop);
}

static void put_done(struct upload_job *job, void *context, const struct s3_upload_result *result,
                     const struct s3_upload_error *err)
{
    (void)job;
    struct put *p = context;
    p->uploading = false;
    if (result != NULL) {
        /* The key last: it may hold spaces; everything after "key=" is the key. */
        printf("size=%llu etag=%s parts=%u key=%s\n", (unsigned long long)result->size_bytes, result->etag,
               result->part_count, p->key);
        fflush(stdout);
        log_info("uploaded", LOG_STR("key", p->key), LOG_UINT("size_bytes", result->size_bytes),
                 LOG_STR("etag", result->etag), LOG_UINT("parts", result->part_count),
                 LOG_UINT("requests", result->requests), LOG_UINT("retries", result->retries));
        p->status = 0;
    } else {
        log_error("upload failed", LOG_STR("key", p->key), LOG_STR("error", err->msg),
                  LOG_INT("http_status", err->http_status), LOG_STR("s3_code", err->s3_code),
                  LOG_STR("request_id", err->request_id));
        fprintf(stderr, "lakewriter put: %s\n", err->msg);
        p->status = 1;
    }
    upload_service_close(&p->svc, put_closed, p);
}

/* SIGTERM/SIGINT: give the upload up (a multipart upload is aborted). */
static void put_stop(struct loop *loop, void *context)
{
    (void)loop;
    struct put *p = context;
    if (p->uploading) upload_job_abort(&p->job, "stopped by a signal");
}

int put_main(const struct config *cfg, const char *path, const char *key)
{
    struct put *p = calloc(1, sizeof *p);
    struct loop *loop = calloc(1, sizeof *loop);
    if (p == NULL || loop == NULL) {
        fprintf(stderr, "lakewriter put: out of memory\n");
        return 1;
    }
    p->loop = loop;
    p->path = path;
    p->key = key;
    p->status = 1;
    p->fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (p->fd < 0 || fstat(p->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        fprintf(stderr, "lakewriter put: %s: %s\n", path, p->fd < 0 ? strerror(errno) : "not a regular file");
        if (p->fd >= 0) close(p->fd);
        free(p), free(loop);
        return 1;
    }
    p->size_bytes = (uint64_t)st.st_size;
    if (key[0] == '\0') {
        fprintf(stderr, "lakewriter put: the key is empty\n");
        close(p->fd);
        free(p), free(loop);
        return 1;
    }

    struct lw_err err = { 0 };
    int status = 1;
    if (!loop_init(loop, &err)) {
        log_error("cannot start", LOG_STR("error", err.msg));
        fprintf(stderr, "lakewriter: %s\n", err.msg);
        status = err.code == LOOP_E_UNAVAILABLE ? 2 : 1;
        goto out;
    }
    if (!upload_service_init(&p->svc, loop, cfg, &err)) {
        log_error("cannot upload", LOG_STR("error", err.msg));
        fprintf(stderr, "lakewriter put: %s\n", err.msg);
        loop_deinit(loop);
        goto out;
    }
    loop_set_stop_handler(loop, put_stop, p);
    p->uploading = true;
    upload_job_start(&p->svc, &p->job, (const uint8_t *)key, strlen(key), put_produce, put_done, p);
    enum loop_run_status run = loop_run(loop);
    status = run == LOOP_RUN_HARD_STOP ? 130 : p->status;
    loop_deinit(loop);
out:
    close(p->fd);
    free(p);
    free(loop);
    return status;
}
