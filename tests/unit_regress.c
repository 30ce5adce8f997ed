/*
 * unit_regress.c - regression tests for the review defects of issue 7,
 * through the public API (grpcstream.h) and JSON lines.
 *
 * Two builds, both with the library under ASan+UBSan:
 *
 *   default limits:
 *     cc -std=c99 -DGS_NO_MAIN -I. tests/unit_regress.c grpcstream.c json.c
 *   wide replies (a method with eight string reply fields fits):
 *     cc ... -DWIDE_REPLIES -DGS_MAX_VALUE=256 -DGS_REPLY_MAX=32768 -DGS_OUT_BATCH=1024
 *
 *   ./unit_regress tests/regress
 *   ./unit_regress tests/regress --write   (rewrites regress/ *.out: review!)
 *
 * (a) put_msg wrote past the output buffer for a registered method
 *     returning eight 256-byte strings. Default build: an output
 *     descriptor of eight strings (worst reply > GS_REPLY_MAX) is taken,
 *     and each reply is measured before it is written. Wide build
 *     (GS_MAX_VALUE=256 alone is not enough: that worst reply is about
 *     22 KB, the default GS_REPLY_MAX there 12.5 KB): its worst reply
 *     fits. In both, eight 256-byte strings of control characters (escaped
 *     6x) are answered whole, and a reply string longer than
 *     GS_MAX_OUT_VALUE ends the call RESOURCE_EXHAUSTED "reply field NAME
 *     larger than N bytes".
 * (b) a bidi method whose start() set *why and failed crashed (NULL
 *     *why): the open is answered with grpc_stream_end of that status and
 *     message, no stream_id.                     regress/bidi_start_fails
 * (c) a gs_register that failed kept the captures it took, so a later
 *     method that fitted was refused: now it takes nothing.
 *                                                   regress/capture_slots
 * (d) HALF_CLOSED over JSON lines: a bidi method whose half_close returns
 *     GS_AGAIN; state HALF_CLOSED, a send refused (22 "stream is
 *     half-closed"), then next()'s messages and the end.
 *                                                     regress/half_closed
 *
 * Each scenario runs in a child process, so a crash (or an ASan report)
 * is one FAIL line and the rest still run. The file also builds against
 * the header of 0e9cbf1 (before these fixes; no GS_MAX_OUT_VALUE, no
 * half_close), to show that every scenario fails there.
 */
#define _POSIX_C_SOURCE 200809L     /* fork, waitpid */
#include "grpcstream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef GS_MAX_OUT_VALUE            /* the header of 0e9cbf1 */
#define OLD_HEADER
#define GS_MAX_OUT_VALUE ((size_t)GS_MAX_VALUE + 64)
#endif

static gs_node node;
static int failures;                /* in a child: its own */

static void check(int ok, const char *name, const char *detail)
{
    printf("%s: %s\n", ok ? "PASS" : "FAIL", name);
    if (!ok) {
        failures++;
        if (detail && *detail) printf("    %s\n", detail);
    }
    fflush(stdout);
}

/* ===================================================================== */
/* Sessions: JSON lines in, everything the node wrote out                 */
/* ===================================================================== */

static char out[1 << 20];
static size_t out_len;

static void drain(void)
{
    size_t n;
    const char *o = gs_output(&node, &n);
    if (out_len + n >= sizeof out) {
        printf("FAIL: session output larger than %zu bytes\n", sizeof out);
        exit(3);
    }
    memcpy(out + out_len, o, n);
    out_len += n;
    out[out_len] = '\0';
    gs_output_done(&node, n);
}

/* Feeds all of in (draining whenever the node asks), ends the input and
 * lets every stream finish. The output is in out[0..out_len). */
static void session(const char *in, size_t n)
{
    size_t used = 0;
    int rounds = 0;
    out_len = 0;
    while (used < n && rounds++ < 100000) {
        used += gs_feed(&node, in + used, n - used);
        drain();
    }
    while (!gs_feed_end(&node) && rounds++ < 100000) drain();
    while (gs_pump(&node) && rounds++ < 100000) drain();
    drain();
}

static int write_out;               /* --write: the .out files from this build */

static char *read_file(const char *path, size_t *n)
{
    static char buf[1 << 20];
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    *n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return buf;
}

/* Runs dir/name.in and compares the output with dir/name.out. */
static void session_file(const char *dir, const char *name, const char *check_name)
{
    char path[512], detail[600] = "";
    size_t in_n, want_n, line = 1, i;
    char *in, *want;
    snprintf(path, sizeof path, "%s/%s.in", dir, name);
    in = read_file(path, &in_n);
    if (!in) { check(0, check_name, path); return; }
    session(in, in_n);
    snprintf(path, sizeof path, "%s/%s.out", dir, name);
    if (write_out) {
        FILE *f = fopen(path, "wb");
        check(f && fwrite(out, 1, out_len, f) == out_len && fclose(f) == 0, path, "could not write it");
        return;
    }
    want = read_file(path, &want_n);
    if (!want) { check(0, check_name, path); return; }
    for (i = 0; i < out_len && i < want_n && out[i] == want[i]; i++)
        if (out[i] == '\n') line++;
    if (i < out_len || i < want_n) {
        size_t start = i;
        while (start > 0 && out[start - 1] != '\n') start--;
        snprintf(detail, sizeof detail, "output differs from %s at line %zu: got \"%.*s\"", path, line,
                 (int)strcspn(out + start, "\n") > 300 ? 300 : (int)strcspn(out + start, "\n"),
                 start < out_len ? out + start : "");
    }
    check(i == out_len && i == want_n, check_name, detail);
}

/* ===================================================================== */
/* Vendored methods                                                       */
/* ===================================================================== */

static const gs_field number_fields[] = {   /* as PROTOCOL.md writes numbers */
    { "n", 1, GS_UINT64, GS_JSON_NUMBER, NULL, NULL }
};
static const gs_desc number = { "Number", number_fields, 1 };
static const gs_field text_fields[] = { GS_FIELD("text", 1, GS_STRING) };
static const gs_desc text = { "Text", text_fields, 1 };
static const gs_field two_fields[] = { GS_FIELD("a", 1, GS_STRING), GS_FIELD("b", 2, GS_STRING) };
static const gs_desc two = { "Two", two_fields, 2 };
static const gs_field eight_fields[] = {
    GS_FIELD("s0", 1, GS_STRING), GS_FIELD("s1", 2, GS_STRING), GS_FIELD("s2", 3, GS_STRING), GS_FIELD("s3", 4, GS_STRING),
    GS_FIELD("s4", 5, GS_STRING), GS_FIELD("s5", 6, GS_STRING), GS_FIELD("s6", 7, GS_STRING), GS_FIELD("s7", 8, GS_STRING)
};
static const gs_desc eight = { "Eight", eight_fields, 8 };

/* Strings of control characters: the worst case for escaping (\u0001). */
static char ctl[GS_MAX_OUT_VALUE + 1];

static gs_str ctl_str(size_t n)
{
    gs_str s;
    s.p = ctl;
    s.n = n;
    return s;
}

/* (a) Eight/Get: eight 256-byte strings; s7 is n bytes if n > 0. */
static int eight_get(gs_node *n, const gs_msg *req, gs_msg *resp, const char **why)
{
    unsigned i;
    (void)n; (void)why;
    for (i = 0; i < 8; i++) resp->v[i].s = ctl_str(256);
    if (req->v[0].u) resp->v[7].s = ctl_str((size_t)req->v[0].u);
    return GS_OK;
}

/* (a) Big/Get: one string of n bytes. Big/Two: two strings (a control:
 * two string fields fit every build). */
static int big_get(gs_node *n, const gs_msg *req, gs_msg *resp, const char **why)
{
    (void)n; (void)why;
    resp->v[0].s = ctl_str((size_t)req->v[0].u);
    return GS_OK;
}

static int big_two(gs_node *n, const gs_msg *req, gs_msg *resp, const char **why)
{
    (void)n; (void)why; (void)req;
    resp->v[0].s = ctl_str(3);
    resp->v[1].s = ctl_str(2);
    return GS_OK;
}

static const gs_method eight_method = {
    .service = "Eight", .name = "Get", .kind = GS_UNARY, .in = &number, .out = &eight,
    .unary = eight_get
};
static const gs_method big_method = {
    .service = "Big", .name = "Get", .kind = GS_UNARY, .in = &number, .out = &text,
    .unary = big_get
};
static const gs_method big_two_method = {
    .service = "Big", .name = "Two", .kind = GS_UNARY, .in = &number, .out = &two,
    .unary = big_two
};

/* (b) Vault/Open: a bidi method whose start refuses with a message. */
static int vault_start(gs_node *n, gs_stream *s, const gs_msg *req, const char **why)
{
    (void)n; (void)s; (void)req;
    *why = "vault is locked";
    return GS_PERMISSION_DENIED;
}

static int echo_recv(gs_node *n, gs_stream *s, const gs_msg *in, gs_msg *out_msg, const char **why)
{
    (void)n; (void)s; (void)why;
    out_msg->v[0].s = in->v[0].s;
    return GS_OK;
}

static const gs_method vault_method = {
    .service = "Vault", .name = "Open", .kind = GS_BIDI_STREAMING, .in = &text, .out = &text,
    .start = vault_start, .recv = echo_recv
};

/* (c) Wide/Three reads three new string fields: with the built-ins'
 * four string captures taken, GS_MAX_STRING_CAPTURES (6) has room for two
 * only, so it is refused. Pair/Join reads two new strings: it fits, if
 * the refused method took nothing. */
static const gs_field three_fields[] = {
    GS_FIELD("x", 1, GS_STRING), GS_FIELD("y", 2, GS_STRING), GS_FIELD("z", 3, GS_STRING)
};
static const gs_desc three = { "Three", three_fields, 3 };
static const gs_field pair_fields[] = { GS_FIELD("left", 1, GS_STRING), GS_FIELD("right", 2, GS_STRING) };
static const gs_desc pair = { "Pair", pair_fields, 2 };

static int join(gs_node *n, const gs_msg *req, gs_msg *resp, const char **why)
{
    char *d = gs_scratch(n, req->v[0].s.n + 1 + req->v[1].s.n);
    (void)why;
    if (!d) return GS_RESOURCE_EXHAUSTED;
    memcpy(d, req->v[0].s.p, req->v[0].s.n);
    d[req->v[0].s.n] = '+';
    memcpy(d + req->v[0].s.n + 1, req->v[1].s.p, req->v[1].s.n);
    resp->v[0].s.p = d;
    resp->v[0].s.n = req->v[0].s.n + 1 + req->v[1].s.n;
    return GS_OK;
}

static const gs_method three_method = {
    .service = "Wide", .name = "Three", .kind = GS_UNARY, .in = &three, .out = &text,
    .unary = join
};
static const gs_method join_method = {
    .service = "Pair", .name = "Join", .kind = GS_UNARY, .in = &pair, .out = &text,
    .unary = join
};

/* (d) Tail/Talk: echoes; after the client's close it goes on (half_close
 * returns GS_AGAIN); next() waits until Tail/Go wakes it, then sends
 * "more 1".."more 3" and ends OK. */
typedef struct { int sent; } tail_state;

static int tail_start(gs_node *n, gs_stream *s, const gs_msg *req, const char **why)
{
    tail_state *t = gs_stream_state(s);
    (void)n; (void)req; (void)why;
    t->sent = -1;                   /* not woken yet */
    return GS_OK;
}

static int tail_half_close(gs_node *n, gs_stream *s, const char **why)
{
    (void)n; (void)s; (void)why;
    return GS_AGAIN;
}

static int tail_next(gs_node *n, gs_stream *s, gs_msg *out_msg, const char **why)
{
    static const char *const more[] = { "more 1", "more 2", "more 3" };
    tail_state *t = gs_stream_state(s);
    (void)n; (void)why;
    if (t->sent < 0) {
        t->sent = 0;
        return GS_WAIT;
    }
    if (t->sent == 3) return GS_OK;
    out_msg->v[0].s.p = more[t->sent];
    out_msg->v[0].s.n = strlen(more[t->sent]);
    t->sent++;
    return GS_SEND;
}

static const gs_method tail_method = {
    .service = "Tail", .name = "Talk", .kind = GS_BIDI_STREAMING, .in = &text, .out = &text,
    .start = tail_start, .next = tail_next, .recv = echo_recv,
#ifndef OLD_HEADER
    .half_close = tail_half_close,
#endif
};

static int tail_go(gs_node *n, const gs_msg *req, gs_msg *resp, const char **why)
{
    (void)req; (void)why;
    gs_wake(n, &tail_method);
    resp->v[0].u = 1;
    return GS_OK;
}

static const gs_method go_method = {
    .service = "Tail", .name = "Go", .kind = GS_UNARY, .in = &number, .out = &number,
    .unary = tail_go
};

static int three_refused, join_taken, eight_registered, two_registered;

/* A fresh node with the vendored methods ((c)'s two first). */
static void setup(void)
{
    memset(ctl, 1, sizeof ctl);
    gs_init(&node);
    three_refused = gs_register(&node, &three_method) == -1;
    join_taken = gs_register(&node, &join_method) == 0;
    eight_registered = gs_register(&node, &eight_method) == 0;
    two_registered = gs_register(&node, &big_two_method) == 0;
    gs_register(&node, &big_method);
    gs_register(&node, &vault_method);
    gs_register(&node, &tail_method);
    gs_register(&node, &go_method);
}

/* ===================================================================== */
/* Scenarios                                                              */
/* ===================================================================== */

#define INIT "{\"src\": \"c1\", \"dest\": \"n1\", \"body\": {\"type\": \"init\", \"msg_id\": 1, \"node_id\": \"n1\", \"node_ids\": [\"n1\"]}}\n"
#define INIT_OK "{\"src\": \"n1\", \"dest\": \"c1\", \"body\": {\"type\": \"init_ok\", \"in_reply_to\": 1, \"msg_id\": 0}}\n"

/* A grpc_call of service/method with request {"n": n}, as msg_id 2. */
static size_t call_line(char *buf, size_t cap, const char *svc, const char *method, size_t n)
{
    return (size_t)snprintf(buf, cap,
        INIT "{\"src\": \"c1\", \"dest\": \"n1\", \"body\": {\"type\": \"grpc_call\", \"msg_id\": 2, "
        "\"service\": \"%s\", \"method\": \"%s\", \"request\": {\"n\": %zu}}}\n", svc, method, n);
}

/* The reply to a call that failed RESOURCE_EXHAUSTED on field f. */
static void too_large_reply(char *buf, size_t cap, const char *f)
{
    snprintf(buf, cap, INIT_OK "{\"src\": \"n1\", \"dest\": \"c1\", \"body\": {\"type\": \"grpc_call_ok\", "
             "\"in_reply_to\": 2, \"status\": \"RESOURCE_EXHAUSTED\", \"message\": \"reply field %s larger than %zu bytes\", "
             "\"msg_id\": 1}}\n", f, GS_MAX_OUT_VALUE);
}

static int output_is(const char *want, char *detail, size_t cap)
{
    size_t w = strlen(want);
    if (out_len == w && memcmp(out, want, w) == 0) return 1;
    snprintf(detail, cap, "got %zu bytes \"%.*s\"%s", out_len,
             (int)(out_len > 400 ? 400 : out_len), out, out_len > 400 ? "..." : "");
    return 0;
}

/* (a) */
static void reply_room(void)
{
    static char in[1024], want[1 << 15], detail[1024];
    size_t n;
    char *d;
    int i, k;

    setup();
    check(two_registered, "(a) a reply of two string fields is accepted", "");
    check(eight_registered, "(a) the eight-string method is taken (default build: its replies measured)",
          "gs_register returned -1");
    /* the whole reply, built here: each string 256 x \u0001 */
    d = want + snprintf(want, sizeof want, INIT_OK "{\"src\": \"n1\", \"dest\": \"c1\", \"body\": "
                        "{\"type\": \"grpc_call_ok\", \"in_reply_to\": 2, \"status\": \"OK\", \"response\": {");
    for (i = 0; i < 8; i++) {
        d += sprintf(d, "%s\"s%d\": \"", i ? ", " : "", i);
        for (k = 0; k < 256; k++) d += sprintf(d, "\\u0001");
        *d++ = '"';
    }
    sprintf(d, "}, \"msg_id\": 1}}\n");
    n = call_line(in, sizeof in, "Eight", "Get", 0);
    session(in, n);
    check(output_is(want, detail, sizeof detail),
          "(a) eight 256-byte strings of control characters: the reply is whole and exact", detail);

    setup();        /* five at once: the node waits for room between them */
    n = call_line(in, sizeof in, "Eight", "Get", 0);
    for (i = 0; i < 4; i++)
        n += (size_t)snprintf(in + n, sizeof in - n, "{\"src\": \"c1\", \"dest\": \"n1\", \"body\": {\"type\": "
                              "\"grpc_call\", \"msg_id\": %d, \"service\": \"Eight\", \"method\": \"Get\"}}\n", 3 + i);
    session(in, n);
    for (k = 0, d = out; (d = strstr(d, "\"status\": \"OK\", \"response\": {\"s0\"")) != NULL; d++) k++;
    check(k == 5 && out_len == strlen(INIT_OK) + 5 * (strlen(want) - strlen(INIT_OK)),
          "(a) five such calls in one feed: five whole replies", "");

    setup();
    n = call_line(in, sizeof in, "Eight", "Get", GS_MAX_OUT_VALUE + 1);
    session(in, n);
    too_large_reply(want, sizeof want, "s7");
    check(output_is(want, detail, sizeof detail),
          "(a) s7 one byte longer than GS_MAX_OUT_VALUE: RESOURCE_EXHAUSTED \"reply field s7 larger than N bytes\"",
          detail);
    setup();
    n = call_line(in, sizeof in, "Big", "Get", GS_MAX_OUT_VALUE);
    session(in, n);
    check(out_len > 6 * GS_MAX_OUT_VALUE && strstr(out, "\"status\": \"OK\"") != NULL,
          "(a) a reply string of exactly GS_MAX_OUT_VALUE bytes is sent", "");
    setup();
    n = call_line(in, sizeof in, "Big", "Get", GS_MAX_OUT_VALUE + 1);
    session(in, n);
    too_large_reply(want, sizeof want, "text");
    check(output_is(want, detail, sizeof detail),
          "(a) one byte longer: RESOURCE_EXHAUSTED \"reply field text larger than N bytes\"", detail);
}

/* (b) */
static void bidi_start_fails(const char *dir)
{
    setup();
    session_file(dir, "bidi_start_fails",
                 "(b) bidi start() fails with *why: grpc_stream_end PERMISSION_DENIED \"vault is locked\", no stream_id");
}

/* (c) */
static void capture_slots(const char *dir)
{
    setup();
    check(three_refused, "(c) a method needing three more string captures than fit is refused", "");
    check(join_taken, "(c) then one needing two (which fit) is taken: the refused one kept nothing",
          "gs_register(Pair/Join) returned -1");
    session_file(dir, "capture_slots", "(c) Pair/Join reads both its strings; Chat still reads text");
}

/* (d) */
static void half_closed(const char *dir)
{
    setup();
    session_file(dir, "half_closed",
                 "(d) close with half_close GS_AGAIN: state HALF_CLOSED, send refused 22, 3 grpc_stream_msg, end OK");
}

/* Runs fn in a child: its checks print there; a crash is one FAIL here. */
static void isolated(const char *name, void (*fn)(const char *), const char *dir)
{
    pid_t pid;
    int status;
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        fn(dir);
        fflush(stdout);
        _exit(failures ? 3 : 0);
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid) {
        check(0, name, "fork/waitpid failed");
        return;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 3) failures++;
    else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char detail[80];
        if (WIFSIGNALED(status)) snprintf(detail, sizeof detail, "killed by signal %d", WTERMSIG(status));
        else snprintf(detail, sizeof detail, "exit status %d (a sanitizer report above?)", WEXITSTATUS(status));
        check(0, name, detail);
    }
}

static void reply_room_dir(const char *dir) { (void)dir; reply_room(); }

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "tests/regress";
    write_out = argc > 2 && strcmp(argv[2], "--write") == 0;
    isolated("(a) reply room: the scenario ran to its end", reply_room_dir, dir);
    isolated("(b) bidi start failure: the scenario ran to its end", bidi_start_fails, dir);
    isolated("(c) capture slots: the scenario ran to its end", capture_slots, dir);
    isolated("(d) half-closed: the scenario ran to its end", half_closed, dir);
    return failures ? 1 : 0;
}
