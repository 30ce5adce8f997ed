/* sockfault.c - an LD_PRELOAD shim that makes a server's connection
 * sockets misbehave (tests/h2/faults.py).
 *
 * Build:  cc -shared -fPIC -o sockfault.so tests/h2/sockfault.c -ldl
 * Use:    SOCKFAULT_SEED=7 SOCKFAULT_RATE=0.3 LD_PRELOAD=$PWD/sockfault.so \
 *             ./grpcstream --listen 127.0.0.1:50051
 *
 * Only connection sockets are touched: the descriptors accept() and
 * accept4() return (until they are closed). The listening socket, stdin,
 * stdout, stderr, the log file and every other descriptor are left alone.
 * With probability SOCKFAULT_RATE (0..1, default 0.25) per call:
 * - read()/recv() returns a short count (asks the kernel for 1..n-1 bytes),
 *   or -1 with errno EINTR, or -1 with errno EAGAIN (nothing consumed);
 * - write()/send() writes only 1..n-1 bytes, or fails with EINTR or EAGAIN
 *   (nothing written);
 * - poll() returns -1 with errno EINTR at once (SOCKFAULT_POLL_RATE,
 *   default 0: the server's poll also watches the listening socket).
 * Broken connections, on cue: when bytes the server reads from a
 * connection contain SOCKFAULT_RESET_MARK (default "ECONNRESET-NOW"), that
 * read fails with ECONNRESET; when bytes it writes contain
 * SOCKFAULT_EPIPE_MARK (default "EPIPE-NOW"), that write fails with EPIPE.
 * Either way the connection is broken from then on, as a real one would
 * be: every later read fails with ECONNRESET and every write with EPIPE
 * (the socket is shut down, so the peer sees the end too). A mark split
 * across two calls is still found.
 * Choices come from a xorshift generator seeded with SOCKFAULT_SEED
 * (default 1). SOCKFAULT_REPORT=FILE: at exit, the number of calls and of
 * faults of each kind is written to FILE.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_FD 4096
#define MARK_MAX 64

typedef ssize_t (*read_fn)(int, void *, size_t);
typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef ssize_t (*recv_fn)(int, void *, size_t, int);
typedef ssize_t (*send_fn)(int, const void *, size_t, int);
typedef int (*accept_fn)(int, struct sockaddr *, socklen_t *);
typedef int (*accept4_fn)(int, struct sockaddr *, socklen_t *, int);
typedef int (*close_fn)(int);
typedef int (*poll_fn)(struct pollfd *, nfds_t, int);

static read_fn real_read;
static write_fn real_write;
static recv_fn real_recv;
static send_fn real_send;
static accept_fn real_accept;
static accept4_fn real_accept4;
static close_fn real_close;
static poll_fn real_poll;
static uint64_t rng_state;
static double rate = 0.25, poll_rate = 0;
static int ready;
static const char *reset_mark = "ECONNRESET-NOW", *epipe_mark = "EPIPE-NOW";

/* Per descriptor: 1 a connection, 2 a broken connection; and the last
 * bytes read and written, to find a mark split across calls. */
static unsigned char conn_state[MAX_FD];
static char tail_in[MAX_FD][MARK_MAX], tail_out[MAX_FD][MARK_MAX];
static unsigned char tail_in_len[MAX_FD], tail_out_len[MAX_FD];

enum { C_ACCEPTS, C_READS, C_WRITES, C_POLLS, F_SHORT_READ, F_EINTR_READ, F_EAGAIN_READ,
       F_SHORT_WRITE, F_EINTR_WRITE, F_EAGAIN_WRITE, F_EINTR_POLL, F_RESET, F_EPIPE, N_COUNTS };
static const char *const count_names[N_COUNTS] = {
    "accepts", "reads", "writes", "polls", "short_reads", "eintr_reads", "eagain_reads",
    "short_writes", "eintr_writes", "eagain_writes", "eintr_polls", "resets", "epipes"
};
static unsigned long counts[N_COUNTS];

static void *lookup(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);
    if (!p) abort();
    return p;
}

static void report(void)
{
    const char *path = getenv("SOCKFAULT_REPORT");
    char buf[1024];
    size_t len = 0;
    int fd, i;
    if (!path || !*path) return;
    for (i = 0; i < N_COUNTS && len < sizeof buf - 64; i++)
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%s=%lu\n", count_names[i], counts[i]);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return;
    if (real_write(fd, buf, len) < 0) { /* nothing to do */ }
    real_close(fd);
}

static void setup(void)
{
    const char *s;
    void *p;
    if (ready) return;
    p = lookup("read");    memcpy(&real_read, &p, sizeof p);
    p = lookup("write");   memcpy(&real_write, &p, sizeof p);
    p = lookup("recv");    memcpy(&real_recv, &p, sizeof p);
    p = lookup("send");    memcpy(&real_send, &p, sizeof p);
    p = lookup("accept");  memcpy(&real_accept, &p, sizeof p);
    p = lookup("accept4"); memcpy(&real_accept4, &p, sizeof p);
    p = lookup("close");   memcpy(&real_close, &p, sizeof p);
    p = lookup("poll");    memcpy(&real_poll, &p, sizeof p);
    s = getenv("SOCKFAULT_SEED");
    rng_state = (s ? strtoull(s, NULL, 10) : 1) * 0x9E3779B97F4A7C15ull + 0x7654321ull;
    if (!rng_state) rng_state = 1;
    if ((s = getenv("SOCKFAULT_RATE")) != NULL) rate = strtod(s, NULL);
    if ((s = getenv("SOCKFAULT_POLL_RATE")) != NULL) poll_rate = strtod(s, NULL);
    if ((s = getenv("SOCKFAULT_RESET_MARK")) != NULL && strlen(s) < MARK_MAX) reset_mark = s;
    if ((s = getenv("SOCKFAULT_EPIPE_MARK")) != NULL && strlen(s) < MARK_MAX) epipe_mark = s;
    ready = 1;
    atexit(report);
}

static uint64_t next(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static int chance(double r) { return (double)(next() >> 11) / 9007199254740992.0 < r; }

/* 1..n-1 for n >= 2, biased towards small counts half of the time. */
static size_t shorter(size_t n)
{
    size_t m = (next() & 1) ? 1 + next() % 16 : 1 + next() % (n - 1);
    return m < n ? m : n - 1;
}

static int is_conn(int fd) { return fd >= 0 && fd < MAX_FD && conn_state[fd]; }

static int adopt(int fd)
{
    if (fd >= 0 && fd < MAX_FD) {
        conn_state[fd] = 1;
        tail_in_len[fd] = tail_out_len[fd] = 0;
        counts[C_ACCEPTS]++;
    }
    return fd;
}

/* Does the mark occur in the last bytes seen before plus these? Keeps the
 * last strlen(mark) - 1 bytes for the next call. */
static int marked(const char *mark, char *tail, unsigned char *tail_len, const char *buf, size_t n)
{
    size_t m = strlen(mark), k, keep;
    char joint[2 * MARK_MAX];
    if (!m || !n) return 0;
    if (memmem(buf, n, mark, m)) return 1;
    /* the joint: the tail, then the first m - 1 bytes of buf */
    k = n < m - 1 ? n : m - 1;
    memcpy(joint, tail, *tail_len);
    memcpy(joint + *tail_len, buf, k);
    if (memmem(joint, *tail_len + k, mark, m)) return 1;
    /* the new tail: the last m - 1 bytes of the joint's tail and buf */
    if (n >= m - 1) {
        memcpy(tail, buf + n - (m - 1), m - 1);
        *tail_len = (unsigned char)(m - 1);
    } else {
        keep = *tail_len + n > m - 1 ? m - 1 - n : *tail_len;
        memmove(tail, tail + *tail_len - keep, keep);
        memcpy(tail + keep, buf, n);
        *tail_len = (unsigned char)(keep + n);
    }
    return 0;
}

static void breaks(int fd)
{
    conn_state[fd] = 2;
    shutdown(fd, SHUT_RDWR);        /* the peer sees the end too */
}

static ssize_t fault_read(int fd, void *buf, size_t n, int flags, int is_recv)
{
    ssize_t r;
    if (conn_state[fd] == 2) { errno = ECONNRESET; return -1; }
    counts[C_READS]++;
    if (n >= 1 && chance(rate)) {
        switch (next() % 3) {
        case 0:
            if (n >= 2) { counts[F_SHORT_READ]++; n = shorter(n); }
            break;
        case 1: counts[F_EINTR_READ]++; errno = EINTR; return -1;
        default: counts[F_EAGAIN_READ]++; errno = EAGAIN; return -1;
        }
    }
    r = is_recv ? real_recv(fd, buf, n, flags) : real_read(fd, buf, n);
    if (r > 0 && marked(reset_mark, tail_in[fd], &tail_in_len[fd], buf, (size_t)r)) {
        counts[F_RESET]++;
        breaks(fd);
        errno = ECONNRESET;
        return -1;
    }
    return r;
}

static ssize_t fault_write(int fd, const void *buf, size_t n, int flags, int is_send)
{
    if (conn_state[fd] == 2) { errno = EPIPE; return -1; }
    counts[C_WRITES]++;
    if (marked(epipe_mark, tail_out[fd], &tail_out_len[fd], buf, n)) {
        counts[F_EPIPE]++;
        breaks(fd);
        errno = EPIPE;
        return -1;
    }
    if (n >= 1 && chance(rate)) {
        switch (next() % 3) {
        case 0:
            if (n >= 2) { counts[F_SHORT_WRITE]++; n = shorter(n); }
            break;
        case 1: counts[F_EINTR_WRITE]++; errno = EINTR; return -1;
        default: counts[F_EAGAIN_WRITE]++; errno = EAGAIN; return -1;
        }
    }
    return is_send ? real_send(fd, buf, n, flags) : real_write(fd, buf, n);
}

ssize_t read(int fd, void *buf, size_t n)
{
    setup();
    return is_conn(fd) ? fault_read(fd, buf, n, 0, 0) : real_read(fd, buf, n);
}

ssize_t recv(int fd, void *buf, size_t n, int flags)
{
    setup();
    return is_conn(fd) ? fault_read(fd, buf, n, flags, 1) : real_recv(fd, buf, n, flags);
}

ssize_t write(int fd, const void *buf, size_t n)
{
    setup();
    return is_conn(fd) ? fault_write(fd, buf, n, 0, 0) : real_write(fd, buf, n);
}

ssize_t send(int fd, const void *buf, size_t n, int flags)
{
    setup();
    return is_conn(fd) ? fault_write(fd, buf, n, flags, 1) : real_send(fd, buf, n, flags);
}

int accept(int fd, struct sockaddr *sa, socklen_t *len)
{
    setup();
    return adopt(real_accept(fd, sa, len));
}

int accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
    setup();
    return adopt(real_accept4(fd, sa, len, flags));
}

int close(int fd)
{
    setup();
    if (fd >= 0 && fd < MAX_FD) conn_state[fd] = 0;
    return real_close(fd);
}

int poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
    setup();
    counts[C_POLLS]++;
    if (poll_rate > 0 && chance(poll_rate)) { counts[F_EINTR_POLL]++; errno = EINTR; return -1; }
    return real_poll(fds, nfds, timeout);
}
