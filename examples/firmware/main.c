/*
 * main.c - grpcstream on a bare Cortex-M: one session read from the
 * console in 61-byte pieces (split anywhere, as a UART or a TCP stack
 * would hand them over) and fed to the node, replies written as they
 * come: JSON lines, or with -DFW_H2 the client's bytes of one gRPC
 * connection (HTTP/2). It uses the public API only; the board is
 * firmware.h (startup.c under QEMU, host.c on the build machine for the
 * reference output). The last line, after the replies and a newline,
 * says how deep the stack went, how big the node is and how many 25 MHz
 * timer ticks the session took (QEMU -icount: instructions).
 */
#include <string.h>

#include "grpcstream.h"
#include "firmware.h"

#define PIECE 61

static gs_node node;

/* Session bytes come PIECE at a time, as a UART or a TCP stack would
 * hand them over (split anywhere). */
static char piece[PIECE];

#if defined(FW_H2) && GS_MAX_CONNS > 0
/* The session is the client's bytes of one HTTP/2 connection: fed as they
 * come, the server's bytes written as it drains. */
static void run(void)
{
    size_t n = 0, at = 0, out_n;
    int conn = gs_conn_open(&node), ended = 0;
    for (;;) {
        const char *out;
        if (at == n && !ended) {
            n = fw_read(piece, PIECE);
            at = 0;
            ended = n == 0;
        }
        if (at < n) at += gs_conn_feed(&node, conn, piece + at, n - at);
        gs_pump(&node);
        out = gs_conn_output(&node, conn, &out_n);
        if (out_n) {
            fw_write(out, out_n);
            gs_conn_output_done(&node, conn, out_n);
        } else if (ended && !gs_runnable(&node)) {
            break;
        }
    }
    gs_conn_close(&node, conn);
}
#else
static void drain(void)
{
    size_t n;
    const char *out = gs_output(&node, &n);
    if (n) {
        fw_write(out, n);
        gs_output_done(&node, n);
    }
}

/* Streams run until none can; their output is written as it fills. */
static void pump(void)
{
    while (gs_pump(&node)) drain();
    drain();
}

/* The session is JSON lines. */
static void run(void)
{
    size_t n;
    while ((n = fw_read(piece, PIECE)) > 0) {
        size_t at = 0;
        while (at < n) {
            at += gs_feed(&node, piece + at, n - at);
            drain();
            pump();
        }
    }
    while (!gs_feed_end(&node)) drain();
    pump();
}
#endif

int main(void)
{
    unsigned long ticks = fw_ticks();
    char report[128], *d;
    gs_init(&node);
    gs_tick(&node, 0);
    run();
    ticks = fw_ticks() - ticks;
    d = report;
    memcpy(d, "\n# stack ", 9);
    d = gs_json_put_u64(d + 9, fw_stack_used());
    memcpy(d, " bytes, gs_node ", 16);
    d = gs_json_put_u64(d + 16, sizeof node);
    memcpy(d, " bytes, ticks ", 14);
    d = gs_json_put_u64(d + 14, ticks);
    *d++ = '\n';
    fw_write(report, (size_t)(d - report));
    return 0;
}
