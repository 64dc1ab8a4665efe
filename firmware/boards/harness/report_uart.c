/* Report sink of the UART boards: the result files travel as text lines over the UART.
 *
 * Framing (one record per line, ASCII, '\n' terminated):
 *   NAME:            open: the host creates (or empties) the file NAME
 *   NAME:HEX         append the bytes HEX (two lowercase hex digits each, at most 32 bytes)
 * NAME is one of the harness's file names ("outputs.bin", ...). The host (firmware/deploy.py)
 * rebuilds the files from the lines, so the rest of the run is the same as on a semihosting
 * board. Lines that do not have this form (a boot banner, say) are ignored by the host. */
#include "harness.h"

#define REPORT_MAX_FILES 8
#define BYTES_PER_LINE 32

HARNESS_RODATA static const char hex_digits[] = "0123456789abcdef";
static const char *open_names[REPORT_MAX_FILES] HARNESS_BSS;

HARNESS_TEXT static void uart_text(const char *text)
{
    while (*text != '\0') {
        uart_write_byte((uint8_t)*text++);
    }
}

HARNESS_TEXT void report_init(void)
{
    uart_init();
}

HARNESS_TEXT int32_t report_open(const char *name)
{
    for (int32_t handle = 0; handle < REPORT_MAX_FILES; handle++) {
        if (open_names[handle] == 0) {
            open_names[handle] = name;
            uart_text(name);
            uart_text(":\n");
            return handle;
        }
    }
    return -1;
}

HARNESS_TEXT int32_t report_write(int32_t handle, const void *buffer, uint32_t length_bytes)
{
    if (handle < 0 || handle >= REPORT_MAX_FILES || open_names[handle] == 0) {
        return -1;
    }
    const uint8_t *bytes = (const uint8_t *)buffer;
    for (uint32_t start = 0; start < length_bytes; start += BYTES_PER_LINE) {
        uint32_t stop = start + BYTES_PER_LINE < length_bytes ? start + BYTES_PER_LINE
                                                              : length_bytes;
        uart_text(open_names[handle]);
        uart_write_byte((uint8_t)':');
        for (uint32_t i = start; i < stop; i++) {
            uart_write_byte((uint8_t)hex_digits[bytes[i] >> 4]);
            uart_write_byte((uint8_t)hex_digits[bytes[i] & 0xFu]);
        }
        uart_write_byte((uint8_t)'\n');
    }
    return 0;
}

HARNESS_TEXT void report_close(int32_t handle)
{
    if (handle >= 0 && handle < REPORT_MAX_FILES) {
        open_names[handle] = 0;
    }
}
