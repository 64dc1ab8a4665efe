/* Minimal Arm semihosting (the host side is QEMU's `-semihosting-config enable=on`).
 * Only what the harness needs: open/read/write/close/length of host files, a console
 * message, and exit with a status code. All of it lives in the harness sections so the
 * footprint report of the model stays clean. */
#ifndef TINYFUSE_SEMIHOST_H
#define TINYFUSE_SEMIHOST_H

#include <stdint.h>

/* Keep GCC from turning the harness loops into memcpy/memset/strlen calls: those would land
 * in .text and be counted as model code. Every harness file includes this header. */
#pragma GCC optimize("no-tree-loop-distribute-patterns")

#define SH_MODE_READ_BINARY 1
#define SH_MODE_WRITE_BINARY 5

int32_t sh_open(const char *path, int32_t mode);
int32_t sh_close(int32_t handle);
/* Returns the number of bytes NOT transferred (0 on full success), -1 on error. */
int32_t sh_read(int32_t handle, void *buffer, uint32_t length_bytes);
int32_t sh_write(int32_t handle, const void *buffer, uint32_t length_bytes);
int32_t sh_file_length(int32_t handle);
void sh_console(const char *message);
void sh_exit(int32_t status) __attribute__((noreturn));

#define HARNESS_TEXT __attribute__((section(".harness_text")))
#define HARNESS_BSS __attribute__((section(".harness_bss")))
#define HARNESS_RODATA __attribute__((section(".harness_rodata")))

#endif
