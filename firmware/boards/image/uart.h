/* The serial port of the real-board image, polled, 115200 baud 8N1; each board family
 * (firmware/boards/stm32, firmware/boards/nrf5) implements it in its uart.c. */
#ifndef TF_IMAGE_UART_H
#define TF_IMAGE_UART_H

#include <stdint.h>

void tf_uart_init(void);
void tf_uart_write(const void *bytes, uint32_t length);
uint8_t tf_uart_read_byte(void);

#endif
