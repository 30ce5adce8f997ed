/*
 * runbench.c - run one program on one input file and measure it.
 *
 *   runbench [--sink pipe|null] [--mem] [--timeout SECONDS]
 *            PROG INPUTFILE [ARGS...]
 *
 * PROG (found on PATH if it has no '/') runs with ARGS, stdin from
 * INPUTFILE and stdout either to a pipe that runbench drains with 64 KiB
 * reads (`pipe`, the default: the program pays for a real pipe, as under a
 * harness) or to /dev/null (`null`).  stderr is inherited.
 *
 * Prints one machine-readable line on stdout:
 *
 *   time_s=0.123456 maxrss_kb=1234 out_bytes=N out_lines=N
 *
 * time_s is CLOCK_MONOTONIC from just before fork() to the child's reaping;
 * maxrss_kb is ru_maxrss from wait4() for that child.  out_bytes and
 * out_lines count what came through the pipe (0 with --sink null).
 *
 * ru_maxrss is noisy on Linux: file-backed pages are faulted in 64 KiB
 * "fault-around" windows whose alignment moves with ASLR, and the kernel's
 * per-CPU RSS counters are read approximately, so identical runs differ by
 * up to a few hundred KiB.  --mem (Linux only) measures memory exactly
 * instead, for memory runs (not timing runs): the child runs without
 * address randomisation (personality ADDR_NO_RANDOMIZE) and under ptrace
 * with PTRACE_O_TRACEEXIT; when it stops at exit, before its memory is
 * torn down, runbench reads /proc/PID/status and appends
 *
 *   hwm_kb=N rss_kb=N anon_kb=N file_kb=N
 *
 * (VmHWM, VmRSS, RssAnon, RssFile at exit; -1 if not available, e.g. when
 * ptrace is not permitted).  With ASLR off these repeat to the KiB.
 *
 * --timeout SECONDS kills the child (SIGKILL) if it has not ended by then,
 * so a node that never stops cannot hang a benchmark; it counts as failed.
 *
 * Exit status: 0 if the child exited 0; 1 if it exited non-zero, was
 * killed or timed out (the line is still printed, with a diagnostic on
 * stderr); 2 on a usage or system error.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* wait4() on glibc */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/personality.h>
#include <sys/ptrace.h>
#endif

#define DRAIN_BUF 65536

static char drain_buf[DRAIN_BUF];
static volatile sig_atomic_t timed_out;
static pid_t child_pid;

static void on_alarm(int sig)
{
    (void)sig;
    timed_out = 1;
    kill(child_pid, SIGKILL);
}

struct mem { long hwm, rss, anon, file; };

struct run {
    int use_pipe, mem_mode;
    int out_rd;                       /* read end of the output pipe or -1 */
    unsigned long long bytes, lines;
    struct mem mem;
    struct rusage ru;
    int status;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int usage(void)
{
    fprintf(stderr, "usage: runbench [--sink pipe|null] [--mem] "
                    "[--timeout SECONDS] PROG INPUTFILE [ARGS...]\n");
    return 2;
}

/* child_exec sets up fds 0 and 1, optionally asks to be traced with ASLR
 * off, and execs argv; never returns. */
static void child_exec(int in_fd, int out_fd, int mem_mode, char **argv)
{
    if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0)
        _exit(127);
    if (in_fd > 1)
        close(in_fd);
    if (out_fd > 1)
        close(out_fd);
#ifdef __linux__
    if (mem_mode) {
        int pers = personality(0xffffffff);
        if (pers != -1)
            personality((unsigned long)pers | ADDR_NO_RANDOMIZE);
        if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0)
            perror("runbench: ptrace (memory figures unavailable)");
    }
#else
    (void)mem_mode;
#endif
    execvp(argv[0], argv);
    fprintf(stderr, "runbench: exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

/* drain_some reads once from the output pipe, counting bytes and lines.
 * Returns 1 while open, 0 at EOF, -1 on error. */
static int drain_some(struct run *r)
{
    ssize_t n = read(r->out_rd, drain_buf, sizeof drain_buf);
    const char *p, *end;
    if (n < 0)
        return errno == EINTR || errno == EAGAIN ? 1 : -1;
    if (n == 0)
        return 0;
    r->bytes += (unsigned long long)n;
    p = drain_buf;
    end = drain_buf + n;
    while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        ++r->lines;
        ++p;
    }
    return 1;
}

/* drain_all reads the output pipe to EOF. Returns 0 or -1. */
static int drain_all(struct run *r)
{
    int k;
    while ((k = drain_some(r)) > 0)
        ;
    return k;
}

/* wait_plain: drain, then reap. The timing path: no polling. */
static int wait_plain(struct run *r, pid_t pid)
{
    pid_t w;
    if (r->use_pipe && drain_all(r) < 0) {
        perror("runbench: read");
        kill(pid, SIGKILL);
    }
    do
        w = wait4(pid, &r->status, 0, &r->ru);
    while (w < 0 && errno == EINTR);
    return w < 0 ? -1 : 0;
}

#ifdef __linux__
static int sig_pipe[2] = {-1, -1};

static void on_sigchld(int sig)
{
    int saved = errno;
    char c = 0;
    ssize_t w = write(sig_pipe[1], &c, 1);
    (void)w;
    (void)sig;
    errno = saved;
}

/* read_status fills m from /proc/PID/status (fields left -1 if absent). */
static void read_status(pid_t pid, struct mem *m)
{
    char path[64], line[256];
    FILE *f;
    snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return;
    while (fgets(line, sizeof line, f) != NULL) {
        long v;
        if (sscanf(line, "VmHWM: %ld", &v) == 1)
            m->hwm = v;
        else if (sscanf(line, "VmRSS: %ld", &v) == 1)
            m->rss = v;
        else if (sscanf(line, "RssAnon: %ld", &v) == 1)
            m->anon = v;
        else if (sscanf(line, "RssFile: %ld", &v) == 1)
            m->file = v;
    }
    fclose(f);
}

/* on_stop handles one ptrace stop: the exec trap (set options), the exit
 * event (read the figures), or a signal (pass it on). */
static void on_stop(struct run *r, pid_t pid, int st, int *traced)
{
    int sig = WSTOPSIG(st);
    int event = (st >> 16) & 0xff;
    long pass = 0;
    if (!*traced && sig == SIGTRAP) {
        *traced = 1;
        ptrace(PTRACE_SETOPTIONS, pid, NULL,
               (void *)(long)(PTRACE_O_TRACEEXIT | PTRACE_O_EXITKILL));
    } else if (sig == SIGTRAP && event == PTRACE_EVENT_EXIT) {
        read_status(pid, &r->mem);
    } else if (!(sig == SIGTRAP && event != 0)) {
        pass = sig;
    }
    ptrace(PTRACE_CONT, pid, NULL, (void *)pass);
}

/* wait_traced: drain the pipe while handling the child's ptrace stops
 * (SIGCHLD wakes the poll through a self-pipe), then reap it. */
static int wait_traced(struct run *r, pid_t pid)
{
    int traced = 0, done = 0;
    while (!done || r->out_rd >= 0) {
        struct pollfd pf[2];
        int nf = 0, st;
        pid_t w;
        char junk[64];
        pf[nf].fd = sig_pipe[0];
        pf[nf++].events = POLLIN;
        if (r->out_rd >= 0) {
            pf[nf].fd = r->out_rd;
            pf[nf++].events = POLLIN;
        }
        if (!done && poll(pf, (nfds_t)nf, -1) < 0 && errno != EINTR)
            return -1;
        while (read(sig_pipe[0], junk, sizeof junk) > 0)
            ;
        while (!done && (w = wait4(pid, &st, WNOHANG, &r->ru)) != 0) {
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                return -1;
            }
            if (WIFSTOPPED(st)) {
                on_stop(r, pid, st, &traced);
            } else {
                r->status = st;
                done = 1;
            }
        }
        if (r->out_rd >= 0 && (done || (nf > 1 && pf[1].revents))) {
            int k = done ? drain_all(r) : drain_some(r);
            if (k <= 0) {
                if (k < 0)
                    perror("runbench: read");
                close(r->out_rd);
                r->out_rd = -1;
            }
        }
    }
    return 0;
}

static int setup_sigchld(void)
{
    struct sigaction sa;
    if (pipe(sig_pipe) < 0)
        return -1;
    fcntl(sig_pipe[0], F_SETFL, O_NONBLOCK);
    fcntl(sig_pipe[1], F_SETFL, O_NONBLOCK);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigchld;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    return sigaction(SIGCHLD, &sa, NULL);
}
#endif

int main(int argc, char **argv)
{
    struct run r;
    int argi = 1;
    int in_fd, out_fd, pfd[2] = {-1, -1};
    double t0, t1;
    pid_t pid;
    int rc;
    unsigned timeout = 0;

    memset(&r, 0, sizeof r);
    r.use_pipe = 1;
    r.out_rd = -1;
    r.mem.hwm = r.mem.rss = r.mem.anon = r.mem.file = -1;
    for (;;) {
        if (argc - argi > 1 && strcmp(argv[argi], "--sink") == 0) {
            if (strcmp(argv[argi + 1], "pipe") == 0)
                r.use_pipe = 1;
            else if (strcmp(argv[argi + 1], "null") == 0)
                r.use_pipe = 0;
            else
                return usage();
            argi += 2;
        } else if (argc - argi > 1 && strcmp(argv[argi], "--timeout") == 0) {
            char *end;
            long t = strtol(argv[argi + 1], &end, 10);
            if (*end != '\0' || t < 1 || t > 86400)
                return usage();
            timeout = (unsigned)t;
            argi += 2;
        } else if (argc - argi > 0 && strcmp(argv[argi], "--mem") == 0) {
#ifdef __linux__
            r.mem_mode = 1;
            argi += 1;
#else
            fprintf(stderr, "runbench: --mem needs Linux\n");
            return 2;
#endif
        } else {
            break;
        }
    }
    if (argc - argi < 2)
        return usage();

    in_fd = open(argv[argi + 1], O_RDONLY);
    if (in_fd < 0) {
        fprintf(stderr, "runbench: %s: %s\n", argv[argi + 1], strerror(errno));
        return 2;
    }
    if (r.use_pipe) {
        if (pipe(pfd) < 0) {
            perror("runbench: pipe");
            return 2;
        }
        out_fd = pfd[1];
        r.out_rd = pfd[0];
    } else {
        out_fd = open("/dev/null", O_WRONLY);
        if (out_fd < 0) {
            perror("runbench: /dev/null");
            return 2;
        }
    }
#ifdef __linux__
    if (r.mem_mode && setup_sigchld() < 0) {
        perror("runbench: sigaction");
        return 2;
    }
#endif
    /* argv[argi + 1] (the input) becomes the program's own argv[0]. */
    argv[argi + 1] = argv[argi];

    t0 = now_s();
    pid = fork();
    if (pid < 0) {
        perror("runbench: fork");
        return 2;
    }
    if (pid == 0) {
        if (r.use_pipe)
            close(pfd[0]);
        child_exec(in_fd, out_fd, r.mem_mode, argv + argi + 1);
    }
    close(in_fd);
    close(out_fd);
    if (timeout > 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_alarm;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESTART; /* the kill ends the reads with EOF */
        child_pid = pid;
        sigaction(SIGALRM, &sa, NULL);
        alarm(timeout);
    }
#ifdef __linux__
    rc = r.mem_mode ? wait_traced(&r, pid) : wait_plain(&r, pid);
#else
    rc = wait_plain(&r, pid);
#endif
    t1 = now_s();
    alarm(0);
    if (rc < 0) {
        perror("runbench: wait4");
        kill(pid, SIGKILL);
        return 2;
    }

    printf("time_s=%.6f maxrss_kb=%ld out_bytes=%llu out_lines=%llu",
           t1 - t0, r.ru.ru_maxrss, r.bytes, r.lines);
    if (r.mem_mode)
        printf(" hwm_kb=%ld rss_kb=%ld anon_kb=%ld file_kb=%ld", r.mem.hwm,
               r.mem.rss, r.mem.anon, r.mem.file);
    printf("\n");
    fflush(stdout);
    if (timed_out) {
        fprintf(stderr, "runbench: %s killed after %u s\n", argv[argi],
                timeout);
        return 1;
    }
    if (WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0)
        return 0;
    if (WIFEXITED(r.status))
        fprintf(stderr, "runbench: %s exited %d\n", argv[argi],
                WEXITSTATUS(r.status));
    else if (WIFSIGNALED(r.status))
        fprintf(stderr, "runbench: %s killed by signal %d\n", argv[argi],
                WTERMSIG(r.status));
    return 1;
}
