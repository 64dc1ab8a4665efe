/* Minimal semihosting for Arm M-profile and RISC-V: open/read/write/close/length of host files,
 * a console message, and exit with a status code. Both architectures use the same operation
 * numbers and parameter blocks; only the trap differs. */
#include "harness.h"

#define SYS_OPEN 0x01
#define SYS_CLOSE 0x02
#define SYS_WRITE0 0x04
#define SYS_WRITE 0x05
#define SYS_READ 0x06
#define SYS_FLEN 0x0C
#define SYS_EXIT_EXTENDED 0x20
#define ADP_STOPPED_APPLICATION_EXIT 0x20026

#if defined(__riscv)
/* The RISC-V semihosting trap: an ebreak between two marker instructions, all three
 * uncompressed and on one page (hence the alignment). */
HARNESS_TEXT __attribute__((noinline, aligned(16))) static int32_t sh_call(
    int32_t operation, const void *argument)
{
    register int32_t a0 __asm__("a0") = operation;
    register const void *a1 __asm__("a1") = argument;
    __asm__ volatile(".option push\n\t.option norvc\n\t"
                     "slli x0, x0, 0x1f\n\tebreak\n\tsrai x0, x0, 7\n\t"
                     ".option pop"
                     : "+r"(a0) : "r"(a1) : "memory");
    return a0;
}
#else
HARNESS_TEXT static int32_t sh_call(int32_t operation, const void *argument)
{
    register int32_t r0 __asm__("r0") = operation;
    register const void *r1 __asm__("r1") = argument;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}
#endif

HARNESS_TEXT static uint32_t text_length(const char *text)
{
    uint32_t length = 0;
    while (text[length] != '\0') {
        length++;
    }
    return length;
}

HARNESS_TEXT int32_t sh_open(const char *path, int32_t mode)
{
    uint32_t block[3] = {(uint32_t)path, (uint32_t)mode, text_length(path)};
    return sh_call(SYS_OPEN, block);
}

HARNESS_TEXT int32_t sh_close(int32_t handle)
{
    uint32_t block[1] = {(uint32_t)handle};
    return sh_call(SYS_CLOSE, block);
}

HARNESS_TEXT int32_t sh_read(int32_t handle, void *buffer, uint32_t length_bytes)
{
    uint32_t block[3] = {(uint32_t)handle, (uint32_t)buffer, length_bytes};
    return sh_call(SYS_READ, block);
}

HARNESS_TEXT int32_t sh_write(int32_t handle, const void *buffer, uint32_t length_bytes)
{
    uint32_t block[3] = {(uint32_t)handle, (uint32_t)buffer, length_bytes};
    return sh_call(SYS_WRITE, block);
}

HARNESS_TEXT int32_t sh_file_length(int32_t handle)
{
    uint32_t block[1] = {(uint32_t)handle};
    return sh_call(SYS_FLEN, block);
}

HARNESS_TEXT void sh_console(const char *message)
{
    sh_call(SYS_WRITE0, message);
}

HARNESS_TEXT void sh_exit(int32_t status)
{
    uint32_t block[2] = {ADP_STOPPED_APPLICATION_EXIT, (uint32_t)status};
    for (;;) {
        sh_call(SYS_EXIT_EXTENDED, block);
    }
}
