/* USART1 of the Netduino Plus 2 for the harness's report sink: the real-board image's STM32F4
 * driver (firmware/boards/stm32/uart.c: RCC clock enables, PA9/PA10 in alternate function 7,
 * 115200 baud 8N1 from the 16 MHz HSI, polled), with its code kept in the harness's sections
 * so that `size -A` still shows the model alone. QEMU's STM32F405 has no RCC model, which is
 * why the driver never waits on an RCC ready bit. */
#include "harness.h"

#define TF_BOARD_NETDUINOPLUS2
#define TF_UART_TEXT HARNESS_TEXT
#include "../stm32/uart.c"

HARNESS_TEXT void uart_init(void)
{
    tf_uart_init();
}

HARNESS_TEXT void uart_write_byte(uint8_t byte)
{
    tf_uart_write(&byte, 1u);
}
