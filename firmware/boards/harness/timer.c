/* Tick counters of the emulated boards, one block per kind; the board table picks the kind with
 * -DHARNESS_TIMER_<KIND>=1 and the peripheral's address with -DHARNESS_TIMER_BASE=0x....
 *
 * QEMU runs with `-icount shift=0`: one instruction per virtual nanosecond, and every timer
 * below counts virtual time, so instructions = ticks * 1e9 / tick rate (the table's timer_hz;
 * the host converts). The RISC-V instret counter counts instructions directly. */
#include "harness.h"

#define REG(offset) (*(volatile uint32_t *)((uintptr_t)HARNESS_TIMER_BASE + (offset)))

#if defined(HARNESS_TIMER_CMSDK)
/* CMSDK APB timer (MPS2/MPS2-TZ): 32-bit down-counter at the APB clock. */
HARNESS_TEXT void timer_start(void)
{
    REG(0x0) = 0u;          /* CTRL: stop */
    REG(0x8) = 0xFFFFFFFFu; /* RELOAD */
    REG(0x4) = 0xFFFFFFFFu; /* VALUE */
    REG(0x0) = 1u;          /* CTRL: enable */
}

HARNESS_TEXT uint32_t timer_now(void)
{
    return 0xFFFFFFFFu - REG(0x4);
}

#elif defined(HARNESS_TIMER_NRF51)
/* nRF51 TIMER: 32-bit up-counter, 16 MHz with prescaler 0; read by the CAPTURE[0] task. */
HARNESS_TEXT void timer_start(void)
{
    REG(0x004) = 1u; /* TASKS_STOP */
    REG(0x504) = 0u; /* MODE: timer */
    REG(0x508) = 3u; /* BITMODE: 32 bit */
    REG(0x510) = 0u; /* PRESCALER: 16 MHz */
    REG(0x00C) = 1u; /* TASKS_CLEAR */
    REG(0x000) = 1u; /* TASKS_START */
}

HARNESS_TEXT uint32_t timer_now(void)
{
    REG(0x040) = 1u; /* TASKS_CAPTURE[0] */
    return REG(0x540); /* CC[0] */
}

#elif defined(HARNESS_TIMER_STM32)
/* STM32 general-purpose 32-bit timer (TIM2): up-counter, prescaler 1, auto-reload 2^32 - 1.
 * Its bus clock is enabled by uart_init's RCC setup or here (RCC_APB1ENR bit 0). */
#define RCC_APB1ENR (*(volatile uint32_t *)0x40023840u)
HARNESS_TEXT void timer_start(void)
{
    RCC_APB1ENR |= 1u;      /* TIM2EN */
    REG(0x00) = 0u;         /* CR1: stop */
    REG(0x28) = 0u;         /* PSC */
    REG(0x2C) = 0xFFFFFFFFu; /* ARR */
    REG(0x14) = 1u;         /* EGR: UG, load PSC and clear CNT */
    REG(0x00) = 1u;         /* CR1: CEN */
}

HARNESS_TEXT uint32_t timer_now(void)
{
    return REG(0x24); /* CNT */
}

#elif defined(HARNESS_TIMER_SSE_COUNTER)
/* Arm SSE-300 system counter, control frame (secure): 64-bit up-counter at the main clock
 * once CNTCR.EN is set; the low word is enough for one inference. */
HARNESS_TEXT void timer_start(void)
{
    REG(0x0) = 1u; /* CNTCR: EN */
}

HARNESS_TEXT uint32_t timer_now(void)
{
    return REG(0x8); /* CNTCV_LO */
}

#elif defined(HARNESS_TIMER_RISCV_INSTRET)
/* RISC-V minstret (CSR 0xB02), read with a raw csrrs so no Zicsr -march suffix is needed (the
 * CSR number is the instruction's signed 12-bit immediate: 0xB02 - 0x1000 = -1278). With
 * icount, QEMU's counter is the exact number of retired instructions. */
HARNESS_TEXT void timer_start(void)
{
}

HARNESS_TEXT uint32_t timer_now(void)
{
    uint32_t value;
    __asm__ volatile(".insn i 0x73, 2, %0, x0, -1278" : "=r"(value));
    return value;
}

#else
#error "no HARNESS_TIMER_<KIND> defined (the board table passes one)"
#endif
