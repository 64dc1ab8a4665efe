/* Polled UART0 driver for the nRF5 boards of board.h: TX pin driven high as an output, the
 * pins selected, 115200 baud 8N1, both directions started; a byte goes out on TXD and is done
 * at the TXDRDY event, one comes in at the RXDRDY event. */
#include "board.h"
#include "uart.h"

TF_UART_TEXT void tf_uart_init(void)
{
    TF_GPIO_OUTSET = 1u << TF_PIN_TX;
    TF_GPIO_DIRSET = 1u << TF_PIN_TX;
    TF_UART_PSELTXD = TF_PIN_TX;
    TF_UART_PSELRXD = TF_PIN_RX;
    TF_UART_BAUDRATE = TF_UART_BAUD_115200;
    TF_UART_ENABLE = TF_UART_ENABLE_ON;
    TF_UART_TXDRDY = 0u;
    TF_UART_RXDRDY = 0u;
    TF_UART_STARTTX = 1u;
    TF_UART_STARTRX = 1u;
}

TF_UART_TEXT void tf_uart_write(const void *bytes, uint32_t length)
{
    const uint8_t *next = (const uint8_t *)bytes;
    for (uint32_t i = 0; i < length; i++) {
        TF_UART_TXD = next[i];
        while (TF_UART_TXDRDY == 0u) {
        }
        TF_UART_TXDRDY = 0u;
    }
}

TF_UART_TEXT uint8_t tf_uart_read_byte(void)
{
    while (TF_UART_RXDRDY == 0u) {
    }
    TF_UART_RXDRDY = 0u;
    return (uint8_t)(TF_UART_RXD & 0xFFu);
}
