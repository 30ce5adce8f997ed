/*
 * startup.c - reset and semihosting for a bare Cortex-M (no OS, no C
 * runtime start files): the vector table, .data copied and .bss zeroed
 * before main(), and the semihosting calls the firmware uses (open the
 * console, read from it, write to it, exit), which QEMU answers with
 * -semihosting-config enable=on,target=native: its stdin and stdout.
 */
#include <stddef.h>
#include <stdint.h>

#include "firmware.h"

extern uint32_t _data_load[], _data_start[], _data_end[], _bss_start[], _bss_end[], _stack_top[];
int main(void);
void reset_handler(void);
static void fault_handler(void);

/* The stack's lowest bytes are painted at reset; fw_stack_used() finds how
 * many were overwritten. */
#define STACK_PAINT 8192
#define PAINT 0xDEADBEEFu

__attribute__((section(".vectors"), used))
static void (*const vectors[16])(void) = {
    (void (*)(void))(uintptr_t)_stack_top, reset_handler,
    fault_handler, fault_handler, fault_handler, fault_handler, fault_handler
};

static uint32_t semihost(uint32_t op, const void *arg)
{
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

/* The console, opened on first use for reading ("r") or writing ("w"). */
static uint32_t console_open(uint32_t mode)
{
    static const char tt[] = ":tt";
    uint32_t open_args[3] = { (uint32_t)(uintptr_t)tt, mode, 3 };
    return semihost(0x01 /* SYS_OPEN */, open_args);
}

size_t fw_read(char *p, size_t n)
{
    static uint32_t in = (uint32_t)-1;
    uint32_t args[3], left;
    if (in == (uint32_t)-1) in = console_open(0);
    args[0] = in;
    args[1] = (uint32_t)(uintptr_t)p;
    args[2] = (uint32_t)n;
    left = semihost(0x06 /* SYS_READ: returns the bytes not read */, args);
    return left <= n ? n - left : 0;
}

static uint32_t console = (uint32_t)-1;

void fw_write(const char *p, size_t n)
{
    uint32_t args[3];
    if (console == (uint32_t)-1) console = console_open(4);
    while (n) {
        uint32_t left;
        args[0] = console;
        args[1] = (uint32_t)(uintptr_t)p;
        args[2] = (uint32_t)n;
        left = semihost(0x05 /* SYS_WRITE: returns the bytes not written */, args);
        if (left >= n) break;
        p += n - left;
        n = left;
    }
}

void fw_exit(int code)
{
    uint32_t args[2] = { 0x20026 /* ADP_Stopped_ApplicationExit */, (uint32_t)code };
    semihost(0x20 /* SYS_EXIT_EXTENDED */, args);
    for (;;) {}
}

/* The MPS2's CMSDK timer 0, counting down at the 25 MHz peripheral clock
 * (QEMU: on its virtual clock; with -icount shift=0 that is one
 * instruction a nanosecond, so 40 instructions a tick). */
#define TIMER0 ((volatile uint32_t *)0x40000000u)

unsigned long fw_ticks(void)
{
    if (!(TIMER0[0] & 1)) {
        TIMER0[2] = 0xFFFFFFFFu;    /* RELOAD */
        TIMER0[1] = 0xFFFFFFFFu;    /* VALUE */
        TIMER0[0] = 1;              /* CTRL: enable */
    }
    return 0xFFFFFFFFu - TIMER0[1];
}

size_t fw_stack_used(void)
{
    uintptr_t top = (uintptr_t)_stack_top, at = top - STACK_PAINT;
    while (at < top && *(const volatile uint32_t *)at == PAINT) at += 4;
    return (size_t)(top - at);
}

static void fault_handler(void)
{
    static const char msg[] = "firmware: fault\n";
    fw_write(msg, sizeof msg - 1);
    fw_exit(3);
}

void reset_handler(void)
{
    uint32_t *s = _data_load, *d = _data_start;
    uintptr_t top = (uintptr_t)_stack_top, at;
    while (d < _data_end) *d++ = *s++;
    for (d = _bss_start; d < _bss_end; d++) *d = 0;
    /* paint below this function's own frame (the top 256 bytes) */
    for (at = top - STACK_PAINT; at < top - 256; at += 4) *(volatile uint32_t *)at = PAINT;
    fw_exit(main());
}
