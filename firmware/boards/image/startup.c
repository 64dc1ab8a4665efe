/* Reset and fault handlers of the real-board image (any Cortex-M): vector table, FPU enable
 * where the core has one, .data copy, .bss zeroing, then main(). A fault, or main returning,
 * parks the core in a loop (no debugger, no semihosting on a board in the field). No
 * interrupt is enabled. */
#include <stdint.h>

#include "vectors.h"

extern uint32_t __data_start__, __data_end__, __data_load__;
extern uint32_t __bss_start__, __bss_end__;
extern uint32_t __stack_top__;

int main(void);
void Reset_Handler(void);
void Fault_Handler(void);

#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)

void Reset_Handler(void)
{
#if defined(__ARM_FP)
    SCB_CPACR |= (0xFu << 20); /* CP10 and CP11 full access: the FPU */
    __asm__ volatile("dsb\n\tisb");
#endif
    uint32_t *source = &__data_load__;
    for (uint32_t *target = &__data_start__; target < &__data_end__;) {
        *target++ = *source++;
    }
    for (uint32_t *target = &__bss_start__; target < &__bss_end__;) {
        *target++ = 0u;
    }
    (void)main();
    for (;;) {
    }
}

void Fault_Handler(void)
{
    for (;;) {
    }
}

__attribute__((section(".isr_vector"), used)) const vector_t tf_vectors[16] =
    TF_CORE_VECTORS(&__stack_top__, Reset_Handler, Fault_Handler);
