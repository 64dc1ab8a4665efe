/* Polled USART driver for the STM32F4 boards of board.h: clock enables, the two pins in
 * alternate function 7, 115200 baud 8N1 (oversampling by 16: BRR = clock / baud, rounded),
 * transmit on TXE, receive on RXNE. */
#include "board.h"
#include "uart.h"

TF_UART_TEXT static void pin_alternate(uint32_t pin)
{
    uint32_t shift2 = 2u * pin;
    TF_GPIOA_MODER = (TF_GPIOA_MODER & ~(3u << shift2)) | (2u << shift2);
    TF_GPIOA_OSPEEDR |= 3u << shift2;
    if (pin < 8u) {
        TF_GPIOA_AFRL = (TF_GPIOA_AFRL & ~(0xFu << (4u * pin))) | (TF_AF_USART << (4u * pin));
    } else {
        uint32_t high = pin - 8u;
        TF_GPIOA_AFRH = (TF_GPIOA_AFRH & ~(0xFu << (4u * high))) | (TF_AF_USART << (4u * high));
    }
}

TF_UART_TEXT void tf_uart_init(void)
{
    TF_RCC_AHB1ENR |= TF_RCC_AHB1ENR_GPIOAEN;
    TF_USART_ENR |= TF_USART_ENR_BIT;
    pin_alternate(TF_PIN_TX);
    pin_alternate(TF_PIN_RX);
    TF_USART_BRR = (TF_USART_CLOCK_HZ + TF_BAUD / 2u) / TF_BAUD;
    TF_USART_CR1 = TF_USART_CR1_UE | TF_USART_CR1_TE | TF_USART_CR1_RE;
}

TF_UART_TEXT void tf_uart_write(const void *bytes, uint32_t length)
{
    const uint8_t *next = (const uint8_t *)bytes;
    for (uint32_t i = 0; i < length; i++) {
        while ((TF_USART_SR & TF_USART_SR_TXE) == 0u) {
        }
        TF_USART_DR = next[i];
    }
}

TF_UART_TEXT uint8_t tf_uart_read_byte(void)
{
    while ((TF_USART_SR & TF_USART_SR_RXNE) == 0u) {
    }
    return (uint8_t)(TF_USART_DR & 0xFFu); /* reading SR then DR also clears an overrun */
}
