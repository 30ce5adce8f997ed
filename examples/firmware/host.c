/*
 * host.c - the board of firmware.h on the build machine: the session from
 * stdin, output to stdout. The firmware's main.c built with this is the
 * reference its QEMU run must match byte for byte.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>

#include "firmware.h"

const char *fw_input(size_t *n)
{
    static char buf[1 << 24];
    *n = fread(buf, 1, sizeof buf, stdin);
    return buf;
}

void fw_write(const char *p, size_t n) { fwrite(p, 1, n, stdout); }

void fw_exit(int code)
{
    fflush(stdout);
    exit(code);
}

size_t fw_stack_used(void) { return 0; }

unsigned long fw_ticks(void) { return 0; }
