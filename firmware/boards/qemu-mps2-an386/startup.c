/* Reset and exception handlers for the Cortex-M4 on mps2-an386: vector table, FPU enable,
 * .data copy and .bss zeroing, and fault handlers that report through semihosting instead of
 * hanging the emulator. No interrupt is enabled, so no exception frame ever lands on the stack
 * that the harness measures. */
#include <stdint.h>

#include "semihost.h"

extern uint32_t __data_start__, __data_end__, __data_load__;
extern uint32_t __bss_start__, __bss_end__;
extern uint32_t __harness_bss_start__, __harness_bss_end__;
extern uint32_t __stack_top__;

int main(void);
void Reset_Handler(void);
void Fault_Handler(void);

#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)

HARNESS_TEXT void Reset_Handler(void)
{
    SCB_CPACR |= (0xFu << 20); /* CP10 and CP11 full access: the FPU */
    __asm__ volatile("dsb\n\tisb");
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

HARNESS_TEXT void Fault_Handler(void)
{
    static const char message[] HARNESS_RODATA =
        "tinyfuse harness: fault exception (HardFault/MemManage/BusFault/UsageFault)\n";
    sh_console(message);
    sh_exit(70);
}

typedef void (*vector_t)(void);

__attribute__((section(".isr_vector"), used)) const vector_t harness_vectors[16] = {
    (vector_t)&__stack_top__,
    Reset_Handler,
    Fault_Handler, /* NMI */
    Fault_Handler, /* HardFault */
    Fault_Handler, /* MemManage */
    Fault_Handler, /* BusFault */
    Fault_Handler, /* UsageFault */
    0, 0, 0, 0,
    Fault_Handler, /* SVCall */
    Fault_Handler, /* DebugMonitor */
    0,
    Fault_Handler, /* PendSV */
    Fault_Handler, /* SysTick */
};
