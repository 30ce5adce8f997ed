/*
 * copier.c - the benchmark baseline: the least work a line-at-a-time node
 * can do.
 *
 * It reads stdin with 64 KiB read()s and, for every input line, writes one
 * line of the same length (the line's own bytes, ending in '\n') into a
 * 64 KiB output buffer that is written with write() when full and at the
 * end.  Lines may span read buffers and may be longer than either buffer:
 * a long line is copied whole, through the output buffer in pieces.  A last
 * line without '\n' is written with one, as a node would end its reply.
 *
 * Whatever the node does per message beyond this (parsing, dispatch,
 * formatting) is what `bench.sh` reports as the ratio node / copier.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <string.h>
#include <unistd.h>

#define COPIER_BUF 65536

static char in_buf[COPIER_BUF];
static char out_buf[COPIER_BUF];
static size_t out_len;

/* write_all writes n bytes of p to fd 1, retrying short writes and EINTR.
 * Returns 0, or -1 on a write error. */
static int write_all(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(1, p, n);
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

/* out_put appends n bytes to the output buffer, flushing it whenever it
 * fills, so any n (a piece of a line longer than the buffer) fits. */
static int out_put(const char *p, size_t n)
{
    while (n > 0) {
        size_t room = COPIER_BUF - out_len;
        size_t k = n < room ? n : room;
        memcpy(out_buf + out_len, p, k);
        out_len += k;
        p += k;
        n -= k;
        if (out_len == COPIER_BUF) {
            if (write_all(out_buf, out_len) < 0)
                return -1;
            out_len = 0;
        }
    }
    return 0;
}

int main(void)
{
    int open_line = 0; /* bytes of an unterminated line have been copied */

    for (;;) {
        ssize_t r = read(0, in_buf, sizeof in_buf);
        const char *p, *end;
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return 1;
        }
        if (r == 0)
            break;
        p = in_buf;
        end = in_buf + r;
        while (p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            const char *stop = nl ? nl + 1 : end;
            if (out_put(p, (size_t)(stop - p)) < 0)
                return 1;
            open_line = nl == NULL;
            p = stop;
        }
    }
    if (open_line && out_put("\n", 1) < 0)
        return 1;
    if (out_len > 0 && write_all(out_buf, out_len) < 0)
        return 1;
    return 0;
}
