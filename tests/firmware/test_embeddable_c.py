"""The generated C embedded in a C++ program: a g++ caller (-std=c++11 -Wall -Wextra -Werror)
links model.c and the kernels (gcc, C99) through the ``extern "C"`` guards, runs the model in
its own arena (in its own section, model.c built without the static arena), writes the
inputs through the input pointers, invokes without copies, and gets TFLite Micro's outputs;
the status codes say what a too-small or misaligned arena, or a bad index, is."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from bench.models import cached_tflite
from tinyfuse.core.tflm import reference_invoke
from tinyfuse.firmware.compiler import compile_model
from tinyfuse.firmware.exports.sources import kernel_files

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None or shutil.which("g++") is None,
                                reason="needs gcc and g++")

C_FLAGS = ["-std=c99", "-O1", "-Wall", "-Wextra", "-Werror"]
CXX_FLAGS = ["-std=c++11", "-O1", "-Wall", "-Wextra", "-Werror"]

CALLER = r"""
#include <cstdio>
#include "model.h"

alignas(16) static int8_t arena[TINYFUSE_MODEL_ARENA_BYTES + 16]
    __attribute__((section(".tinyfuse_caller_arena")));

int main() {
  int8_t *unused = 0;
  std::printf("unbound %d %d %d\n", tinyfuse_model_invoke_in_place(),
              tinyfuse_model_input(0) == 0, tinyfuse_model_input_buffer(0, &unused));
  std::printf("small %d\n", tinyfuse_model_init(arena, tinyfuse_model_arena_bytes() - 1));
  std::printf("misaligned %d\n", tinyfuse_model_init(arena + 1, sizeof arena - 1));
  std::printf("init %d\n", tinyfuse_model_init(arena, sizeof arena));
  std::printf("bad_index %d %d %d %d\n", tinyfuse_model_input_buffer(-1, &unused),
              tinyfuse_model_input_buffer(TINYFUSE_MODEL_NUM_INPUTS, &unused),
              tinyfuse_model_output_buffer(TINYFUSE_MODEL_NUM_OUTPUTS, &unused),
              tinyfuse_model_input(TINYFUSE_MODEL_NUM_INPUTS) == 0);
  std::printf("null %d %d\n", tinyfuse_model_invoke(0, 0), tinyfuse_model_input_buffer(0, 0));
  std::printf("in_arena %d\n", tinyfuse_model_input(0) >= arena &&
              tinyfuse_model_input(0) < arena + sizeof arena);
  std::FILE *inputs = std::fopen("inputs.bin", "rb");
  std::FILE *outputs = std::fopen("outputs.bin", "wb");
  if (inputs == 0 || outputs == 0) return 2;
  for (;;) {
    for (int i = 0; i < TINYFUSE_MODEL_NUM_INPUTS; i++) {
      size_t want = (size_t)tinyfuse_model_input_bytes[i];
      if (std::fread(tinyfuse_model_input(i), 1, want, inputs) != want) {
        std::fclose(outputs);
        std::printf("done\n");
        return 0;
      }
    }
    if (tinyfuse_model_invoke_in_place() != TINYFUSE_OK) return 3;
    for (int k = 0; k < TINYFUSE_MODEL_NUM_OUTPUTS; k++) {
      std::fwrite(tinyfuse_model_output(k), 1, (size_t)tinyfuse_model_output_bytes[k], outputs);
    }
  }
}
"""


def _build(folder, *, external_arena: bool):
    compiled = compile_model(cached_tflite("fusion"))
    compiled.write(folder)
    for name, text in kernel_files().items():
        (folder / name).write_text(text)
    (folder / "caller.cpp").write_text(CALLER)
    defines = ["-DTINYFUSE_MODEL_EXTERNAL_ARENA"] if external_arena else []
    objects = []
    for source in sorted(folder.glob("*.c")):
        target = folder / f"{source.stem}.o"
        subprocess.run(["gcc", *C_FLAGS, *defines, "-c", str(source), "-I", str(folder),
                        "-o", str(target)], check=True, capture_output=True, text=True)
        objects.append(str(target))
    subprocess.run(["g++", *CXX_FLAGS, str(folder / "caller.cpp"), *objects, "-I", str(folder),
                    "-o", str(folder / "caller")], check=True, capture_output=True, text=True)
    return compiled


def test_cpp_caller_in_its_own_arena_matches_tflite_micro(tmp_path, rng):
    compiled = _build(tmp_path, external_arena=True)
    symbols = subprocess.run(["nm", str(tmp_path / "model.o")], check=True,
                             capture_output=True, text=True).stdout
    assert "static_arena" not in symbols  # built without the static arena
    vectors = [[np.full(i.shape, value, np.int8) for i in compiled.inputs]
               for value in (-128, 127)]
    vectors += [[rng.integers(-128, 128, i.shape).astype(np.int8) for i in compiled.inputs]
                for _ in range(6)]
    (tmp_path / "inputs.bin").write_bytes(b"".join(a.tobytes() for v in vectors for a in v))
    lines = subprocess.run([str(tmp_path / "caller")], cwd=tmp_path, check=True,
                           capture_output=True, text=True).stdout.splitlines()
    assert lines == ["unbound -2 1 -2", "small -3", "misaligned -4", "init 0",
                     "bad_index -5 -5 -5 1", "null -1 -1", "in_arena 1", "done"]
    got = np.frombuffer((tmp_path / "outputs.bin").read_bytes(), np.int8)
    want = np.concatenate([np.concatenate([o.reshape(-1) for o in
                                           reference_invoke(cached_tflite("fusion"), v)])
                           for v in vectors])
    assert got.size == want.size == len(vectors) * sum(o.bytes for o in compiled.outputs)
    np.testing.assert_array_equal(got, want)


def test_the_default_static_arena_still_runs_unbound(tmp_path):
    _build(tmp_path, external_arena=False)
    (tmp_path / "inputs.bin").write_bytes(b"")
    lines = subprocess.run([str(tmp_path / "caller")], cwd=tmp_path, check=True,
                           capture_output=True, text=True).stdout.splitlines()
    assert lines[0] == "unbound 0 0 0"  # the static arena is bound from the start
    assert lines[1:4] == ["small -3", "misaligned -4", "init 0"]


def test_header_names_every_entry_point_and_the_status_enum():
    header = compile_model(cached_tflite("fusion")).sources["model.h"]
    for text in ('extern "C" {', "typedef enum", "TINYFUSE_ERROR_BAD_INDEX = -5",
                 "size_t tinyfuse_model_arena_bytes(void);",
                 "int tinyfuse_model_init(void *arena, size_t arena_bytes);",
                 "int8_t *tinyfuse_model_input(int index);",
                 "int tinyfuse_model_invoke_in_place(void);",
                 "int tinyfuse_model_invoke(const int8_t *in[], int8_t *out[]);",
                 "#define TINYFUSE_MODEL_INPUT_SERVING_DEFAULT_THERMAL_0 0",
                 "#define TINYFUSE_MODEL_BUNDLE_HASH"):
        assert text in header, text
