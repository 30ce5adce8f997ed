/*
 * host.c - the board of firmware.h on the build machine: the session from
 * stdin, output to stdout, as QEMU's semihosting console gives them. The firmware's main.c built with this is the
 * reference its QEMU run must match byte for byte.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>

#include "firmware.h"

size_t fw_read(char *p, size_t n) { return fread(p, 1, n, stdin); }

void fw_write(const char *p, size_t n) { fwrite(p, 1, n, stdout); }

void fw_exit(int code)
{
    fflush(stdout);
    exit(code);
}

size_t fw_stack_used(void) { return 0; }

unsigned long fw_ticks(void) { return 0; }
