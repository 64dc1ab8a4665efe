/* tinyfuse app harness: the generated app (tinyfuse_app.c, firmware/app_c.py) on a board.
 * It uses the board services of harness.h (semihosting input, report sink, tick counter), so
 * it links for every semihosting row of the board table (firmware/boards/__init__.py).
 *
 * At start tinyfuse_app_init() checks the linked model's bundle hash; on a mismatch the
 * harness writes one line {"error":"bundle hash","app":"<12 hex>","model":"<12 hex>"} to
 * "records.jsonl" and exits with status 30.
 *
 * Then it reads windows back to back from the host file "windows.bin": per window a
 * little-endian double (stream time, s), a uint32 missing mask (bit i: modality i has no
 * reading), 4 reserved bytes, then every modality's raw float32 samples
 * (tinyfuse_app_raw_floats[i] each, modality 0 first), read straight into the app's buffers.
 * For each window it runs the app's three stages and writes:
 *   "records.jsonl"  the app's record line when the policy decided (tinyfuse_app_record);
 *   "inputs.bin"     the int8 model inputs (TINYFUSE_APP_INPUT_BYTES), for parity checks;
 *   "scores.bin"     the int8 scores (TINYFUSE_APP_NUM_CLASSES);
 *   "ticks.bin"      three little-endian uint32: ticks in front-ends (with standardisation
 *                    and quantisation), in the model, in the policy and record formatting.
 * At the end "header.bin", eight little-endian uint32 words:
 *   [0] magic 0x50414654 ("TFAP")  [1] format version 1   [2] windows run
 *   [3] modalities                  [4] classes             [5] stack high-water mark, bytes
 *   [6] records written             [7] last status (0 ok)
 * Stack: painted below the caller's frame before each window and scanned after it. */
#include <stdint.h>

#include "harness.h"
#include "tinyfuse_app.h"

#define APP_MAGIC 0x50414654u
#define WINDOW_HEADER_BYTES 16u

enum app_harness_status {
  APP_OK = 0,
  APP_NO_INPUT_FILE = 10,
  APP_BAD_INPUT_LENGTH = 11,
  APP_WRITE_FAILED = 13,
  APP_HASH_MISMATCH = 30,
  APP_WINDOW_FAILED = 31,
};

extern const char tinyfuse_model_bundle_hash[];

HARNESS_RODATA static const char path_windows[] = "windows.bin";
HARNESS_RODATA static const char path_records[] = "records.jsonl";
HARNESS_RODATA static const char path_inputs[] = "inputs.bin";
HARNESS_RODATA static const char path_scores[] = "scores.bin";
HARNESS_RODATA static const char path_ticks[] = "ticks.bin";
HARNESS_RODATA static const char path_header[] = "header.bin";
HARNESS_RODATA static const char msg_no_input[] = "tinyfuse app harness: cannot open windows.bin\n";
HARNESS_RODATA static const char msg_bad_length[] = "tinyfuse app harness: windows.bin length\n";
HARNESS_RODATA static const char msg_write[] = "tinyfuse app harness: cannot write results\n";
HARNESS_RODATA static const char msg_hash[] = "tinyfuse app harness: model of another bundle\n";
HARNESS_RODATA static const char msg_window[] = "tinyfuse app harness: the app failed\n";
HARNESS_RODATA static const char text_error[] = "{\"error\":\"bundle hash\",\"app\":\"";
HARNESS_RODATA static const char text_model[] = "\",\"model\":\"";
HARNESS_RODATA static const char text_end[] = "\"}\n";

typedef struct {
  int32_t records, inputs, scores, ticks;
} app_files;

static uint32_t window_head[WINDOW_HEADER_BYTES / 4u] HARNESS_BSS;
static uint32_t app_words[8] HARNESS_BSS;
static char record_line[TINYFUSE_APP_RECORD_BYTES] HARNESS_BSS;

HARNESS_TEXT static int fail(int status, const char *message) {
  sh_console(message);
  app_words[7] = (uint32_t)status;
  return status;
}

HARNESS_TEXT static uint32_t text_length(const char *text, uint32_t limit) {
  uint32_t length = 0;
  while (length < limit && text[length] != '\0') {
    length++;
  }
  return length;
}

HARNESS_TEXT static void report_mismatch(void) {
  int32_t file = report_open(path_records);
  if (file < 0) {
    return;
  }
  report_write(file, text_error, sizeof text_error - 1u);
  report_write(file, tinyfuse_app_bundle_hash, text_length(tinyfuse_app_bundle_hash, 12u));
  report_write(file, text_model, sizeof text_model - 1u);
  report_write(file, tinyfuse_model_bundle_hash, text_length(tinyfuse_model_bundle_hash, 12u));
  report_write(file, text_end, sizeof text_end - 1u);
  report_close(file);
}

HARNESS_TEXT static int read_window(int32_t in_file, double *now_s, uint32_t *mask) {
  if (sh_read(in_file, window_head, WINDOW_HEADER_BYTES) != 0) {
    return -1;
  }
  for (int32_t i = 0; i < TINYFUSE_APP_NUM_MODALITIES; i++) {
    if (sh_read(in_file, tinyfuse_app_raw[i], 4u * (uint32_t)tinyfuse_app_raw_floats[i]) != 0) {
      return -1;
    }
  }
  union {
    uint32_t words[2];
    double value;
  } time = {{window_head[0], window_head[1]}};
  *now_s = time.value;
  *mask = window_head[2];
  return 0;
}

/* One window, timed per stage and stack-measured. Not inlined so its frame is fixed. */
HARNESS_TEXT __attribute__((noinline)) static int measured_window(
    double now_s, uint32_t mask, tinyfuse_app_decision *decision, uint32_t ticks[3],
    int32_t *record_bytes, uint32_t *stack_bytes) {
  uint32_t sp = harness_sp();
  volatile uint32_t *paint_end = harness_stack_paint(sp);
  uint32_t t0 = timer_now();
  int status = tinyfuse_app_features(mask);
  uint32_t t1 = timer_now();
  if (status == TINYFUSE_APP_OK) {
    status = tinyfuse_app_infer();
  }
  uint32_t t2 = timer_now();
  if (status == TINYFUSE_APP_OK) {
    status = tinyfuse_app_decide(now_s, decision);
  }
  *record_bytes = status == TINYFUSE_APP_OK && decision->policy.fired
                      ? tinyfuse_app_record(decision, record_line, sizeof record_line)
                      : 0;
  uint32_t t3 = timer_now();
  ticks[0] = t1 - t0;
  ticks[1] = t2 - t1;
  ticks[2] = t3 - t2;
  *stack_bytes = harness_stack_used(sp, paint_end);
  return status == TINYFUSE_APP_OK && *record_bytes >= 0 ? 0 : -1;
}

HARNESS_TEXT static int run_windows(int32_t in_file, const app_files *files, uint32_t count) {
  uint32_t peak = 0;
  for (uint32_t w = 0; w < count; w++) {
    double now_s = 0.0;
    uint32_t mask = 0, stack_bytes = 0, ticks[3] = {0, 0, 0};
    int32_t record_bytes = 0;
    tinyfuse_app_decision decision;
    if (read_window(in_file, &now_s, &mask) != 0) {
      return fail(APP_BAD_INPUT_LENGTH, msg_bad_length);
    }
    if (measured_window(now_s, mask, &decision, ticks, &record_bytes, &stack_bytes) != 0) {
      return fail(APP_WINDOW_FAILED, msg_window);
    }
    peak = stack_bytes > peak ? stack_bytes : peak;
    for (int32_t i = 0; i < TINYFUSE_APP_NUM_MODALITIES; i++) {
      if (report_write(files->inputs, tinyfuse_app_inputs[i],
                       (uint32_t)tinyfuse_app_input_bytes[i]) != 0) {
        return fail(APP_WRITE_FAILED, msg_write);
      }
    }
    if (report_write(files->scores, tinyfuse_app_scores, TINYFUSE_APP_NUM_CLASSES) != 0 ||
        report_write(files->ticks, ticks, sizeof ticks) != 0 ||
        (record_bytes > 0 &&
         report_write(files->records, record_line, (uint32_t)record_bytes) != 0)) {
      return fail(APP_WRITE_FAILED, msg_write);
    }
    app_words[6] += record_bytes > 0 ? 1u : 0u;
    app_words[2] = w + 1u;
  }
  app_words[5] = peak;
  return APP_OK;
}

HARNESS_TEXT static uint32_t window_bytes(void) {
  uint32_t total = WINDOW_HEADER_BYTES;
  for (int32_t i = 0; i < TINYFUSE_APP_NUM_MODALITIES; i++) {
    total += 4u * (uint32_t)tinyfuse_app_raw_floats[i];
  }
  return total;
}

/* length / size when it divides exactly, else 0; by subtraction (no divide on Cortex-M0). */
HARNESS_TEXT static uint32_t exact_count(uint32_t length, uint32_t size) {
  uint32_t count = 0;
  while (length >= size) {
    length -= size;
    count++;
  }
  return length == 0u ? count : 0u;
}

HARNESS_TEXT int main(void) {
  report_init();
  app_words[0] = APP_MAGIC;
  app_words[1] = 1u;
  app_words[3] = TINYFUSE_APP_NUM_MODALITIES;
  app_words[4] = TINYFUSE_APP_NUM_CLASSES;
  if (tinyfuse_app_init() != TINYFUSE_APP_OK) {
    report_mismatch();
    return fail(APP_HASH_MISMATCH, msg_hash);
  }
  int32_t in_file = sh_open(path_windows, SH_MODE_READ_BINARY);
  if (in_file < 0) {
    return fail(APP_NO_INPUT_FILE, msg_no_input);
  }
  int32_t length = sh_file_length(in_file);
  uint32_t count = length > 0 ? exact_count((uint32_t)length, window_bytes()) : 0u;
  if (count == 0u) {
    return fail(APP_BAD_INPUT_LENGTH, msg_bad_length);
  }
  app_files files = {report_open(path_records), report_open(path_inputs),
                     report_open(path_scores), report_open(path_ticks)};
  if (files.records < 0 || files.inputs < 0 || files.scores < 0 || files.ticks < 0) {
    return fail(APP_WRITE_FAILED, msg_write);
  }
  timer_start();
  int status = run_windows(in_file, &files, count);
  report_close(files.ticks);
  report_close(files.scores);
  report_close(files.inputs);
  report_close(files.records);
  app_words[7] = (uint32_t)status;
  int32_t header_file = report_open(path_header);
  if (header_file < 0 || report_write(header_file, app_words, sizeof app_words) != 0) {
    status = fail(APP_WRITE_FAILED, msg_write);
  }
  report_close(header_file);
  sh_close(in_file);
  return status;
}
