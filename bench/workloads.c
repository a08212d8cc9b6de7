//! bench/workloads.c — the benchmark workloads, one subcommand each, run unchanged natively and
//! inside every runtime (runc, runsc, rvisor) by bench/driver.py.
//!
//! Built static (`gcc -O2 -static -pthread`), so the same binary runs in the bare runc rootfs.
//! Each workload times itself with clock_gettime(CLOCK_MONOTONIC) around its loop and prints ONE
//! number on stdout: nanoseconds per operation (what "one operation" is, is in bench/README.md),
//! or MB/s for the TCP subcommands (bench/net.py runs those; see below).
//! On any failure it prints `workloads: NAME: what failed: reason` on stderr and exits 1, so the
//! driver can tell a crash or an error from a number.
//!
//! Iteration counts adapt to the runtime: operations run in batches until a time budget (0.3 s
//! times the scale factor) is spent, so a workload takes about the same wall time natively and
//! in a sandbox that is 100x slower. `-s SCALE` shrinks the budget and the batches (the test
//! suite's smoke run uses 0.01). Before timing, one warm-up batch runs untimed (first opens
//! fill caches; the first fork faults in the parent's pages).
//!
//! Usage: workloads [-s SCALE] [-d DATADIR] WORKLOAD
//!        workloads idle SECONDS        (prints "ready", sleeps; the driver measures memory)
//!        workloads list                (prints the workload names)
//!        workloads tcp_loopback MIB    (TCP throughput over 127.0.0.1 in one process tree)
//!        workloads tcp_recv PORT [IPV4] (receive server for tcp_bridge, on IPV4 (default all
//!                                      addresses):PORT; serves until killed)
//!        workloads tcp_send IPV4 PORT MIB  (client of tcp_recv)
//! DATADIR (default /var/tmp/rvisor-bench/data) is prepared by bench/driver.py.
//!
//! The TCP subcommands print MB/s (10^6 bytes per second), not ns: the client connects, writes
//! MIB MiB in 64 KiB writes, shuts its sending side down and waits for the server's reply, the
//! count of bytes it read (decimal, then the server closes); the clock runs from before the
//! connect to that reply, so every byte has arrived. tcp_loopback forks the server (one
//! connection, on an ephemeral port of 127.0.0.1) and is the client itself. PORT and MIB are
//! 1..65535.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MIB (1024L * 1024L)
#define BIG_FILE_BYTES (64L * MIB)
#define CHUNK_BYTES MIB
// statfs(2): f_type of a tmpfs.
#define TMPFS_MAGIC_VALUE 0x01021994L

static const char *g_name = "workloads";
static const char *g_data = "/var/tmp/rvisor-bench/data";
static double g_scale = 1.0;

// Per-workload state, set up before timing and torn down after.
static char g_path[4096];
static char g_path2[4096];
static int g_fd = -1;
static char *g_buf;
static int g_pipe_to_child[2] = {-1, -1};
static int g_pipe_to_parent[2] = {-1, -1};
static pid_t g_child = -1;
static pthread_t g_thread;
// futex ping-pong: 0 = the main thread's turn, 1 = the helper's turn, 2 = helper must exit.
static _Atomic int g_turn;
static char *g_sh_script;

static void die(const char *what) {
    fprintf(stderr, "workloads: %s: %s: %s\n", g_name, what, strerror(errno));
    exit(1);
}

static void die_msg(const char *what) {
    fprintf(stderr, "workloads: %s: %s\n", g_name, what);
    exit(1);
}

static int64_t now_ns(void) {
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) die("clock_gettime");
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void data_path(char *out, const char *rel) {
    if ((size_t)snprintf(out, 4096, "%s/%s", g_data, rel) >= 4096) die_msg("data path too long");
}

// Waits for `pid` and insists that it exited with status 0.
static void reap_ok(pid_t pid, const char *what) {
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) die("waitpid");
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s: child ended with %s %d", what,
                 WIFEXITED(status) ? "exit status" : "signal",
                 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        die_msg(msg);
    }
}

// ---------------------------------------------------------------------------------------------
// The workloads. Each `run_*` does `n` operations.

static void run_getpid(long n) {
    for (long i = 0; i < n; i++) syscall(SYS_getpid);
}

static void run_clock_gettime(long n) {
    struct timespec ts;
    for (long i = 0; i < n; i++) {
        if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) die("clock_gettime");
    }
}

static void setup_open_tmp(void) {
    snprintf(g_path, sizeof g_path, "/tmp/rvisor-bench-open.%d", (int)getpid());
    int fd = open(g_path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    if (fd < 0) die("create the /tmp file");
    if (write(fd, "x\n", 2) != 2) die("write the /tmp file");
    close(fd);
}

static void run_open_close(long n) {
    for (long i = 0; i < n; i++) {
        int fd = open(g_path, O_RDONLY);
        if (fd < 0) die("open");
        close(fd);
    }
}

static void teardown_unlink(void) { unlink(g_path); }

static void setup_open_rootfs(void) { data_path(g_path, "small.txt"); }

static void setup_stat_rootfs(void) { data_path(g_path, "deep/a/b/c/d/leaf"); }

static void run_stat(long n) {
    struct stat st;
    for (long i = 0; i < n; i++) {
        if (stat(g_path, &st) != 0) die("stat");
    }
}

static void alloc_chunk(void) {
    g_buf = malloc(CHUNK_BYTES);
    if (!g_buf) die("malloc");
    memset(g_buf, 0x5a, CHUNK_BYTES);
}

// One operation: open the file, read it whole in 1 MiB chunks, close it.
static void run_read_file(long n) {
    for (long i = 0; i < n; i++) {
        int fd = open(g_path, O_RDONLY);
        if (fd < 0) die("open the 64 MiB file");
        long total = 0;
        for (;;) {
            ssize_t got = read(fd, g_buf, CHUNK_BYTES);
            if (got < 0) die("read");
            if (got == 0) break;
            total += got;
        }
        close(fd);
        if (total != BIG_FILE_BYTES) {
            char msg[128];
            snprintf(msg, sizeof msg, "read %ld bytes, expected %ld", total, BIG_FILE_BYTES);
            die_msg(msg);
        }
    }
}

static void setup_read_rootfs(void) {
    data_path(g_path, "big-64m");
    alloc_chunk();
}

static void setup_read_tmpfs(void) {
    alloc_chunk();
    struct statfs sfs;
    if (statfs("/dev/shm", &sfs) != 0) die("statfs /dev/shm");
    if ((long)sfs.f_type != TMPFS_MAGIC_VALUE)
        fprintf(stderr, "workloads: %s: warning: /dev/shm is not tmpfs (f_type %#lx)\n", g_name,
                (long)sfs.f_type);
    snprintf(g_path, sizeof g_path, "/dev/shm/rvisor-bench-read.%d", (int)getpid());
    int fd = open(g_path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    if (fd < 0) die("create the /dev/shm file");
    for (long done = 0; done < BIG_FILE_BYTES; done += CHUNK_BYTES) {
        if (write(fd, g_buf, CHUNK_BYTES) != CHUNK_BYTES) die("write the /dev/shm file");
    }
    close(fd);
}

static void setup_write_fsync(void) {
    alloc_chunk();
    snprintf(g_path, sizeof g_path, "/tmp/rvisor-bench-fsync.%d", (int)getpid());
    g_fd = open(g_path, O_CREAT | O_RDWR | O_TRUNC, 0644);
    if (g_fd < 0) die("create the /tmp file");
}

static void run_write_fsync(long n) {
    for (long i = 0; i < n; i++) {
        if (pwrite(g_fd, g_buf, 4096, 0) != 4096) die("pwrite");
        if (fsync(g_fd) != 0) die("fsync");
    }
}

static void teardown_write_fsync(void) {
    close(g_fd);
    unlink(g_path);
}

static void setup_readdir(void) { data_path(g_path, "dir1000"); }

// One operation: opendir, readdir to the end, closedir. The directory holds 1000 files.
static void run_readdir(long n) {
    for (long i = 0; i < n; i++) {
        DIR *d = opendir(g_path);
        if (!d) die("opendir");
        long entries = 0;
        errno = 0;
        while (readdir(d)) entries++;
        if (errno != 0) die("readdir");
        closedir(d);
        // 1000 files plus "." and "..".
        if (entries != 1002) {
            char msg[128];
            snprintf(msg, sizeof msg, "readdir saw %ld entries, expected 1002", entries);
            die_msg(msg);
        }
    }
}

static void run_fork_exit(long n) {
    for (long i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) die("fork");
        if (pid == 0) _exit(0);
        reap_ok(pid, "fork+exit");
    }
}

static void setup_fork_exec(void) { data_path(g_path, "bin/true"); }

static void run_fork_exec(long n) {
    for (long i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) die("fork");
        if (pid == 0) {
            // bin/true is a copy of busybox, which picks its applet from argv[0].
            char *argv[] = {"true", NULL};
            char *envp[] = {NULL};
            execve(g_path, argv, envp);
            _exit(127);
        }
        reap_ok(pid, "fork+exec of the true binary");
    }
}

static void setup_pipe_pingpong(void) {
    if (pipe(g_pipe_to_child) != 0 || pipe(g_pipe_to_parent) != 0) die("pipe");
    g_child = fork();
    if (g_child < 0) die("fork");
    if (g_child == 0) {
        // Echo every byte back; 'q' ends the child.
        char c;
        for (;;) {
            ssize_t got = read(g_pipe_to_child[0], &c, 1);
            if (got < 0 && errno == EINTR) continue;
            if (got != 1 || c == 'q') _exit(got == 1 ? 0 : 1);
            if (write(g_pipe_to_parent[1], &c, 1) != 1) _exit(1);
        }
    }
}

static void run_pipe_pingpong(long n) {
    char c = 'x';
    for (long i = 0; i < n; i++) {
        if (write(g_pipe_to_child[1], &c, 1) != 1) die("write to the child");
        if (read(g_pipe_to_parent[0], &c, 1) != 1) die("read from the child");
    }
}

static void teardown_pipe_pingpong(void) {
    if (write(g_pipe_to_child[1], "q", 1) != 1) die("write to the child");
    reap_ok(g_child, "pipe ping-pong child");
}

// futex(2): FUTEX_WAIT sleeps only while *addr still equals val.
static void futex_wait(_Atomic int *addr, int val) {
    if (syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0) != 0 && errno != EAGAIN &&
        errno != EINTR)
        die("futex wait");
}

static void futex_wake(_Atomic int *addr) {
    if (syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0) < 0) die("futex wake");
}

static void *futex_helper(void *arg) {
    (void)arg;
    for (;;) {
        int t;
        while ((t = atomic_load(&g_turn)) == 0) futex_wait(&g_turn, 0);
        if (t == 2) return NULL;
        atomic_store(&g_turn, 0);
        futex_wake(&g_turn);
    }
}

static void setup_futex_pingpong(void) {
    atomic_store(&g_turn, 0);
    errno = pthread_create(&g_thread, NULL, futex_helper, NULL);
    if (errno != 0) die("pthread_create");
}

static void run_futex_pingpong(long n) {
    for (long i = 0; i < n; i++) {
        atomic_store(&g_turn, 1);
        futex_wake(&g_turn);
        while (atomic_load(&g_turn) == 1) futex_wait(&g_turn, 1);
    }
}

static void teardown_futex_pingpong(void) {
    atomic_store(&g_turn, 2);
    futex_wake(&g_turn);
    errno = pthread_join(g_thread, NULL);
    if (errno != 0) die("pthread_join");
}

static void run_mmap_touch(long n) {
    long page = sysconf(_SC_PAGESIZE);
    for (long i = 0; i < n; i++) {
        volatile char *p =
            mmap(NULL, MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) die("mmap");
        for (long off = 0; off < MIB; off += page) p[off] = 1;
        if (munmap((void *)p, MIB) != 0) die("munmap");
    }
}

static void *thread_noop(void *arg) { return arg; }

static void run_thread_create(long n) {
    for (long i = 0; i < n; i++) {
        pthread_t t;
        errno = pthread_create(&t, NULL, thread_noop, NULL);
        if (errno != 0) die("pthread_create");
        errno = pthread_join(t, NULL);
        if (errno != 0) die("pthread_join");
    }
}

static void setup_sh_loop(void) {
    data_path(g_path, "bin/sh");
    data_path(g_path2, "bin/true");
    // "for i in 1 2 ... 100; do DATA/bin/true; done": a literal list keeps the loop free of
    // anything but the 100 fork+execs (no seq, no arithmetic).
    size_t cap = 8192;
    g_sh_script = malloc(cap);
    if (!g_sh_script) die("malloc");
    size_t len = (size_t)snprintf(g_sh_script, cap, "for i in");
    for (int i = 1; i <= 100; i++) len += (size_t)snprintf(g_sh_script + len, cap - len, " %d", i);
    if ((size_t)snprintf(g_sh_script + len, cap - len, "; do %s; done", g_path2) >= cap - len)
        die_msg("shell script too long");
}

static void run_sh_loop(long n) {
    for (long i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) die("fork");
        if (pid == 0) {
            char *argv[] = {"sh", "-c", g_sh_script, NULL};
            char *envp[] = {"PATH=/bin:/usr/bin", NULL};
            execve(g_path, argv, envp);
            _exit(127);
        }
        reap_ok(pid, "sh -c loop of 100 true");
    }
}

// ---------------------------------------------------------------------------------------------

struct workload {
    const char *name;
    void (*setup)(void);
    void (*run)(long n);
    void (*teardown)(void);
    // Operations per timed batch: about a millisecond natively, so the clock is read rarely.
    long batch;
    // At least this many timed operations at full scale ("read it a few times").
    long min_ops;
};

static const struct workload WORKLOADS[] = {
    {"getpid", NULL, run_getpid, NULL, 10000, 1},
    {"clock_gettime", NULL, run_clock_gettime, NULL, 10000, 1},
    {"open_tmp", setup_open_tmp, run_open_close, teardown_unlink, 500, 1},
    {"open_rootfs", setup_open_rootfs, run_open_close, NULL, 500, 1},
    {"stat_rootfs", setup_stat_rootfs, run_stat, NULL, 1000, 1},
    {"read_rootfs_64m", setup_read_rootfs, run_read_file, NULL, 1, 3},
    {"read_tmpfs_64m", setup_read_tmpfs, run_read_file, teardown_unlink, 1, 3},
    {"write_fsync", setup_write_fsync, run_write_fsync, teardown_write_fsync, 10, 1},
    {"readdir_1000", setup_readdir, run_readdir, NULL, 10, 1},
    {"fork_exit", NULL, run_fork_exit, NULL, 10, 1},
    {"fork_exec", setup_fork_exec, run_fork_exec, NULL, 5, 1},
    {"pipe_pingpong", setup_pipe_pingpong, run_pipe_pingpong, teardown_pipe_pingpong, 200, 1},
    {"futex_pingpong", setup_futex_pingpong, run_futex_pingpong, teardown_futex_pingpong, 200, 1},
    {"mmap_1m", NULL, run_mmap_touch, NULL, 20, 1},
    {"thread_create", NULL, run_thread_create, NULL, 50, 1},
    {"sh_100_true", setup_sh_loop, run_sh_loop, NULL, 1, 2},
};
#define N_WORKLOADS (sizeof WORKLOADS / sizeof WORKLOADS[0])

static double measure(const struct workload *w) {
    long batch = w->batch;
    long min_ops = w->min_ops;
    if (g_scale < 1.0) {
        batch = (long)((double)batch * g_scale);
        if (batch < 1) batch = 1;
        min_ops = 1;
    }
    int64_t budget_ns = (int64_t)(300e6 * g_scale);
    if (w->setup) w->setup();
    w->run(batch);  // warm-up, untimed
    long ops = 0;
    int64_t start = now_ns(), elapsed;
    do {
        w->run(batch);
        ops += batch;
        elapsed = now_ns() - start;
    } while (elapsed < budget_ns || ops < min_ops);
    if (w->teardown) w->teardown();
    return (double)elapsed / (double)ops;
}

__attribute__((noreturn)) static void usage(void);

// ---------------------------------------------------------------------------------------------
// TCP throughput (tcp_loopback, and tcp_recv / tcp_send for tcp_bridge).

#define TCP_WRITE_BYTES (64 * 1024)

// A listening TCP socket on addr:port (port 0: an ephemeral one, read back into *port).
static int tcp_listen(uint32_t addr, int *port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) die("SO_REUSEADDR");
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)*port)};
    sa.sin_addr.s_addr = htonl(addr);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) die("bind");
    if (listen(fd, 16) != 0) die("listen");
    socklen_t len = sizeof sa;
    if (getsockname(fd, (struct sockaddr *)&sa, &len) != 0) die("getsockname");
    *port = ntohs(sa.sin_port);
    return fd;
}

// After EAGAIN on a socket meant to be blocking: waits until it is ready. gVisor's host network
// (runsc --network=host, used under Docker here) hands out accepted sockets that read as
// non-blocking; Linux never gets here.
static void wait_ready(int fd, short events) {
    struct pollfd p = {.fd = fd, .events = events};
    while (poll(&p, 1, -1) < 0) {
        if (errno != EINTR) die("poll");
    }
}

// Serves one connection: reads to EOF, discarding, then replies with the byte count.
static void tcp_serve_one(int conn, char *buf, size_t buf_len) {
    long long total = 0;
    for (;;) {
        ssize_t n = read(conn, buf, buf_len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            wait_ready(conn, POLLIN);
            continue;
        }
        if (n < 0) {
            fprintf(stderr, "workloads: %s: server read: %s\n", g_name, strerror(errno));
            return;
        }
        if (n == 0) break;
        total += n;
    }
    char reply[32];
    int len = snprintf(reply, sizeof reply, "%lld\n", total);
    if (write(conn, reply, (size_t)len) != len) {
        fprintf(stderr, "workloads: %s: server reply: %s\n", g_name, strerror(errno));
    }
}

// Connects to host:port, sends `mib` MiB, waits for the reply; returns MB/s.
static double tcp_send(const char *host, int port, long mib) {
    // An IPv4 address literal: a static binary cannot use the resolver (NSS) portably.
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        char msg[128];
        snprintf(msg, sizeof msg, "not an IPv4 address: '%.64s'", host);
        die_msg(msg);
    }
    char *buf = malloc(TCP_WRITE_BYTES);
    if (!buf) die("malloc");
    memset(buf, 'x', TCP_WRITE_BYTES);
    // A server that goes away shows as EPIPE from write, not as a silent death by SIGPIPE.
    signal(SIGPIPE, SIG_IGN);
    long long want = (long long)mib * MIB, sent = 0;
    int64_t start = now_ns();
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) die("connect");
    while (sent < want) {
        ssize_t n = write(fd, buf, TCP_WRITE_BYTES);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            wait_ready(fd, POLLOUT);
            continue;
        }
        if (n <= 0) die("write");
        sent += n;
    }
    if (shutdown(fd, SHUT_WR) != 0) die("shutdown");
    char reply[32];
    size_t got = 0;
    for (;;) {
        ssize_t n = read(fd, reply + got, sizeof reply - 1 - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            wait_ready(fd, POLLIN);
            continue;
        }
        if (n < 0) die("read the reply");
        if (n == 0) break;
        got += (size_t)n;
        if (got == sizeof reply - 1) break;
    }
    int64_t elapsed = now_ns() - start;
    close(fd);
    reply[got] = 0;
    if (got == 0 || strtoll(reply, NULL, 10) != sent) {
        char msg[128];
        snprintf(msg, sizeof msg, "sent %lld bytes, the server says it read '%.20s'", sent, reply);
        die_msg(msg);
    }
    free(buf);
    return (double)sent / ((double)elapsed / 1e9) / 1e6;
}

static long parse_count(const char *arg, const char *what) {
    char *end;
    long v = strtol(arg, &end, 10);
    if (*arg == 0 || *end != 0 || v <= 0 || v > 65535) {
        char msg[128];
        snprintf(msg, sizeof msg, "bad %s '%.32s'", what, arg);
        die_msg(msg);
    }
    return v;
}

static int tcp_main(int argc, char **argv) {
    if (strcmp(g_name, "tcp_loopback") == 0) {
        if (argc != 1) usage();
        long mib = parse_count(argv[0], "size in MiB");
        int port = 0;
        int lfd = tcp_listen(INADDR_LOOPBACK, &port);
        pid_t child = fork();
        if (child < 0) die("fork");
        if (child == 0) {
            int conn = accept(lfd, NULL, NULL);
            if (conn < 0) die("accept");
            char *buf = malloc(TCP_WRITE_BYTES);
            if (!buf) die("malloc");
            tcp_serve_one(conn, buf, TCP_WRITE_BYTES);
            _exit(0);
        }
        close(lfd);
        double mbs = tcp_send("127.0.0.1", port, mib);
        reap_ok(child, "the server");
        printf("%.1f\n", mbs);
        return 0;
    }
    if (strcmp(g_name, "tcp_recv") == 0) {
        if (argc != 1 && argc != 2) usage();
        int port = (int)parse_count(argv[0], "port");
        struct in_addr bind_addr = {.s_addr = htonl(INADDR_ANY)};
        if (argc == 2 && inet_pton(AF_INET, argv[1], &bind_addr) != 1) die_msg("bad IPv4 address");
        int lfd = tcp_listen(ntohl(bind_addr.s_addr), &port);
        char *buf = malloc(TCP_WRITE_BYTES);
        if (!buf) die("malloc");
        printf("listening on port %d\n", port);
        fflush(stdout);
        for (;;) {
            int conn = accept(lfd, NULL, NULL);
            if (conn < 0 && errno == EINTR) continue;
            if (conn < 0) die("accept");
            tcp_serve_one(conn, buf, TCP_WRITE_BYTES);
            close(conn);
        }
    }
    if (strcmp(g_name, "tcp_send") == 0) {
        if (argc != 3) usage();
        int port = (int)parse_count(argv[1], "port");
        long mib = parse_count(argv[2], "size in MiB");
        printf("%.1f\n", tcp_send(argv[0], port, mib));
        return 0;
    }
    return -1;
}

__attribute__((noreturn)) static void usage(void) {
    fprintf(stderr,
            "usage: workloads [-s SCALE] [-d DATADIR] WORKLOAD | idle SECONDS | list\n"
            "       workloads tcp_loopback MIB | tcp_recv PORT [IPV4] | tcp_send IPV4 PORT MIB\n");
    exit(2);
}

int main(int argc, char **argv) {
    int opt;
    while ((opt = getopt(argc, argv, "+s:d:")) != -1) {
        switch (opt) {
            case 's':
                g_scale = strtod(optarg, NULL);
                if (!(g_scale > 0.0)) usage();
                break;
            case 'd':
                g_data = optarg;
                break;
            default:
                usage();
        }
    }
    if (optind >= argc) usage();
    g_name = argv[optind];
    if (strcmp(g_name, "list") == 0) {
        for (size_t i = 0; i < N_WORKLOADS; i++) printf("%s\n", WORKLOADS[i].name);
        return 0;
    }
    if (strcmp(g_name, "idle") == 0) {
        double secs = optind + 1 < argc ? strtod(argv[optind + 1], NULL) : 3.0;
        // The driver samples the sandbox's memory once this line has arrived.
        printf("ready\n");
        fflush(stdout);
        struct timespec ts = {(time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9)};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
        return 0;
    }
    if (strncmp(g_name, "tcp_", 4) == 0) {
        int rc = tcp_main(argc - optind - 1, argv + optind + 1);
        if (rc >= 0) return rc;
    }
    for (size_t i = 0; i < N_WORKLOADS; i++) {
        if (strcmp(WORKLOADS[i].name, g_name) == 0) {
            double ns = measure(&WORKLOADS[i]);
            printf("%.1f\n", ns);
            return 0;
        }
    }
    fprintf(stderr, "workloads: unknown workload %s (try: workloads list)\n", g_name);
    return 2;
}
