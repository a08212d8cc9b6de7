/* Runs as init of a sandbox with a small memory limit (sentry/tests/memory_limit.rs).
 * Prints one line per check; exits 0 when every check behaved as Linux under memory
 * pressure would. Mode "limits": ENOMEM / ENOSPC answers. Mode "oom": a hog process is
 * OOM-killed (SIGKILL) so that a second, smaller allocator can finish. Mode "self": the only
 * allocator is itself the largest process and dies. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <unistd.h>

#define MIB (1024L * 1024L)

static void touch(char *p, long len) {
    for (long i = 0; i < len; i += 4096) p[i] = 1;
}

static int limits(void) {
    int bad = 0;
    /* sysinfo(2) reports the limit (48 MiB, set by memory_limit.rs) as the RAM, no swap. */
    struct sysinfo si;
    if (sysinfo(&si) || (unsigned long)si.totalram * si.mem_unit != 48 * MIB || si.totalswap != 0) {
        printf("sysinfo totalram %lu x %u swap %lu\n", si.totalram, si.mem_unit, si.totalswap); bad = 1;
    }
    /* One mapping larger than the whole limit: ENOMEM at mmap time. */
    void *big = mmap(NULL, 256 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (big != MAP_FAILED || errno != ENOMEM) { printf("big mmap: %p errno %d\n", big, errno); bad = 1; }
    /* Shared anonymous memory is allocated at once: ENOMEM too. */
    void *shm = mmap(NULL, 200 * MIB, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shm != MAP_FAILED || errno != ENOMEM) { printf("shared mmap: %p errno %d\n", shm, errno); bad = 1; }
    /* brk past the limit is refused (the break stays). */
    char *cur = (char *)syscall(SYS_brk, 0);
    char *got = (char *)syscall(SYS_brk, cur + 256 * MIB);
    if (got != cur) { printf("brk moved to %p\n", got); bad = 1; }
    /* tmpfs: writes fail with ENOSPC once the limit is reached; fallocate too. */
    int fd = open("/tmp/fill", O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) { perror("open"); return 1; }
    static char buf[1 << 16];
    memset(buf, 'x', sizeof buf);
    long written = 0;
    for (;;) {
        ssize_t n = write(fd, buf, sizeof buf);
        if (n < 0) { if (errno != ENOSPC) { printf("write errno %d\n", errno); bad = 1; } break; }
        written += n;
        if (written > 256 * MIB) { printf("tmpfs write never failed\n"); bad = 1; break; }
    }
    if (fallocate(fd, 0, written + 1 * MIB, 64 * MIB) == 0 || errno != ENOSPC) {
        printf("fallocate errno %d\n", errno); bad = 1;
    }
    /* Freeing the file gives the memory back. */
    close(fd);
    unlink("/tmp/fill");
    char *p = mmap(NULL, 8 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) { printf("mmap after free errno %d\n", errno); return 1; }
    touch(p, 8 * MIB);
    printf("limits: written %ld KiB before ENOSPC, bad=%d\n", written / 1024, bad);
    return bad;
}

static int oom(void) {
    int go[2];
    if (pipe(go)) return 1;
    pid_t hog = fork();
    if (hog == 0) {
        char *p = mmap(NULL, 40 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) _exit(3);
        touch(p, 40 * MIB);
        write(go[1], "r", 1);
        for (;;) pause();
    }
    char c;
    if (read(go[0], &c, 1) != 1) { printf("hog never got ready\n"); return 1; }
    pid_t small = fork();
    if (small == 0) {
        /* Allocates until the limit is hit; the hog is larger and is killed instead. */
        char *p = mmap(NULL, 30 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) _exit(4);
        touch(p, 30 * MIB);
        _exit(0);
    }
    int st_small = 0, st_hog = 0;
    waitpid(small, &st_small, 0);
    waitpid(hog, &st_hog, 0);
    printf("oom: small %s %d, hog %s %d\n",
           WIFEXITED(st_small) ? "exit" : "signal", WIFEXITED(st_small) ? WEXITSTATUS(st_small) : WTERMSIG(st_small),
           WIFEXITED(st_hog) ? "exit" : "signal", WIFEXITED(st_hog) ? WEXITSTATUS(st_hog) : WTERMSIG(st_hog));
    return !(WIFEXITED(st_small) && WEXITSTATUS(st_small) == 0 && WIFSIGNALED(st_hog) && WTERMSIG(st_hog) == SIGKILL);
}

static int self_kill(void) {
    pid_t child = fork();
    if (child == 0) {
        for (;;) {
            char *p = mmap(NULL, 4 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (p == MAP_FAILED) _exit(5);
            touch(p, 4 * MIB);
        }
    }
    int st = 0;
    waitpid(child, &st, 0);
    printf("self: %s %d\n", WIFSIGNALED(st) ? "signal" : "exit", WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
    return !(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "limits")) return limits();
    if (!strcmp(mode, "oom")) return oom();
    if (!strcmp(mode, "self")) return self_kill();
    return 2;
}
