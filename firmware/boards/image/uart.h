/* The serial port of the real-board image, polled, 115200 baud 8N1; each board family
 * (firmware/boards/stm32, firmware/boards/nrf5) implements it in its uart.c. */
#ifndef TF_IMAGE_UART_H
#define TF_IMAGE_UART_H

#include <stdint.h>

/* Where the driver's code goes: nowhere special in the image; the emulator harness, which
 * shares the STM32 driver (firmware/boards/stm32f4/usart.c), keeps it in its own sections. */
#ifndef TF_UART_TEXT
#define TF_UART_TEXT
#endif

void tf_uart_init(void);
void tf_uart_write(const void *bytes, uint32_t length);
uint8_t tf_uart_read_byte(void);

#endif
