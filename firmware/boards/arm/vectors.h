/* The 16 core exception vectors of every Arm M-profile image (the harness's and the
 * real-board image's): initial stack pointer, reset, then one handler for every fault and
 * system exception; the reserved slots are 0. */
#ifndef TF_ARM_VECTORS_H
#define TF_ARM_VECTORS_H

typedef void (*vector_t)(void);

#define TF_CORE_VECTORS(stack_top, reset, fault)                                           \
    {                                                                                      \
        (vector_t)(stack_top), reset, fault /* NMI */, fault /* HardFault */,              \
            fault /* MemManage */, fault /* BusFault */, fault /* UsageFault */, 0, 0, 0, 0, \
            fault /* SVCall */, fault /* DebugMonitor */, 0, fault /* PendSV */,           \
            fault /* SysTick */                                                            \
    }

#endif
