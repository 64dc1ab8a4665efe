/* What the real-board image needs of an nRF5 board: its UART0 pins (the nRF51 and nRF52
 * share UART0's registers: nRF51 RM v3 section 29, nRF52840 PS v1.7 section 6.33). Select one
 * board with -DTF_BOARD_NRF52840_DK (P0.06 TX, P0.08 RX: the J-Link virtual COM port) or
 * -DTF_BOARD_MICROBIT (nRF51822, P0.24 TX, P0.25 RX: QEMU's microbit, what CI runs). The
 * UART runs from the internal high-frequency oscillator (the crystal is not started). */
#ifndef TF_NRF5_BOARD_H
#define TF_NRF5_BOARD_H

#include <stdint.h>

#define TF_REG(address) (*(volatile uint32_t *)(address))

#if defined(TF_BOARD_NRF52840_DK)
#define TF_PIN_TX 6u
#define TF_PIN_RX 8u
#elif defined(TF_BOARD_MICROBIT)
#define TF_PIN_TX 24u
#define TF_PIN_RX 25u
#else
#error "define TF_BOARD_NRF52840_DK or TF_BOARD_MICROBIT"
#endif

#define TF_UART_BASE 0x40002000u
#define TF_UART_STARTRX TF_REG(TF_UART_BASE + 0x000u)
#define TF_UART_STARTTX TF_REG(TF_UART_BASE + 0x008u)
#define TF_UART_RXDRDY TF_REG(TF_UART_BASE + 0x108u)
#define TF_UART_TXDRDY TF_REG(TF_UART_BASE + 0x11Cu)
#define TF_UART_ENABLE TF_REG(TF_UART_BASE + 0x500u)
#define TF_UART_PSELTXD TF_REG(TF_UART_BASE + 0x50Cu)
#define TF_UART_PSELRXD TF_REG(TF_UART_BASE + 0x514u)
#define TF_UART_RXD TF_REG(TF_UART_BASE + 0x518u)
#define TF_UART_TXD TF_REG(TF_UART_BASE + 0x51Cu)
#define TF_UART_BAUDRATE TF_REG(TF_UART_BASE + 0x524u)
#define TF_UART_ENABLE_ON 4u
#define TF_UART_BAUD_115200 0x01D7E000u

#define TF_GPIO_BASE 0x50000000u /* nRF51 GPIO, nRF52840 P0 */
#define TF_GPIO_OUTSET TF_REG(TF_GPIO_BASE + 0x508u)
#define TF_GPIO_DIRSET TF_REG(TF_GPIO_BASE + 0x518u)

#endif
