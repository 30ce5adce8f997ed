/* iofault.c - an LD_PRELOAD shim that makes stdin/stdout I/O misbehave.
 *
 * Build:  cc -shared -fPIC -o iofault.so tests/iofault.c -ldl
 * Use:    IOFAULT_SEED=7 IOFAULT_RATE=0.3 LD_PRELOAD=$PWD/iofault.so ./grpcstream
 *
 * With probability IOFAULT_RATE (0..1, default 0.25) per call:
 * - read() on fd 0 returns a short count (asks the kernel for 1..n-1 bytes),
 *   or -1 with errno EINTR, or -1 with errno EAGAIN (nothing consumed);
 * - write() and writev() on fd 1 write only 1..n-1 bytes, or fail with
 *   EINTR or EAGAIN (nothing written);
 * - poll() returns -1 with errno EINTR at once, without waiting.
 * Choices come from a xorshift generator seeded with IOFAULT_SEED (default
 * 1), so a run is reproducible as far as the kernel's own timing allows.
 * IOFAULT_REPORT=FILE: at exit, the number of calls and of faults of each
 * kind is written to FILE (to check that faults were injected at all).
 * Other file descriptors and every other call are left alone.
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
#include <sys/uio.h>
#include <unistd.h>

typedef ssize_t (*read_fn)(int, void *, size_t);
typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef int (*poll_fn)(struct pollfd *, nfds_t, int);
typedef ssize_t (*writev_fn)(int, const struct iovec *, int);

static read_fn real_read;
static write_fn real_write;
static poll_fn real_poll;
static writev_fn real_writev;
static uint64_t rng_state;
static double rate = 0.25;
static int ready;

enum { C_READ, C_WRITE, C_POLL, F_SHORT_READ, F_EINTR_READ, F_EAGAIN_READ,
       F_SHORT_WRITE, F_EINTR_WRITE, F_EAGAIN_WRITE, F_EINTR_POLL, N_COUNTS };
static const char *const count_names[N_COUNTS] = {
    "reads", "writes", "polls", "short_reads", "eintr_reads", "eagain_reads",
    "short_writes", "eintr_writes", "eagain_writes", "eintr_polls"
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
    const char *path = getenv("IOFAULT_REPORT");
    char buf[1024];
    size_t len = 0;
    int fd, i;
    if (!path || !*path) return;
    for (i = 0; i < N_COUNTS && len < sizeof buf - 64; i++)
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%s=%lu\n", count_names[i], counts[i]);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return;
    if (real_write(fd, buf, len) < 0) { /* nothing to do */ }
    close(fd);
}

static void setup(void)
{
    const char *s;
    void *p;
    if (ready) return;
    p = lookup("read");  memcpy(&real_read, &p, sizeof p);
    p = lookup("write"); memcpy(&real_write, &p, sizeof p);
    p = lookup("poll");  memcpy(&real_poll, &p, sizeof p);
    p = lookup("writev"); memcpy(&real_writev, &p, sizeof p);
    s = getenv("IOFAULT_SEED");
    rng_state = (s ? strtoull(s, NULL, 10) : 1) * 0x9E3779B97F4A7C15ull + 0x1234567ull;
    if (!rng_state) rng_state = 1;
    s = getenv("IOFAULT_RATE");
    if (s) rate = strtod(s, NULL);
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

static int hit(void) { return (double)(next() >> 11) / 9007199254740992.0 < rate; }

/* 1..n-1 for n >= 2, biased towards small counts half of the time. */
static size_t shorter(size_t n)
{
    size_t m = (next() & 1) ? 1 + next() % 16 : 1 + next() % (n - 1);
    return m < n ? m : n - 1;
}

ssize_t read(int fd, void *buf, size_t n)
{
    setup();
    if (fd == 0) {
        counts[C_READ]++;
        if (hit()) {
            switch (next() % 3) {
            case 0:
                if (n >= 2) { counts[F_SHORT_READ]++; return real_read(fd, buf, shorter(n)); }
                break;
            case 1: counts[F_EINTR_READ]++; errno = EINTR; return -1;
            default: counts[F_EAGAIN_READ]++; errno = EAGAIN; return -1;
            }
        }
    }
    return real_read(fd, buf, n);
}

ssize_t write(int fd, const void *buf, size_t n)
{
    setup();
    if (fd == 1) {
        counts[C_WRITE]++;
        if (hit()) {
            switch (next() % 3) {
            case 0:
                if (n >= 2) { counts[F_SHORT_WRITE]++; return real_write(fd, buf, shorter(n)); }
                break;
            case 1: counts[F_EINTR_WRITE]++; errno = EINTR; return -1;
            default: counts[F_EAGAIN_WRITE]++; errno = EAGAIN; return -1;
            }
        }
    }
    return real_write(fd, buf, n);
}

/* A short writev writes the first 1..n-1 bytes of what the iovecs hold. */
ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
    setup();
    if (fd == 1 && iovcnt > 0 && iovcnt <= 16) {
        size_t n = 0;
        int i;
        for (i = 0; i < iovcnt; i++) n += iov[i].iov_len;
        counts[C_WRITE]++;
        if (hit()) {
            switch (next() % 3) {
            case 0:
                if (n >= 2) {
                    struct iovec cut[16];
                    size_t left = shorter(n);
                    int k;
                    for (k = 0; k < iovcnt && left; k++) {
                        cut[k] = iov[k];
                        if (cut[k].iov_len > left) cut[k].iov_len = left;
                        left -= cut[k].iov_len;
                    }
                    counts[F_SHORT_WRITE]++;
                    return real_writev(fd, cut, k);
                }
                break;
            case 1: counts[F_EINTR_WRITE]++; errno = EINTR; return -1;
            default: counts[F_EAGAIN_WRITE]++; errno = EAGAIN; return -1;
            }
        }
    }
    return real_writev(fd, iov, iovcnt);
}

int poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
    setup();
    counts[C_POLL]++;
    if (hit()) { counts[F_EINTR_POLL]++; errno = EINTR; return -1; }
    return real_poll(fds, nfds, timeout);
}
