/* tinyfuse board harness: what main.c needs from a board, in one header.
 *
 * Every emulated board provides the same four services, each from the file its row of the
 * board table (firmware/boards/__init__.py) selects:
 *   - host files by semihosting (semihost.c; Arm `bkpt 0xab` or the RISC-V ebreak sequence):
 *     the input vectors are read from "inputs.bin" on every board;
 *   - a report sink for the result files (report_semihost.c writes host files; report_uart.c
 *     sends them as text lines over the board's UART, see its header comment);
 *   - a free-running up-counting tick counter (timer.c, one block per HARNESS_TIMER_* kind);
 *   - the stack pointer (harness_sp below) and the linker symbols of sections.ld.
 * Everything here lives in the .harness_* sections so the footprint report of the model stays
 * clean. */
#ifndef TINYFUSE_HARNESS_H
#define TINYFUSE_HARNESS_H

#include <stdint.h>

/* Keep GCC from turning the harness loops into memcpy/memset/strlen calls: those would land
 * in .text and be counted as model code. Every harness file includes this header. */
#pragma GCC optimize("no-tree-loop-distribute-patterns")

#define HARNESS_TEXT __attribute__((section(".harness_text")))
#define HARNESS_BSS __attribute__((section(".harness_bss")))
#define HARNESS_RODATA __attribute__((section(".harness_rodata")))

#define SH_MODE_READ_BINARY 1
#define SH_MODE_WRITE_BINARY 5

/* Semihosting (the host side is QEMU's `-semihosting-config enable=on`). */
int32_t sh_open(const char *path, int32_t mode);
int32_t sh_close(int32_t handle);
/* Returns the number of bytes NOT transferred (0 on full success), -1 on error. */
int32_t sh_read(int32_t handle, void *buffer, uint32_t length_bytes);
int32_t sh_write(int32_t handle, const void *buffer, uint32_t length_bytes);
int32_t sh_file_length(int32_t handle);
void sh_console(const char *message);
void sh_exit(int32_t status) __attribute__((noreturn));

/* Report sink: the result files main.c writes. Handles are >= 0; write returns 0 when every
 * byte went out. report_init runs once before the first open. */
void report_init(void);
int32_t report_open(const char *name);
int32_t report_write(int32_t handle, const void *buffer, uint32_t length_bytes);
void report_close(int32_t handle);

/* UART byte output (boards whose report sink is the UART: stm32f4/usart.c). */
void uart_init(void);
void uart_write_byte(uint8_t byte);

/* Tick counter: timer_start once, then timer_now counts up (wrapping at 2^32). */
void timer_start(void);
uint32_t timer_now(void);

static inline uint32_t harness_sp(void)
{
    uint32_t sp;
#if defined(__riscv)
    __asm__ volatile("mv %0, sp" : "=r"(sp));
#else
    __asm__ volatile("mov %0, sp" : "=r"(sp));
#endif
    return sp;
}

/* Stack high-water measurement around one call, inlined into the (noinline) measuring
 * function so that its frame is fixed: harness_stack_paint fills the free stack from its limit
 * up to 64 bytes below sp (the guard band keeps the measured call's own frame clear of the
 * fill) and returns where the fill ends; harness_stack_used returns how many bytes below sp
 * the call overwrote (64 minimum, the unpainted guard band). */
#define HARNESS_STACK_PATTERN 0xA5A5A5A5u
extern uint32_t __stack_limit__;

static inline __attribute__((always_inline)) volatile uint32_t *harness_stack_paint(uint32_t sp)
{
    volatile uint32_t *paint_end = (volatile uint32_t *)((sp - 64u) & ~3u);
    for (volatile uint32_t *word = &__stack_limit__; word < paint_end; word++) {
        *word = HARNESS_STACK_PATTERN;
    }
    return paint_end;
}

static inline __attribute__((always_inline)) uint32_t harness_stack_used(
    uint32_t sp, volatile uint32_t *paint_end)
{
    volatile uint32_t *word = &__stack_limit__;
    while (word < paint_end && *word == HARNESS_STACK_PATTERN) {
        word++;
    }
    return sp - (uint32_t)word;
}

#endif
