/*
 * pingpong.c - round-trip latency of one bidi stream.
 *
 *   pingpong PROG N [ARGS...]
 *
 * Spawns PROG (with ARGS) on two pipes, sends the init line and reads its
 * reply, opens one Chat/BiDiChat stream from c1 and reads the open_ok, then
 * N times writes one grpc_bidi_stream_send line and blocks until the whole
 * reply line has arrived, timing each round trip with CLOCK_MONOTONIC.
 * Then it closes the stream, closes PROG's stdin and waits for it.
 *
 * Prints: pingpong n=N p50_us=X p99_us=X max_us=X mean_us=X
 *
 * A reply that does not arrive within 10 s (a node that holds its output
 * until end of input), or a node still writing 10 s after its input
 * closed, is a failure (the node is killed).  Exit status 0 on success, 1 if the
 * node misbehaved or failed, 2 on a usage or system error.  The replies
 * are only counted as lines, not checked: the tests check content.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REPLY_TIMEOUT_MS 10000
#define RBUF 65536

static char rbuf[RBUF];
static size_t rlen;  /* bytes in rbuf */
static size_t rpos;  /* bytes of rbuf already consumed */
static char last_line[1024]; /* the line read_line last consumed (its start
                                if longer), NUL-terminated */

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* read_line consumes one complete line from fd, waiting at most
 * REPLY_TIMEOUT_MS for each read, and copies it (or its first 1023 bytes)
 * into last_line.  A line longer than the buffer is consumed in pieces.  Returns 0, or -1 on EOF, error or timeout (with a
 * diagnostic). */
static int read_line(int fd)
{
    for (;;) {
        char *nl = memchr(rbuf + rpos, '\n', rlen - rpos);
        struct pollfd pf;
        ssize_t r;
        int pr;
        if (nl != NULL) {
            size_t n = (size_t)(nl - (rbuf + rpos)) + 1;
            if (n > sizeof last_line - 1)
                n = sizeof last_line - 1;
            memcpy(last_line, rbuf + rpos, n);
            last_line[n] = '\0';
            rpos = (size_t)(nl - rbuf) + 1;
            return 0;
        }
        if (rpos > 0) { /* keep only the unfinished line */
            memmove(rbuf, rbuf + rpos, rlen - rpos);
            rlen -= rpos;
            rpos = 0;
        }
        if (rlen == RBUF)
            rlen = 0; /* a huge line: drop what we have, keep reading */
        pf.fd = fd;
        pf.events = POLLIN;
        pr = poll(&pf, 1, REPLY_TIMEOUT_MS);
        if (pr < 0) {
            if (errno == EINTR)
                continue;
            perror("pingpong: poll");
            return -1;
        }
        if (pr == 0) {
            fprintf(stderr, "pingpong: no reply within %d ms\n",
                    REPLY_TIMEOUT_MS);
            return -1;
        }
        r = read(fd, rbuf + rlen, RBUF - rlen);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            perror("pingpong: read");
            return -1;
        }
        if (r == 0) {
            fprintf(stderr, "pingpong: node closed its output\n");
            return -1;
        }
        rlen += (size_t)r;
    }
}

/* drain_to_eof reads fd until EOF (the node has exited or closed its
 * output), giving up when it stays silent for REPLY_TIMEOUT_MS or is still
 * writing after that long.  Returns 0 at EOF, -1 otherwise. */
static int drain_to_eof(int fd)
{
    double deadline = now_us() + REPLY_TIMEOUT_MS * 1e3;
    for (;;) {
        struct pollfd pf;
        ssize_t r;
        int left = (int)((deadline - now_us()) / 1e3);
        if (left <= 0)
            return -1;
        pf.fd = fd;
        pf.events = POLLIN;
        if (poll(&pf, 1, left) <= 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        r = read(fd, rbuf, sizeof rbuf);
        if (r == 0)
            return 0;
        if (r < 0 && errno != EINTR)
            return -1;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* pct returns the p-th percentile (0..100) of sorted v[0..n-1], nearest
 * rank. */
static double pct(const double *v, long n, double p)
{
    long k = (long)(p / 100.0 * (double)n + 0.999999);
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    return v[k - 1];
}

static pid_t spawn(char **argv, int *to_child, int *from_child)
{
    int in[2], out[2];
    pid_t pid;
    if (pipe(in) < 0 || pipe(out) < 0)
        return -1;
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0)
            _exit(127);
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        execvp(argv[0], argv);
        fprintf(stderr, "pingpong: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    *to_child = in[1];
    *from_child = out[0];
    return pid;
}

/* finish_node closes the node's stdin (killing it first if the run went
 * wrong), waits for its output to end and reaps it.  Returns ok, cleared
 * if the node misbehaved or did not exit 0. */
static int finish_node(pid_t pid, int to, int from, int ok, const char *prog)
{
    int status = 0;
    close(to);
    if (!ok)
        kill(pid, SIGTERM);
    if (drain_to_eof(from) < 0) {
        fprintf(stderr, "pingpong: node still writing after %d ms\n",
                REPLY_TIMEOUT_MS);
        kill(pid, SIGKILL);
        ok = 0;
    }
    close(from);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "pingpong: %s did not exit 0\n", prog);
        ok = 0;
    }
    return ok;
}

static void report(const char *name, double *v, long n, double sum)
{
    if (n < 1)
        return;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    printf("%s n=%ld p50_us=%.1f p99_us=%.1f max_us=%.1f mean_us=%.1f\n",
           name, n, pct(v, n, 50), pct(v, n, 99), v[n - 1], sum / (double)n);
}

/* follow_mode: the latency of a follow watch (--follow and --follow-ext).
 *
 * Runs PROG --log LOGFILE on LOGFILE emptied, sends init, opens one
 * LogWatcher/WatchLogs watch with request {"follow": true} from c1 and
 * reads its grpc_server_stream_open_ok (the log is empty: no backlog).
 * Then N times it adds the entry "INFO ping <i>" to the log and times the
 * interval from that write to the arrival of the follower's
 * grpc_stream_msg carrying that entry:
 *
 * - internal (--follow): the entry is a LogWatcher/Append grpc_call written
 *   to the node's stdin; both its grpc_call_ok and the pushed message are
 *   read, in whichever order they come.  An Append by the node itself wakes
 *   its followers at once, so this is the node's push path.
 * - external (--follow-ext): the bench process appends the line to LOGFILE
 *   itself, as another writer would.  The node notices such lines by
 *   polling the file every 50 ms (PROTOCOL.md 1.6 requires within 100 ms),
 *   so expect latencies spread over 0..50 ms: this checks the bound, it is
 *   not a speed figure.  Each write comes right after the previous push,
 *   that is just after a poll, so it would always wait a whole period; to
 *   sample the poll's phase evenly the bench first sleeps (i * 37) mod 50
 *   ms before write i (not counted in the latency).
 *
 * Any other reply (an error, the stream ending) is a failure. */
static int follow_mode(const char *prog, long n, const char *logfile,
                       int external)
{
    static const char init[] =
        "{\"src\":\"c0\",\"dest\":\"n1\",\"body\":{\"type\":\"init\","
        "\"msg_id\":1,\"node_id\":\"n1\",\"node_ids\":[\"n1\"]}}\n";
    static const char watch[] =
        "{\"src\":\"c1\",\"dest\":\"n1\",\"body\":{\"type\":"
        "\"grpc_server_stream\",\"msg_id\":2,\"service\":\"LogWatcher\","
        "\"method\":\"WatchLogs\",\"request\":{\"follow\":true}}}\n";
    char *args[4];
    char line[256], want[64];
    double *lat, sum = 0;
    long i;
    int to, from, ok = 1, logfd;
    unsigned long long msg_id = 3;
    pid_t pid;

    lat = malloc((size_t)n * sizeof *lat);
    if (lat == NULL) {
        perror("pingpong: malloc");
        return 2;
    }
    logfd = open(logfile, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    if (logfd < 0) {
        fprintf(stderr, "pingpong: %s: %s\n", logfile, strerror(errno));
        free(lat);
        return 2;
    }
    if (!external)
        close(logfd);
    args[0] = (char *)prog;
    args[1] = (char *)"--log";
    args[2] = (char *)logfile;
    args[3] = NULL;
    pid = spawn(args, &to, &from);
    if (pid < 0) {
        perror("pingpong: spawn");
        free(lat);
        return 2;
    }
    if (write_all(to, init, sizeof init - 1) < 0 || read_line(from) < 0 ||
        write_all(to, watch, sizeof watch - 1) < 0 || read_line(from) < 0 ||
        strstr(last_line, "\"grpc_server_stream_open_ok\"") == NULL) {
        fprintf(stderr, "pingpong: init or follow watch failed\n");
        ok = 0;
        n = 0;
    }
    for (i = 0; i < n; i++) {
        int len, got_ok = external, got_msg = 0;
        double t0;
        snprintf(want, sizeof want, "\"ping %ld\"", i + 1);
        if (external)
            len = snprintf(line, sizeof line, "INFO ping %ld\n", i + 1);
        else
            len = snprintf(line, sizeof line,
                           "{\"src\":\"c1\",\"dest\":\"n1\",\"body\":{\"type\":"
                           "\"grpc_call\",\"msg_id\":%llu,\"service\":"
                           "\"LogWatcher\",\"method\":\"Append\",\"request\":"
                           "{\"level\":\"INFO\",\"msg\":\"ping %ld\"}}}\n",
                           msg_id++, i + 1);
        if (external) {
            struct timespec d;
            d.tv_sec = 0;
            d.tv_nsec = (i * 37 % 50) * 1000000L;
            while (nanosleep(&d, &d) < 0 && errno == EINTR)
                ;
        }
        t0 = now_us();
        if (write_all(external ? logfd : to, line, (size_t)len) < 0)
            ok = 0;
        while (ok && !(got_ok && got_msg)) {
            if (read_line(from) < 0) {
                ok = 0;
            } else if (!got_msg &&
                       strstr(last_line, "\"grpc_stream_msg\"") != NULL &&
                       strstr(last_line, want) != NULL) {
                lat[i] = now_us() - t0;
                got_msg = 1;
            } else if (!got_ok &&
                       strstr(last_line, "\"grpc_call_ok\"") != NULL) {
                got_ok = 1;
            } else {
                fprintf(stderr, "pingpong: unexpected reply: %s", last_line);
                ok = 0;
            }
        }
        if (!ok) {
            fprintf(stderr, "pingpong: follow entry %ld failed\n", i + 1);
            n = i;
            break;
        }
        sum += lat[i];
    }
    if (external)
        close(logfd);
    ok = finish_node(pid, to, from, ok, prog);
    report(external ? "follow-ext" : "follow", lat, n, sum);
    free(lat);
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    static const char init[] =
        "{\"src\":\"c0\",\"dest\":\"n1\",\"body\":{\"type\":\"init\","
        "\"msg_id\":1,\"node_id\":\"n1\",\"node_ids\":[\"n1\"]}}\n";
    static const char open_line[] =
        "{\"src\":\"c1\",\"dest\":\"n1\",\"body\":{\"type\":"
        "\"grpc_bidi_stream_open\",\"msg_id\":2,\"service\":\"Chat\","
        "\"method\":\"BiDiChat\"}}\n";
    char line[256];
    double *rtt;
    long n, i;
    int to, from, ok = 1;
    unsigned long long msg_id = 3;
    pid_t pid;
    double sum = 0;
    char *end;

    if (argc == 5 && (strcmp(argv[1], "--follow") == 0 ||
                      strcmp(argv[1], "--follow-ext") == 0)) {
        n = strtol(argv[3], &end, 10);
        if (*end != '\0' || n < 1) {
            fprintf(stderr, "pingpong: N must be a positive integer\n");
            return 2;
        }
        signal(SIGPIPE, SIG_IGN);
        return follow_mode(argv[2], n, argv[4],
                           strcmp(argv[1], "--follow-ext") == 0);
    }
    if (argc < 3 || argv[1][0] == '-') {
        fprintf(stderr, "usage: pingpong PROG N [ARGS...]\n"
                        "       pingpong --follow|--follow-ext PROG N "
                        "LOGFILE\n");
        return 2;
    }
    n = strtol(argv[2], &end, 10);
    if (*end != '\0' || n < 1) {
        fprintf(stderr, "pingpong: N must be a positive integer\n");
        return 2;
    }
    rtt = malloc((size_t)n * sizeof *rtt);
    if (rtt == NULL) {
        perror("pingpong: malloc");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    argv[2] = argv[1]; /* PROG ARGS... */
    pid = spawn(argv + 2, &to, &from);
    if (pid < 0) {
        perror("pingpong: spawn");
        return 2;
    }

    if (write_all(to, init, sizeof init - 1) < 0 || read_line(from) < 0 ||
        write_all(to, open_line, sizeof open_line - 1) < 0 ||
        read_line(from) < 0) {
        fprintf(stderr, "pingpong: init or open failed\n");
        ok = 0;
        n = 0;
    }
    for (i = 0; i < n; i++) {
        int len = snprintf(line, sizeof line,
                           "{\"src\":\"c1\",\"dest\":\"n1\",\"body\":{\"type\":"
                           "\"grpc_bidi_stream_send\",\"msg_id\":%llu,"
                           "\"stream_id\":\"s1\",\"data\":{\"text\":"
                           "\"hello %ld\"}}}\n",
                           msg_id++, i + 1);
        double t0 = now_us();
        if (write_all(to, line, (size_t)len) < 0 || read_line(from) < 0) {
            fprintf(stderr, "pingpong: round trip %ld failed\n", i + 1);
            ok = 0;
            n = i;
            break;
        }
        rtt[i] = now_us() - t0;
        sum += rtt[i];
    }
    if (ok) {
        int len = snprintf(line, sizeof line,
                           "{\"src\":\"c1\",\"dest\":\"n1\",\"body\":{\"type\":"
                           "\"grpc_bidi_stream_close\",\"msg_id\":%llu,"
                           "\"stream_id\":\"s1\"}}\n",
                           msg_id);
        if (write_all(to, line, (size_t)len) < 0 || read_line(from) < 0)
            ok = 0;
    }
    ok = finish_node(pid, to, from, ok, argv[1]);
    report("pingpong", rtt, n, sum);
    free(rtt);
    return ok ? 0 : 1;
}
