/* Reset and trap handling for the RV32 boards (QEMU `virt`, machine mode, `-bios none`): the
 * entry point sits first in flash (QEMU's reset vector jumps to the start of RAM, where the
 * image is linked), sets the stack and global pointers, points mtvec at a handler that reports
 * any trap through semihosting, copies .data, zeroes .bss and runs main. No interrupt is
 * enabled, so no trap frame ever lands on the stack that the harness measures. */
#include <stdint.h>

#include "harness.h"

extern uint32_t __data_start__, __data_end__, __data_load__;
extern uint32_t __bss_start__, __bss_end__;
extern uint32_t __harness_bss_start__, __harness_bss_end__;

int main(void);
void harness_reset(void);
void harness_trap(void);

__asm__(".section .isr_vector, \"ax\"\n"
        ".globl _start\n"
        "_start:\n"
        ".option push\n"
        ".option norelax\n"
        "  la gp, __global_pointer$\n"
        ".option pop\n"
        "  la sp, __stack_top__\n"
        "  la t0, harness_trap_entry\n"
        "  .insn i 0x73, 1, x0, t0, 0x305\n" /* csrw mtvec, t0 */
        "  j harness_reset\n"
        ".balign 4\n"
        "harness_trap_entry:\n"
        "  j harness_trap\n"
        ".text\n");

HARNESS_TEXT void harness_reset(void)
{
    uint32_t *source = &__data_load__;
    for (uint32_t *target = &__data_start__; target < &__data_end__;) {
        *target++ = *source++;
    }
    for (uint32_t *target = &__bss_start__; target < &__bss_end__;) {
        *target++ = 0u;
    }
    for (uint32_t *target = &__harness_bss_start__; target < &__harness_bss_end__;) {
        *target++ = 0u;
    }
    sh_exit(main());
}

HARNESS_TEXT void harness_trap(void)
{
    static const char message[] HARNESS_RODATA =
        "tinyfuse harness: trap (illegal instruction, misaligned or faulting access)\n";
    sh_console(message);
    sh_exit(70);
}
