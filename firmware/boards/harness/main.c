/* tinyfuse board harness, the same on every emulated board (firmware/boards/README.md).
 *
 * Reads input vectors from the host file "inputs.bin" (semihosting, relative to QEMU's working
 * directory): each vector is every model input's int8 bytes, input 0 first, no padding. For
 * each vector it runs tinyfuse_model_invoke and appends every output's int8 bytes to
 * "outputs.bin" and one little-endian uint32 to "ticks.bin": the timer ticks spent inside
 * tinyfuse_model_invoke. At the end it writes "header.bin", eight little-endian uint32 words:
 *   [0] magic 0x48554654 ("TFUH")  [1] format version 1   [2] vectors run
 *   [3] inputs                      [4] outputs             [5] stack high-water mark, bytes
 *   [6] model arena bytes           [7] timer wrap value (0xFFFFFFFF)
 * followed by tinyfuse_model_input_bytes[] and tinyfuse_model_output_bytes[] (int32 each).
 * Before any vector it writes "bundle_hash.txt": TINYFUSE_MODEL_BUNDLE_HASH from model.h, the
 * hash of the bundle the linked model was compiled from (empty for a model.h without one), so
 * the host can refuse a board running another bundle's model. The result files go through the
 * board's report sink: host files (semihosting) or text lines on the UART (report_uart.c).
 *
 * Timing: timer.c's up-counter, read just before and after each invoke; under
 * `-icount shift=0` the host converts ticks to instructions with the board's tick rate.
 * Stack: everything below the caller's SP is painted with a pattern before each invoke and
 * scanned after it; the high-water mark is the deepest word the model changed.
 * HARNESS_IO_BYTES (the buffer of one vector's inputs and outputs) is set by the build to the
 * model's own total, so a small board spends no RAM on a fixed pool. */
#include <stdint.h>

#include "model.h"
#include "harness.h"

#ifndef HARNESS_IO_BYTES
#define HARNESS_IO_BYTES 65536
#endif

#define REPORT_MAGIC 0x48554654u
#define REPORT_HEADER_WORDS 8

enum harness_status {
    HARNESS_OK = 0,
    HARNESS_NO_INPUT_FILE = 10,
    HARNESS_BAD_INPUT_LENGTH = 11,
    HARNESS_IO_TOO_SMALL = 12,
    HARNESS_WRITE_FAILED = 13,
    HARNESS_INVOKE_FAILED = 20,
};


HARNESS_RODATA static const char path_inputs[] = "inputs.bin";
HARNESS_RODATA static const char path_outputs[] = "outputs.bin";
HARNESS_RODATA static const char path_ticks[] = "ticks.bin";
HARNESS_RODATA static const char path_header[] = "header.bin";
HARNESS_RODATA static const char path_hash[] = "bundle_hash.txt";
HARNESS_RODATA static const char msg_short_read[] = "tinyfuse harness: short read of inputs.bin\n";
HARNESS_RODATA static const char msg_invoke_failed[] = "tinyfuse harness: tinyfuse_model_invoke failed\n";
HARNESS_RODATA static const char msg_write_failed[] = "tinyfuse harness: cannot write results\n";
HARNESS_RODATA static const char msg_io_too_small[] = "tinyfuse harness: HARNESS_IO_BYTES too small\n";
HARNESS_RODATA static const char msg_no_input[] = "tinyfuse harness: cannot open inputs.bin\n";
HARNESS_RODATA static const char msg_bad_length[] = "tinyfuse harness: inputs.bin length mismatch\n";
HARNESS_RODATA static const char msg_no_output[] = "tinyfuse harness: cannot create output files\n";
HARNESS_RODATA static const char msg_no_header[] = "tinyfuse harness: cannot write header.bin\n";

static int8_t io_pool[HARNESS_IO_BYTES] HARNESS_BSS __attribute__((aligned(16)));
static uint32_t report_words[REPORT_HEADER_WORDS] HARNESS_BSS;

HARNESS_TEXT static uint32_t sum_bytes(const int32_t *bytes, int count)
{
    uint32_t total = 0;
    for (int i = 0; i < count; i++) {
        total += (uint32_t)bytes[i];
    }
    return total;
}

/* length / size when it divides exactly, else -1; by subtraction, so a core without a divide
 * instruction (Cortex-M0) pulls no libgcc division routine into the model's .text. */
HARNESS_TEXT static int32_t exact_quotient(uint32_t length, uint32_t size)
{
    int32_t count = 0;
    while (size != 0u && length >= size) {
        length -= size;
        count++;
    }
    return size != 0u && length == 0u ? count : -1;
}

HARNESS_TEXT static void bind_buffers(const int8_t *in[], int8_t *out[])
{
    int8_t *cursor = io_pool;
    for (int i = 0; i < TINYFUSE_MODEL_NUM_INPUTS; i++) {
        in[i] = cursor;
        cursor += tinyfuse_model_input_bytes[i];
    }
    for (int i = 0; i < TINYFUSE_MODEL_NUM_OUTPUTS; i++) {
        out[i] = cursor;
        cursor += tinyfuse_model_output_bytes[i];
    }
}

#ifdef TINYFUSE_MODEL_BUNDLE_HASH
HARNESS_RODATA static const char bundle_hash[] = TINYFUSE_MODEL_BUNDLE_HASH;
#else
HARNESS_RODATA static const char bundle_hash[] = "";
#endif

HARNESS_TEXT static int write_bundle_hash(void)
{
    uint32_t length = (uint32_t)(sizeof bundle_hash - 1u);
    int32_t file = report_open(path_hash);
    if (file < 0) {
        return -1;
    }
    int status = length == 0 ? 0 : report_write(file, bundle_hash, length);
    report_close(file);
    return status;
}

/* One timed, stack-measured invoke. Not inlined so its frame is fixed while it paints. */
HARNESS_TEXT __attribute__((noinline)) static int measured_invoke(
    const int8_t *in[], int8_t *out[], uint32_t *ticks, uint32_t *stack_bytes)
{
    uint32_t sp = harness_sp();
    volatile uint32_t *paint_end = harness_stack_paint(sp);
    uint32_t start = timer_now();
    int status = tinyfuse_model_invoke(in, out);
    uint32_t stop = timer_now();
    *ticks = stop - start;
    *stack_bytes = harness_stack_used(sp, paint_end);
    return status;
}

HARNESS_TEXT static int fail(int status, const char *message)
{
    sh_console(message);
    return status;
}

HARNESS_TEXT static int run_vectors(int32_t input_file, int32_t output_file, int32_t ticks_file,
                                    uint32_t vector_count)
{
    const int8_t *in[TINYFUSE_MODEL_NUM_INPUTS];
    int8_t *out[TINYFUSE_MODEL_NUM_OUTPUTS];
    uint32_t in_bytes = sum_bytes(tinyfuse_model_input_bytes, TINYFUSE_MODEL_NUM_INPUTS);
    uint32_t out_bytes = sum_bytes(tinyfuse_model_output_bytes, TINYFUSE_MODEL_NUM_OUTPUTS);
    bind_buffers(in, out);
    uint32_t stack_peak = 0;
    for (uint32_t v = 0; v < vector_count; v++) {
        uint32_t ticks = 0;
        uint32_t stack_bytes = 0;
        if (sh_read(input_file, io_pool, in_bytes) != 0) {
            return fail(HARNESS_BAD_INPUT_LENGTH, msg_short_read);
        }
        if (measured_invoke(in, out, &ticks, &stack_bytes) != 0) {
            return fail(HARNESS_INVOKE_FAILED, msg_invoke_failed);
        }
        stack_peak = stack_bytes > stack_peak ? stack_bytes : stack_peak;
        if (report_write(output_file, out[0], out_bytes) != 0 ||
            report_write(ticks_file, &ticks, sizeof ticks) != 0) {
            return fail(HARNESS_WRITE_FAILED, msg_write_failed);
        }
    }
    report_words[2] = vector_count;
    report_words[5] = stack_peak;
    return HARNESS_OK;
}

HARNESS_TEXT int main(void)
{
    uint32_t in_bytes = sum_bytes(tinyfuse_model_input_bytes, TINYFUSE_MODEL_NUM_INPUTS);
    uint32_t out_bytes = sum_bytes(tinyfuse_model_output_bytes, TINYFUSE_MODEL_NUM_OUTPUTS);
    if (in_bytes + out_bytes > HARNESS_IO_BYTES) {
        return fail(HARNESS_IO_TOO_SMALL, msg_io_too_small);
    }
    report_init();
    int32_t input_file = sh_open(path_inputs, SH_MODE_READ_BINARY);
    if (input_file < 0) {
        return fail(HARNESS_NO_INPUT_FILE, msg_no_input);
    }
    int32_t length = sh_file_length(input_file);
    int32_t vector_count = length < 0 ? -1 : exact_quotient((uint32_t)length, in_bytes);
    if (vector_count < 0) {
        return fail(HARNESS_BAD_INPUT_LENGTH, msg_bad_length);
    }
    if (write_bundle_hash() != 0) {
        return fail(HARNESS_WRITE_FAILED, msg_no_output);
    }
    int32_t output_file = report_open(path_outputs);
    int32_t ticks_file = report_open(path_ticks);
    if (output_file < 0 || ticks_file < 0) {
        return fail(HARNESS_WRITE_FAILED, msg_no_output);
    }
    report_words[0] = REPORT_MAGIC;
    report_words[1] = 1u;
    report_words[3] = TINYFUSE_MODEL_NUM_INPUTS;
    report_words[4] = TINYFUSE_MODEL_NUM_OUTPUTS;
    report_words[6] = TINYFUSE_MODEL_ARENA_BYTES;
    report_words[7] = 0xFFFFFFFFu;
    int32_t header_file = report_open(path_header);
    timer_start();
    int status = run_vectors(input_file, output_file, ticks_file, (uint32_t)vector_count);
    if (header_file < 0 || report_write(header_file, report_words, sizeof report_words) != 0 ||
        report_write(header_file, tinyfuse_model_input_bytes,
                     4u * TINYFUSE_MODEL_NUM_INPUTS) != 0 ||
        report_write(header_file, tinyfuse_model_output_bytes,
                     4u * TINYFUSE_MODEL_NUM_OUTPUTS) != 0) {
        status = fail(HARNESS_WRITE_FAILED, msg_no_header);
    }
    report_close(header_file);
    report_close(ticks_file);
    report_close(output_file);
    sh_close(input_file);
    return status;
}
