/*
 * unit_api.c - the node API's edges, through grpcstream.h only.
 *
 *     cc -std=c99 -DGS_NO_MAIN -I. tests/unit_api.c grpcstream.c json.c -o unit_api
 *     ./unit_api
 *
 * Diagnostics go to the sink of the node that read the line (issue 7,
 * item 6). gs_output_done(node, n) with n larger than what is pending must not
 * underflow: n is clamped to what is pending (issue 7, item 7). Each such
 * scenario runs in a child process, so a crash (ASan's negative-size-param
 * in memmove, a SIGSEGV without sanitizers) is one FAIL line naming the
 * scenario and the remaining checks still run. One line per check: PASS:
 * name or FAIL: name (detail); the exit status is 1 if any check failed.
 */
#define _POSIX_C_SOURCE 200809L     /* fork, waitpid */
#include "grpcstream.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static gs_node node;
static int failures;

static void check(int ok, const char *name, const char *fmt, ...)
{
    if (ok) {
        printf("PASS: %s\n", name);
    } else {
        va_list ap;
        printf("FAIL: %s (", name);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        printf(")\n");
        failures++;
    }
    fflush(stdout);
}

#define INIT "{\"src\":\"c0\",\"dest\":\"n1\",\"body\":{\"type\":\"init\",\"msg_id\":1,\"node_id\":\"n1\",\"node_ids\":[\"n1\"]}}\n"
#define OPEN "{\"src\":\"c1\",\"dest\":\"n1\",\"body\":{\"type\":\"grpc_bidi_stream_open\",\"msg_id\":2,\"service\":\"Chat\",\"method\":\"BiDiChat\"}}\n"
#define SEND "{\"src\":\"c1\",\"dest\":\"n1\",\"body\":{\"type\":\"grpc_bidi_stream_send\",\"msg_id\":3,\"stream_id\":\"s1\",\"data\":{\"text\":\"hi\"}}}\n"
#define INIT_OK "{\"src\": \"n1\", \"dest\": \"c0\", \"body\": {\"type\": \"init_ok\", \"in_reply_to\": 1, \"msg_id\": 0}}\n"
#define OPEN_OK "{\"src\": \"n1\", \"dest\": \"c1\", \"body\": {\"type\": \"grpc_bidi_stream_open_ok\", \"in_reply_to\": 2, \"stream_id\": \"s1\", \"msg_id\": 1}}\n"
#define RECV "{\"src\": \"n1\", \"dest\": \"c1\", \"body\": {\"type\": \"grpc_bidi_stream_recv\", \"in_reply_to\": 3, \"data\": {\"text\": \"echo: hi\"}, \"msg_id\": 2}}\n"

/* Feeds one or more whole lines (all of them: the output never fills up
 * here) and lets streams run. Returns the bytes consumed. */
static size_t feed(const char *s)
{
    size_t n = strlen(s), used = gs_feed(&node, s, n);
    while (gs_pump(&node)) {}
    return used;
}

static size_t pending(void)
{
    size_t n;
    gs_output(&node, &n);
    return n;
}

/* The pending output equals want exactly. */
static int output_is(const char *want, char *detail, size_t cap)
{
    size_t n, w = strlen(want);
    const char *o = gs_output(&node, &n);
    if (n == w && memcmp(o, want, w) == 0) return 1;
    snprintf(detail, cap, "%zu bytes pending: \"%.*s\", want \"%.*s\"", n,
             (int)(n > 200 ? 200 : n), n ? o : "", (int)(w > 200 ? 200 : w), want);
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Plain draining (no overshoot): holds today; the baseline for the rest.  */
/* ---------------------------------------------------------------------- */

static void test_partial_drain(void)
{
    char d[600] = "";
    size_t n, k = 10;
    const char *o;

    gs_init(&node);
    check(feed(INIT) == strlen(INIT), "feed: init consumed whole", "stopped early");
    check(output_is(INIT_OK, d, sizeof d), "gs_output: the init_ok line", "%s", d);
    n = pending();
    gs_output_done(&node, 0);
    check(pending() == n, "gs_output_done(0) changes nothing", "%zu bytes pending, want %zu", pending(), n);
    gs_output_done(&node, k);
    o = gs_output(&node, &n);
    check(n == strlen(INIT_OK) - k && memcmp(o, &INIT_OK[k], n) == 0,
          "gs_output_done(10) drops exactly the first 10 bytes", "%zu bytes pending", n);
    gs_output_done(&node, n);
    check(pending() == 0, "gs_output_done(all pending) leaves nothing", "%zu bytes pending", pending());
    feed(OPEN);
    check(output_is(OPEN_OK, d, sizeof d), "after a full drain the next reply is whole (msg_id 1)", "%s", d);
}

/* ---------------------------------------------------------------------- */
/* Overshoot: n > pending is clamped to pending.                           */
/* ---------------------------------------------------------------------- */

/* pending + 100 right after a reply. */
static void overshoot_after_reply(void)
{
    char d[600] = "";
    size_t p;

    gs_init(&node);
    feed(INIT);
    p = pending();
    check(p == strlen(INIT_OK), "overshoot: the init_ok is pending", "%zu bytes pending", p);
    gs_output_done(&node, p + 100);
    check(pending() == 0, "gs_output_done(pending + 100): gs_output then reports 0 bytes",
          "%zu bytes pending", pending());
    feed(OPEN);
    check(output_is(OPEN_OK, d, sizeof d),
          "gs_output_done(pending + 100): the next line is answered correctly (open_ok, msg_id 1)", "%s", d);
    gs_output_done(&node, pending());
    feed(SEND);
    check(output_is(RECV, d, sizeof d),
          "gs_output_done(pending + 100): the stream then echoes (msg_id 2)", "%s", d);
}

/* n > 0 with nothing pending at all. */
static void overshoot_when_empty(void)
{
    char d[600] = "";

    gs_init(&node);
    feed(INIT);
    gs_output_done(&node, pending());
    gs_output_done(&node, 5);
    check(pending() == 0, "gs_output_done(5) with nothing pending: 0 bytes", "%zu bytes pending", pending());
    feed(OPEN);
    check(output_is(OPEN_OK, d, sizeof d),
          "gs_output_done(5) with nothing pending: the next line is answered correctly", "%s", d);
}

/* After a partial drain, then SIZE_MAX, with two replies pending. */
static void overshoot_partial_then_max(void)
{
    char d[600] = "";
    size_t p;

    gs_init(&node);
    feed(INIT OPEN);
    p = pending();
    check(p == strlen(INIT_OK OPEN_OK), "overshoot: two replies pending", "%zu bytes pending", p);
    gs_output_done(&node, 7);
    gs_output_done(&node, p);           /* 7 more than is left */
    check(pending() == 0, "gs_output_done(pending + 7) after a partial drain: 0 bytes",
          "%zu bytes pending", pending());
    feed(SEND);
    check(output_is(RECV, d, sizeof d),
          "gs_output_done(pending + 7) after a partial drain: the stream still echoes (msg_id 2)", "%s", d);
    gs_output_done(&node, SIZE_MAX);
    check(pending() == 0, "gs_output_done(SIZE_MAX): 0 bytes", "%zu bytes pending", pending());
    feed("{\"src\":\"c1\",\"dest\":\"n1\",\"body\":{\"type\":\"grpc_stream_state\",\"msg_id\":4,\"stream_id\":\"s1\"}}\n");
    check(output_is("{\"src\": \"n1\", \"dest\": \"c1\", \"body\": {\"type\": \"grpc_stream_state_ok\", "
                    "\"in_reply_to\": 4, \"stream_id\": \"s1\", \"state\": \"OPEN\", \"msg_id\": 3}}\n", d, sizeof d),
          "gs_output_done(SIZE_MAX): the next line is answered correctly", "%s", d);
}

/* Runs fn in a child: a crash there is a FAIL line here. */
static void isolated(const char *name, void (*fn)(void))
{
    pid_t pid;
    int status;

    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid < 0) {
        check(0, name, "fork failed");
        return;
    }
    if (pid == 0) {
        fn();
        fflush(stdout);
        _exit(failures ? 3 : 0);
    }
    if (waitpid(pid, &status, 0) != pid) {
        check(0, name, "waitpid failed");
        return;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 3) {
        failures++;                     /* its FAIL lines are printed */
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        if (WIFSIGNALED(status))
            check(0, name, "the node crashed: signal %d", WTERMSIG(status));
        else
            check(0, name, "the node crashed: exit status %d (sanitizer report above)", WEXITSTATUS(status));
    }
}

/* Diagnostics belong to a node (issue 7, item 6): two nodes, two sinks,
 * each hears only of its own bad lines. */
static gs_node other;
static char heard[2][256];

static void sink(gs_node *n, const char *what)
{
    char *h = heard[n == &other];
    if (strlen(h) + strlen(what) + 2 < sizeof heard[0]) {
        strcat(h, what);
        strcat(h, ";");
    }
}

static void test_diagnostic_per_node(void)
{
    static const char no_src[] = "{\"dest\":\"n1\",\"body\":{\"type\":\"init\",\"msg_id\":1}}\n";
    static const char not_object[] = "[1]\n";
    size_t n;
    gs_init(&node);
    gs_init(&other);
    gs_set_diagnostic(&node, sink);
    gs_set_diagnostic(&other, sink);
    gs_feed(&node, no_src, strlen(no_src));
    gs_feed(&other, not_object, strlen(not_object));
    gs_feed(&other, not_object, strlen(not_object));
    check(strcmp(heard[0], "src missing, not a string or too long;") == 0,
          "diagnostics per node: the first node's sink hears its line only", "heard \"%s\"", heard[0]);
    check(strcmp(heard[1], "line is not a JSON object;line is not a JSON object;") == 0,
          "diagnostics per node: the second node's sink hears its two lines only", "heard \"%s\"", heard[1]);
    gs_set_diagnostic(&other, NULL);
    gs_feed(&other, not_object, strlen(not_object));
    check(strlen(heard[1]) == 2 * strlen("line is not a JSON object;"),
          "diagnostics per node: a NULL sink drops them", "heard \"%s\"", heard[1]);
    gs_output(&node, &n);
    check(n == 0, "diagnostics per node: no reply is written for them", "%zu bytes pending", n);
}

int main(void)
{
    test_diagnostic_per_node();
    test_partial_drain();
    isolated("gs_output_done(pending + 100) after a reply", overshoot_after_reply);
    isolated("gs_output_done(5) with nothing pending", overshoot_when_empty);
    isolated("gs_output_done beyond a partly drained output, and SIZE_MAX", overshoot_partial_then_max);
    return failures ? 1 : 0;
}
