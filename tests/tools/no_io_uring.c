/* no_io_uring: run a program where io_uring is refused, as in a Docker 25+ container.
 *
 *     no_io_uring EPERM|ENOSYS|EOPNOTSUPP <program> [args...]
 *
 * Installs a seccomp filter (raw BPF through prctl, no libseccomp) that makes
 * io_uring_setup, io_uring_enter and io_uring_register fail with the given errno, then
 * execs the program. Docker's default profile answers EPERM; kernels without io_uring
 * answer ENOSYS; some managed Kubernetes sandboxes answer EOPNOTSUPP. The filter is
 * inherited across exec (PR_SET_NO_NEW_PRIVS makes that allowed without privileges).
 * Exits 127 if it cannot set up or exec. */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define FILTER_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define FILTER_ARCH AUDIT_ARCH_AARCH64
#else
#error "no_io_uring: unknown seccomp architecture"
#endif

static int errno_parse(const char *name)
{
    if (strcmp(name, "EPERM") == 0) return EPERM;
    if (strcmp(name, "ENOSYS") == 0) return ENOSYS;
    if (strcmp(name, "EOPNOTSUPP") == 0) return EOPNOTSUPP;
    return 0;
}

/* Other architectures' syscalls (e.g. 32-bit) pass: the filter is for our binary. */
static int filter_install(int errno_value)
{
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, FILTER_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 3, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_enter, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_register, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((uint32_t)errno_value & SECCOMP_RET_DATA)),
    };
    struct sock_fprog prog = { .len = sizeof filter / sizeof filter[0], .filter = filter };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

int main(int argc, char **argv)
{
    int errno_value = argc >= 3 ? errno_parse(argv[1]) : 0;
    if (errno_value == 0) {
        fprintf(stderr, "usage: no_io_uring EPERM|ENOSYS|EOPNOTSUPP <program> [args...]\n");
        return 127;
    }
    if (filter_install(errno_value) != 0) {
        fprintf(stderr, "no_io_uring: cannot install the seccomp filter: %s\n", strerror(errno));
        return 127;
    }
    execvp(argv[2], argv + 2);
    fprintf(stderr, "no_io_uring: cannot run %s: %s\n", argv[2], strerror(errno));
    return 127;
}
