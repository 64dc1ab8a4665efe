/* What the real-board image needs of an STM32F4 board: its USART, pins and clocks
 * (RM0090 / RM0390 register map, shared by the F405 and the F446). Select one board with
 * -DTF_BOARD_NUCLEO_F446RE (USART2 on PA2/PA3: the ST-LINK virtual COM port) or
 * -DTF_BOARD_NETDUINOPLUS2 (USART1 on PA9/PA10: QEMU's netduinoplus2, what CI runs).
 * Both run on the 16 MHz HSI the chip resets to (no PLL): the USART clock is 16 MHz. */
#ifndef TF_STM32_BOARD_H
#define TF_STM32_BOARD_H

#include <stdint.h>

#define TF_REG(address) (*(volatile uint32_t *)(address))

#define TF_RCC_BASE 0x40023800u
#define TF_RCC_AHB1ENR TF_REG(TF_RCC_BASE + 0x30u)
#define TF_RCC_APB1ENR TF_REG(TF_RCC_BASE + 0x40u)
#define TF_RCC_APB2ENR TF_REG(TF_RCC_BASE + 0x44u)
#define TF_RCC_AHB1ENR_GPIOAEN (1u << 0)

#define TF_GPIOA_BASE 0x40020000u
#define TF_GPIOA_MODER TF_REG(TF_GPIOA_BASE + 0x00u)
#define TF_GPIOA_OSPEEDR TF_REG(TF_GPIOA_BASE + 0x08u)
#define TF_GPIOA_AFRL TF_REG(TF_GPIOA_BASE + 0x20u)
#define TF_GPIOA_AFRH TF_REG(TF_GPIOA_BASE + 0x24u)

#if defined(TF_BOARD_NUCLEO_F446RE)
#define TF_USART_BASE 0x40004400u /* USART2, APB1 */
#define TF_USART_ENR TF_RCC_APB1ENR
#define TF_USART_ENR_BIT (1u << 17)
#define TF_PIN_TX 2u
#define TF_PIN_RX 3u
#elif defined(TF_BOARD_NETDUINOPLUS2)
#define TF_USART_BASE 0x40011000u /* USART1, APB2 */
#define TF_USART_ENR TF_RCC_APB2ENR
#define TF_USART_ENR_BIT (1u << 4)
#define TF_PIN_TX 9u
#define TF_PIN_RX 10u
#else
#error "define TF_BOARD_NUCLEO_F446RE or TF_BOARD_NETDUINOPLUS2"
#endif

#define TF_USART_SR TF_REG(TF_USART_BASE + 0x00u)
#define TF_USART_DR TF_REG(TF_USART_BASE + 0x04u)
#define TF_USART_BRR TF_REG(TF_USART_BASE + 0x08u)
#define TF_USART_CR1 TF_REG(TF_USART_BASE + 0x0Cu)
#define TF_USART_SR_RXNE (1u << 5)
#define TF_USART_SR_TXE (1u << 7)
#define TF_USART_CR1_UE (1u << 13)
#define TF_USART_CR1_TE (1u << 3)
#define TF_USART_CR1_RE (1u << 2)
#define TF_USART_CLOCK_HZ 16000000u
#define TF_BAUD 115200u
#define TF_AF_USART 7u

#endif
