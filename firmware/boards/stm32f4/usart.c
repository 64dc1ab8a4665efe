/* Register-level USART1 driver for the STM32F405 (Netduino Plus 2): RCC clock enables, PA9/PA10
 * in alternate function 7, 115200 baud 8N1 from the 16 MHz HSI the chip starts on (no PLL, so
 * nothing to wait for), transmit by polling TXE. Addresses and bits from RM0090. */
#include "harness.h"

#define RCC_BASE 0x40023800u
#define RCC_AHB1ENR (*(volatile uint32_t *)(RCC_BASE + 0x30u))
#define RCC_APB2ENR (*(volatile uint32_t *)(RCC_BASE + 0x44u))
#define RCC_AHB1ENR_GPIOAEN (1u << 0)
#define RCC_APB2ENR_USART1EN (1u << 4)

#define GPIOA_BASE 0x40020000u
#define GPIOA_MODER (*(volatile uint32_t *)(GPIOA_BASE + 0x00u))
#define GPIOA_OSPEEDR (*(volatile uint32_t *)(GPIOA_BASE + 0x08u))
#define GPIOA_AFRH (*(volatile uint32_t *)(GPIOA_BASE + 0x24u))
#define MODER_ALTERNATE 2u
#define AF7_USART 7u

#define USART1_BASE 0x40011000u
#define USART1_SR (*(volatile uint32_t *)(USART1_BASE + 0x00u))
#define USART1_DR (*(volatile uint32_t *)(USART1_BASE + 0x04u))
#define USART1_BRR (*(volatile uint32_t *)(USART1_BASE + 0x08u))
#define USART1_CR1 (*(volatile uint32_t *)(USART1_BASE + 0x0Cu))
#define USART_SR_TXE (1u << 7)
#define USART_CR1_UE (1u << 13)
#define USART_CR1_TE (1u << 3)
#define USART_CR1_RE (1u << 2)

#define PCLK2_HZ 16000000u
#define BAUD 115200u

HARNESS_TEXT void uart_init(void)
{
    RCC_AHB1ENR |= RCC_AHB1ENR_GPIOAEN;
    RCC_APB2ENR |= RCC_APB2ENR_USART1EN;
    /* PA9 (TX) and PA10 (RX): alternate function 7, high speed */
    GPIOA_MODER = (GPIOA_MODER & ~((3u << 18) | (3u << 20))) |
                  (MODER_ALTERNATE << 18) | (MODER_ALTERNATE << 20);
    GPIOA_OSPEEDR |= (3u << 18) | (3u << 20);
    GPIOA_AFRH = (GPIOA_AFRH & ~((0xFu << 4) | (0xFu << 8))) | (AF7_USART << 4) | (AF7_USART << 8);
    /* oversampling by 16: BRR = fck / baud, rounded (mantissa and fraction in one number) */
    USART1_BRR = (PCLK2_HZ + BAUD / 2u) / BAUD;
    USART1_CR1 = USART_CR1_UE | USART_CR1_TE | USART_CR1_RE;
}

HARNESS_TEXT void uart_write_byte(uint8_t byte)
{
    while ((USART1_SR & USART_SR_TXE) == 0u) {
    }
    USART1_DR = byte;
}
