/* The real-board image: the generated app (tinyfuse_app.c) fed with sensor windows over the
 * UART, its alert records sent back on the same UART. No semihosting: it runs on a board
 * with nothing but a serial cable (an ST-LINK virtual COM port).
 *
 * The board's serial port is uart.h's (the family's uart.c: firmware/boards/stm32, nrf5).
 * Board -> host, ASCII lines ('\n' terminated):
 *   tinyfuse app ready bundle=<12 hex> window_bytes=<N>     once, after reset
 *   {"t":...,"label":...}                                  an alert record (app_c.RECORD_FIELDS)
 *   ok <seq>                                               window <seq> was run
 *   bad <seq>                                              window <seq> failed its CRC: dropped
 *   {"error":"bundle hash","app":"<12 hex>","model":"<12 hex>"}  the model is another
 *                                                          bundle's; nothing more is run
 * Host -> board, one frame per window (little-endian):
 *   "TFWN"  uint32 seq  float64 t_s  uint32 missing mask  uint32 reserved
 *   raw float32 samples of every modality (tinyfuse_app_raw_floats[i], modality 0 first)
 *   uint32 CRC-32 (IEEE 802.3, as zlib.crc32) of everything after "TFWN"
 * The board hunts for "TFWN" byte by byte, so noise between frames costs nothing and a damaged
 * frame costs that frame (a frame cut short also swallows the start of the next one). The
 * host sends the next frame after the "ok"/"bad" line of the last one (the receive side is
 * polled, with a few bytes of buffer at most: no interrupt is used). */
#include <stdint.h>

#include "uart.h"
#include "tinyfuse_app.h"

#define FRAME_MAGIC 0x4E574654u /* "TFWN" read as a little-endian word */
#define WINDOW_HEADER_BYTES 16u

extern const char tinyfuse_model_bundle_hash[];

static char record_line[TINYFUSE_APP_RECORD_BYTES];

static void write_text(const char *text)
{
    uint32_t length = 0;
    while (text[length] != '\0') {
        length++;
    }
    tf_uart_write(text, length);
}

static uint32_t crc_update(uint32_t crc, uint8_t byte)
{
    crc ^= byte;
    for (int bit = 0; bit < 8; bit++) {
        crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return crc;
}

static uint32_t read_bytes(void *target, uint32_t length, uint32_t crc)
{
    uint8_t *next = (uint8_t *)target;
    for (uint32_t i = 0; i < length; i++) {
        next[i] = tf_uart_read_byte();
        crc = crc_update(crc, next[i]);
    }
    return crc;
}

static uint32_t read_word(uint32_t *crc)
{
    uint8_t bytes[4];
    if (crc != (uint32_t *)0) {
        *crc = read_bytes(bytes, 4u, *crc);
    } else {
        (void)read_bytes(bytes, 4u, 0u);
    }
    return (uint32_t)bytes[0] | ((uint32_t)bytes[1] << 8) | ((uint32_t)bytes[2] << 16) |
           ((uint32_t)bytes[3] << 24);
}

static void wait_for_magic(void)
{
    uint32_t last = 0;
    while (last != FRAME_MAGIC) {
        last = (last >> 8) | ((uint32_t)tf_uart_read_byte() << 24);
    }
}

static void write_number(uint32_t value)
{
    char digits[10];
    int count = 0;
    do {
        digits[count++] = (char)('0' + (int)(value % 10u));
        value /= 10u;
    } while (value != 0u && count < 10);
    while (count > 0) {
        tf_uart_write(&digits[--count], 1u);
    }
}

static void write_hash(const char *hash)
{
    for (uint32_t i = 0; i < 12u && hash[i] != '\0'; i++) {
        tf_uart_write(&hash[i], 1u);
    }
}

static uint32_t window_bytes(void)
{
    uint32_t total = WINDOW_HEADER_BYTES;
    for (int32_t i = 0; i < TINYFUSE_APP_NUM_MODALITIES; i++) {
        total += 4u * (uint32_t)tinyfuse_app_raw_floats[i];
    }
    return total;
}

/* One window: features, model, policy; its record line when the policy decided. */
static void run_window(double now_s, uint32_t mask)
{
    tinyfuse_app_decision decision;
    int status = tinyfuse_app_features(mask);
    if (status == TINYFUSE_APP_OK) {
        status = tinyfuse_app_infer();
    }
    if (status == TINYFUSE_APP_OK) {
        status = tinyfuse_app_decide(now_s, &decision);
    }
    if (status == TINYFUSE_APP_OK && decision.policy.fired) {
        int32_t length = tinyfuse_app_record(&decision, record_line, sizeof record_line);
        if (length > 0) {
            tf_uart_write(record_line, (uint32_t)length);
        }
    }
}

int main(void)
{
    tf_uart_init();
    if (tinyfuse_app_init() != TINYFUSE_APP_OK) {
        write_text("{\"error\":\"bundle hash\",\"app\":\"");
        write_hash(tinyfuse_app_bundle_hash);
        write_text("\",\"model\":\"");
        write_hash(tinyfuse_model_bundle_hash);
        write_text("\"}\n");
        for (;;) {
        }
    }
    write_text("tinyfuse app ready bundle=");
    write_hash(tinyfuse_app_bundle_hash);
    write_text(" window_bytes=");
    write_number(window_bytes());
    write_text("\n");
    for (;;) {
        wait_for_magic();
        uint32_t crc = 0xFFFFFFFFu;
        uint32_t seq = read_word(&crc);
        uint32_t head[WINDOW_HEADER_BYTES / 4u];
        crc = read_bytes(head, WINDOW_HEADER_BYTES, crc);
        for (int32_t i = 0; i < TINYFUSE_APP_NUM_MODALITIES; i++) {
            crc = read_bytes(tinyfuse_app_raw[i], 4u * (uint32_t)tinyfuse_app_raw_floats[i], crc);
        }
        uint32_t sent = read_word(0);
        if ((crc ^ 0xFFFFFFFFu) != sent) {
            write_text("bad ");
            write_number(seq);
            write_text("\n");
            continue;
        }
        union {
            uint32_t words[2];
            double value;
        } time = {{head[0], head[1]}};
        run_window(time.value, head[2]);
        write_text("ok ");
        write_number(seq);
        write_text("\n");
    }
}
