/* tinyfuse front-end harness: the twin of harness/main.c for a C front-end instead of a model.
 * It uses the board services of ../harness/harness.h (semihosting input, report sink, tick
 * counter), so it links for every row of the board table (firmware/boards/__init__.py); it was
 * first written for mps2-an386 (Cortex-M4F), hence its folder.
 *
 * Built with one generated front-end (tf_fe_<name>.c) and "tf_fe_harness.h", which names it:
 *   TF_FE_HARNESS_RUN(input, output)  the front-end's run function
 *   TF_FE_HARNESS_INPUT_FLOATS, TF_FE_HARNESS_OUTPUT_FLOATS, TF_FE_HARNESS_RAM_BYTES
 *   TF_FE_HARNESS_INPUT_T, TF_FE_HARNESS_OUTPUT_T  element types (float, or int16_t / int32_t
 *                                                 for an integer-only front-end)
 * Reads input vectors back to back from the host file "inputs.bin" (semihosting); for
 * each it runs the front-end and appends its outputs to "outputs.bin" and one
 * little-endian uint32 to "ticks.bin": the board ticks spent inside the run (mps2-an386: 40
 * instructions a tick under -icount shift=0, as firmware/deploy.py explains). At the end it
 * writes "header.bin", eight little-endian uint32 words:
 *   [0] magic 0x45464654 ("TFFE")  [1] format version 1   [2] vectors run
 *   [3] input floats               [4] output floats       [5] stack high-water mark, bytes
 *   [6] static RAM bytes of the front-end                  [7] last run's status (0 ok)
 * Stack: painted below the caller's frame before each run and scanned after it, as main.c. */
#include <stdint.h>

#include "harness.h"
#include "tf_fe_harness.h"

#ifndef TF_FE_HARNESS_INPUT_T
#define TF_FE_HARNESS_INPUT_T float
#endif
#ifndef TF_FE_HARNESS_OUTPUT_T
#define TF_FE_HARNESS_OUTPUT_T float
#endif

#define FE_MAGIC 0x45464654u

enum fe_harness_status {
  FE_OK = 0,
  FE_NO_INPUT_FILE = 10,
  FE_BAD_INPUT_LENGTH = 11,
  FE_WRITE_FAILED = 13,
  FE_RUN_FAILED = 20,
};


HARNESS_RODATA static const char path_inputs[] = "inputs.bin";
HARNESS_RODATA static const char path_outputs[] = "outputs.bin";
HARNESS_RODATA static const char path_ticks[] = "ticks.bin";
HARNESS_RODATA static const char path_header[] = "header.bin";
HARNESS_RODATA static const char msg_no_input[] = "tinyfuse fe harness: cannot open inputs.bin\n";
HARNESS_RODATA static const char msg_bad_length[] = "tinyfuse fe harness: inputs.bin length\n";
HARNESS_RODATA static const char msg_write[] = "tinyfuse fe harness: cannot write results\n";
HARNESS_RODATA static const char msg_run[] = "tinyfuse fe harness: the front-end failed\n";

static TF_FE_HARNESS_INPUT_T fe_input[TF_FE_HARNESS_INPUT_FLOATS] HARNESS_BSS
    __attribute__((aligned(8)));
static TF_FE_HARNESS_OUTPUT_T fe_output[TF_FE_HARNESS_OUTPUT_FLOATS] HARNESS_BSS
    __attribute__((aligned(8)));
static uint32_t fe_words[8] HARNESS_BSS;

HARNESS_TEXT __attribute__((noinline)) static int measured_run(uint32_t *ticks,
                                                               uint32_t *stack_bytes) {
  uint32_t sp = harness_sp();
  volatile uint32_t *paint_end = harness_stack_paint(sp);
  uint32_t start = timer_now();
  int status = TF_FE_HARNESS_RUN(fe_input, fe_output);
  uint32_t stop = timer_now();
  *ticks = stop - start;
  *stack_bytes = harness_stack_used(sp, paint_end);
  return status;
}

HARNESS_TEXT static int fail(int status, const char *message) {
  sh_console(message);
  return status;
}

HARNESS_TEXT static int run_all(int32_t in_file, int32_t out_file, int32_t ticks_file,
                                uint32_t count) {
  uint32_t peak = 0;
  for (uint32_t v = 0; v < count; v++) {
    uint32_t ticks = 0, stack_bytes = 0;
    if (sh_read(in_file, fe_input, sizeof fe_input) != 0) {
      return fail(FE_BAD_INPUT_LENGTH, msg_bad_length);
    }
    int status = measured_run(&ticks, &stack_bytes);
    fe_words[7] = (uint32_t)status;
    if (status != 0) {
      return fail(FE_RUN_FAILED, msg_run);
    }
    peak = stack_bytes > peak ? stack_bytes : peak;
    if (report_write(out_file, fe_output, sizeof fe_output) != 0 ||
        report_write(ticks_file, &ticks, sizeof ticks) != 0) {
      return fail(FE_WRITE_FAILED, msg_write);
    }
    fe_words[2] = v + 1u;
  }
  fe_words[5] = peak;
  return FE_OK;
}

HARNESS_TEXT int main(void) {
  report_init();
  int32_t in_file = sh_open(path_inputs, SH_MODE_READ_BINARY);
  if (in_file < 0) {
    return fail(FE_NO_INPUT_FILE, msg_no_input);
  }
  int32_t length = sh_file_length(in_file);
  if (length <= 0 || (uint32_t)length % sizeof fe_input != 0) {
    return fail(FE_BAD_INPUT_LENGTH, msg_bad_length);
  }
  int32_t out_file = report_open(path_outputs);
  int32_t ticks_file = report_open(path_ticks);
  if (out_file < 0 || ticks_file < 0) {
    return fail(FE_WRITE_FAILED, msg_write);
  }
  fe_words[0] = FE_MAGIC;
  fe_words[1] = 1u;
  fe_words[3] = TF_FE_HARNESS_INPUT_FLOATS;
  fe_words[4] = TF_FE_HARNESS_OUTPUT_FLOATS;
  fe_words[6] = TF_FE_HARNESS_RAM_BYTES;
  timer_start();
  int status = run_all(in_file, out_file, ticks_file, (uint32_t)length / sizeof fe_input);
  report_close(ticks_file);
  report_close(out_file);
  int32_t header_file = report_open(path_header);
  if (header_file < 0 || report_write(header_file, fe_words, sizeof fe_words) != 0) {
    status = fail(FE_WRITE_FAILED, msg_write);
  }
  report_close(header_file);
  sh_close(in_file);
  return status;
}
