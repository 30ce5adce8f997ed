/* firmware.h - what main.c needs from the board: startup.c on the
 * Cortex-M under QEMU, host.c on the build machine (the same main.c on
 * both, so their outputs can be compared byte for byte). */
#ifndef FIRMWARE_H
#define FIRMWARE_H
#include <stddef.h>

size_t fw_read(char *p, size_t n);          /* session bytes; 0 at its end */
void fw_write(const char *p, size_t n);     /* to QEMU's stdout */
void fw_exit(int code);                     /* ends QEMU with this status */
size_t fw_stack_used(void);                 /* deepest stack use so far */
unsigned long fw_ticks(void);               /* a 25 MHz count (0 on the host) */

#endif
