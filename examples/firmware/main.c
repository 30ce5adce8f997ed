/*
 * main.c - grpcstream on a bare Cortex-M: one session, fed to the node in
 * 61-byte pieces (split anywhere, as a UART or a TCP stack would hand
 * them over), replies written as they come: JSON lines, or with -DFW_H2
 * the client's bytes of one gRPC connection (HTTP/2). It uses the
 * public API only; the board is firmware.h (startup.c under QEMU, host.c
 * on the build machine for the reference output). The last line, after
 * the replies and a newline, says how deep the stack went, how big the node is and how
 * many 25 MHz timer ticks the session took (QEMU -icount: instructions).
 */
#include <string.h>

#include "grpcstream.h"
#include "firmware.h"

#define PIECE 61

static gs_node node;

#if defined(FW_H2) && GS_MAX_CONNS > 0
/* The session is the client's bytes of one HTTP/2 connection: fed as they
 * would come off the wire, the server's bytes written as it drains. */
static void run(const char *in, size_t len)
{
    size_t at = 0, n;
    int conn = gs_conn_open(&node);
    const char *out;
    for (;;) {
        if (at < len) {
            size_t piece = len - at < PIECE ? len - at : PIECE;
            at += gs_conn_feed(&node, conn, in + at, piece);
        }
        gs_pump(&node);
        out = gs_conn_output(&node, conn, &n);
        if (n) {
            fw_write(out, n);
            gs_conn_output_done(&node, conn, n);
        } else if (at == len && !gs_runnable(&node)) {
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
static void run(const char *in, size_t len)
{
    size_t at = 0;
    while (at < len) {
        size_t piece = len - at < PIECE ? len - at : PIECE;
        at += gs_feed(&node, in + at, piece);
        drain();
        pump();
    }
    while (!gs_feed_end(&node)) drain();
    pump();
}
#endif

int main(void)
{
    size_t len;
    const char *in = fw_input(&len);
    unsigned long ticks = fw_ticks();
    char report[128], *d;
    gs_init(&node);
    gs_tick(&node, 0);
    run(in, len);
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
