/*
 * main.c - grpcstream on a bare Cortex-M: one JSON-lines session, fed to
 * the node in 61-byte pieces (lines split anywhere, as a UART or a TCP
 * stack would hand them over), replies written as they come. It uses the
 * public API only; the board is firmware.h (startup.c under QEMU, host.c
 * on the build machine for the reference output). The last line, after
 * the replies, says how deep the stack went, how big the node is and how
 * many 25 MHz timer ticks the session took (QEMU -icount: instructions).
 */
#include <string.h>

#include "grpcstream.h"
#include "firmware.h"

#define PIECE 61

static gs_node node;

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

int main(void)
{
    size_t len, at = 0;
    const char *in = fw_input(&len);
    unsigned long ticks = fw_ticks();
    char report[128], *d;
    gs_init(&node);
    gs_tick(&node, 0);
    while (at < len) {
        size_t piece = len - at < PIECE ? len - at : PIECE;
        at += gs_feed(&node, in + at, piece);
        drain();
        pump();
    }
    while (!gs_feed_end(&node)) drain();
    pump();
    ticks = fw_ticks() - ticks;
    d = report;
    memcpy(d, "# stack ", 8);
    d = gs_json_put_u64(d + 8, fw_stack_used());
    memcpy(d, " bytes, gs_node ", 16);
    d = gs_json_put_u64(d + 16, sizeof node);
    memcpy(d, " bytes, ticks ", 14);
    d = gs_json_put_u64(d + 14, ticks);
    *d++ = '\n';
    fw_write(report, (size_t)(d - report));
    return 0;
}
