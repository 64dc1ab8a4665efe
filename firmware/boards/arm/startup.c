/* Reset and exception handlers for every Arm M-profile board (v6-M to v8.1-M): vector table,
 * FPU (and MVE) enable where the core has one, .data copy and .bss zeroing, and fault handlers
 * that report through semihosting instead of hanging the emulator. The TrustZone cores (M33,
 * M55) stay in the Secure state they reset in; with the SAU off all memory is Secure, so no
 * partitioning is needed. No interrupt is enabled, so no exception frame ever lands on the
 * stack that the harness measures. */
#include <stdint.h>

#include "harness.h"
#include "vectors.h"

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
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
    SCB_CPACR |= (0xFu << 20); /* CP10 and CP11 full access: the FPU (and MVE) */
    __asm__ volatile("dsb\n\tisb");
#endif
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

__attribute__((section(".isr_vector"), used)) const vector_t harness_vectors[16] =
    TF_CORE_VECTORS(&__stack_top__, Reset_Handler, Fault_Handler);
