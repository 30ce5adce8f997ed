/*
 * split.c - the node's output must not depend on how its input is cut.
 *
 *     cc -std=c99 -DGS_NO_MAIN -I. tests/split.c grpcstream.c json.c -o split
 *     ./split tests/cases/NAME.in ...
 *
 * For each JSON-lines file, a fresh node is run over it fed (a) whole,
 * (b) one byte at a time and (c) in two chunks cut at every offset (files
 * over 64 KiB: every offset in the first and last 4 KiB plus 200 random
 * ones, fixed seed). (b) and (c) must give exactly the bytes (a) gives.
 * One line per file: PASS: name, or FAIL: name (first difference).
 *
 * The driver is main()'s loop without I/O: gs_feed (which may stop early
 * while output must drain: drain, feed the rest), gs_pump until it returns
 * 0 after each chunk, gs_feed_end at the end (retried while it returns 0),
 * then gs_pump again. A fresh gs_init for every run. The clock (gs_tick)
 * stands at 0 while input is fed; at the end it steps from one deadline
 * (gs_timeout) to the next until none is left, so timeout_ms calls end
 * as they would when the whole input arrives at once.
 *
 * Pumping after every chunk is chunk-independent only while no stream
 * outlives its first turn (GS_SLICE messages): a longer stream may be
 * interleaved with later replies in any way (PROTOCOL.md 1.6). So each
 * file is first run whole, pumping at every line end only; if a pump there
 * had anything to do, every run of that file pumps at line ends only (a
 * schedule that does not depend on the cuts), and the PASS line says so.
 * Otherwise that run must equal the plain whole run, and the cut runs
 * pump after every chunk.
 */
#include "grpcstream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static gs_node node;

typedef struct { char *p; size_t n, cap; } buf;

static void buf_add(buf *b, const char *s, size_t n)
{
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < b->n + n) cap *= 2;
        b->p = realloc(b->p, cap);
        if (!b->p) { fputs("out of memory\n", stderr); exit(2); }
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void drain(buf *out)
{
    size_t n;
    const char *o = gs_output(&node, &n);
    if (n) {
        buf_add(out, o, n);
        gs_output_done(&node, n);
    }
}

static int pumped_work;     /* gs_pump returned 1 at least once */
static int stuck;           /* the node stopped taking input */

static void pump(buf *out)
{
    int guard = 0;
    for (;;) {
        size_t before = out->n;
        int r = gs_pump(&node);
        drain(out);
        if (r || out->n != before) pumped_work = 1;
        if (!r) break;
        if (++guard > 100000000) { stuck = 1; break; }
    }
}

/* Feeds one chunk whole (draining whenever the node stops early). */
static void feed(const char *p, size_t n, buf *out)
{
    int idle = 0;
    while (n) {
        size_t used = gs_feed(&node, p, n);
        drain(out);
        p += used;
        n -= used;
        if (used) idle = 0;
        else if (++idle > 3) { stuck = 1; return; }
    }
}

/* Feeds one chunk; pumps after it, or (line_pump) after each line end
 * in it instead. */
static void chunk(const char *p, size_t n, int line_pump, buf *out)
{
    if (!line_pump) {
        feed(p, n, out);
        pump(out);
        return;
    }
    while (n) {
        const char *nl = memchr(p, '\n', n);
        size_t k = nl ? (size_t)(nl - p) + 1 : n;
        feed(p, k, out);
        if (nl) pump(out);
        p += k;
        n -= k;
    }
}

/* One run: the input cut at cuts[0..ncut-1] (ascending, inside 1..n-1),
 * or into 1-byte chunks if bytewise. */
static void run(const char *in, size_t n, const size_t *cuts, size_t ncut,
                int bytewise, int line_pump, buf *out)
{
    size_t i, at = 0;
    int guard = 0;
    uint64_t now = 0;
    out->n = 0;
    gs_init(&node);
    if (bytewise) {
        for (i = 0; i < n; i++) chunk(in + i, 1, line_pump, out);
    } else {
        for (i = 0; i < ncut; i++) {
            chunk(in + at, cuts[i] - at, line_pump, out);
            at = cuts[i];
        }
        chunk(in + at, n - at, line_pump, out);
    }
    while (!gs_feed_end(&node)) {
        drain(out);
        if (++guard > 1000000) { stuck = 1; break; }
    }
    drain(out);
    pump(out);
    /* The input came at time 0; now time runs on from one deadline to
     * the next until none is left, as main() waits for them at the end. */
    for (guard = 0; gs_timeout(&node) >= 0; guard++) {
        now += (uint64_t)gs_timeout(&node);
        gs_tick(&node, now);
        drain(out);
        pump(out);
        if (guard > 1000000) { stuck = 1; break; }
    }
}

static char *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    buf b = { NULL, 0, 0 };
    char tmp[65536];
    size_t r;
    if (!f) return NULL;
    while ((r = fread(tmp, 1, sizeof tmp, f)) > 0) buf_add(&b, tmp, r);
    fclose(f);
    buf_add(&b, "", 1);     /* never NULL, even for an empty file */
    *n = b.n - 1;
    return b.p;
}

/* Where two outputs first differ, for the FAIL line. */
static void describe(const buf *want, const buf *got, char *why, size_t cap)
{
    size_t i = 0, line = 1;
    while (i < want->n && i < got->n && want->p[i] == got->p[i]) {
        if (want->p[i] == '\n') line++;
        i++;
    }
    snprintf(why, cap, "%zu vs %zu output bytes, first difference at byte %zu (output line %zu)",
             got->n, want->n, i, line);
}

static uint64_t rng = 0x9E3779B97F4A7C15u;

static uint64_t next_random(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* One run cut at `cut` (0: 1-byte chunks), compared with want. */
static int same_when_cut(const char *in, size_t n, size_t cut, int line_pump,
                         const buf *want, buf *got, char *why, size_t cap)
{
    run(in, n, &cut, cut ? 1 : 0, cut == 0, line_pump, got);
    if (!stuck && got->n == want->n && (want->n == 0 || memcmp(got->p, want->p, want->n) == 0))
        return 1;
    describe(want, got, why, cap);
    if (cut) snprintf(why + strlen(why), cap - strlen(why), ", cut at %zu%s", cut,
                      stuck ? ", the node stopped taking input" : "");
    else snprintf(why + strlen(why), cap - strlen(why), ", 1-byte chunks%s",
                  stuck ? ", the node stopped taking input" : "");
    return 0;
}

/* Runs every split of one file; returns 1 if all agree. */
static int check_file(const char *in, size_t n, char *why, size_t cap)
{
    buf want = { NULL, 0, 0 }, got = { NULL, 0, 0 };
    size_t k;
    int line_pump = 0, ok = 1;

    rng = 0x9E3779B97F4A7C15u;  /* the same random cuts for a file, whatever else runs */

    /* Fed whole, pumping at line ends: did a stream outlive its turn? */
    pumped_work = stuck = 0;
    run(in, n, NULL, 0, 0, 1, &want);
    if (pumped_work) {
        line_pump = 1;          /* keep that schedule for every run */
    } else {
        run(in, n, NULL, 0, 0, 0, &got);
        if (got.n != want.n || (want.n && memcmp(got.p, want.p, want.n) != 0)) {
            describe(&want, &got, why, cap);
            snprintf(why + strlen(why), cap - strlen(why), ", fed whole: pumping at line ends and at the end differ");
            ok = 0;
        }
    }
    if (stuck) {
        snprintf(why, cap, "fed whole, the node stopped taking input");
        ok = 0;
    }
    if (ok) ok = same_when_cut(in, n, 0, line_pump, &want, &got, why, cap);
    for (k = 1; ok && k < n; k++) {
        if (n > 65536 && k == 4096) k = n - 4096;  /* first and last 4 KiB */
        ok = same_when_cut(in, n, k, line_pump, &want, &got, why, cap);
    }
    for (k = 0; ok && n > 65536 && k < 200; k++)
        ok = same_when_cut(in, n, 1 + (size_t)(next_random() % (n - 1)), line_pump,
                           &want, &got, why, cap);
    if (ok && line_pump) snprintf(why, cap, "long streams: pumped at line ends");
    free(want.p);
    free(got.p);
    return ok;
}

int main(int argc, char **argv)
{
    int i, failed = 0;
    if (argc < 2) {
        fputs("usage: split FILE...\n", stderr);
        return 2;
    }
    for (i = 1; i < argc; i++) {
        const char *name = strrchr(argv[i], '/') ? strrchr(argv[i], '/') + 1 : argv[i];
        char why[256];
        size_t n;
        char *in = read_file(argv[i], &n);
        if (!in) {
            printf("FAIL: split %s (cannot read %s)\n", name, argv[i]);
            failed = 1;
            continue;
        }
        why[0] = '\0';
        if (check_file(in, n, why, sizeof why)) {
            if (why[0]) printf("PASS: split %s (%s)\n", name, why);
            else printf("PASS: split %s\n", name);
        } else {
            printf("FAIL: split %s (%s)\n", name, why);
            failed = 1;
        }
        fflush(stdout);
        free(in);
    }
    return failed;
}
