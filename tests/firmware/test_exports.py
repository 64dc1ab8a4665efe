"""`tinyfuse export`: each format is a self-contained folder (model C + the kernels it needs +
a thin layer) that builds in the user's toolchain. The CMake library is configured and built
with the host cmake + gcc and its model run against TFLite Micro; the Arduino, ESP-IDF and
Pico sources are compiled for their cores (Cortex-M0+ for the RP2040, rv32imc for the
ESP32-C3) with -Wall -Wextra -Werror, the sketch and the Pico main.c against tiny stubs of
Arduino.h and pico/stdlib.h written here."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tinyfuse.apps.cli import main
from tinyfuse.core.errors import DataError, ExportError
from tinyfuse.core.tflm import reference_invoke
from tinyfuse.firmware.exports import FORMATS, export_files, load_sources, write_export

WARNINGS = ["-Wall", "-Wextra", "-Werror"]
M0PLUS = ["arm-none-eabi-gcc", "-mcpu=cortex-m0plus", "-mthumb", "-O2", "-ffunction-sections",
          "-fdata-sections"]
RV32IMC = ["riscv64-unknown-elf-gcc", "-march=rv32imc", "-mabi=ilp32",
           "--specs=picolibc.specs", "-O2", "-ffunction-sections", "-fdata-sections"]
SIZE_TOOL = {"arm-none-eabi-gcc": "arm-none-eabi-size",
             "riscv64-unknown-elf-gcc": "riscv64-unknown-elf-size"}

ARDUINO_STUB = """#ifndef ARDUINO_STUB_H
#define ARDUINO_STUB_H
#include <stdint.h>
class StubSerial {
 public:
  void begin(unsigned long baud) { (void)baud; }
  void print(const char *text) { (void)text; }
  void print(char c) { (void)c; }
  void println(int value) { (void)value; }
  void println(unsigned long value) { (void)value; }
};
extern StubSerial Serial;
unsigned long micros(void);
void delay(unsigned long ms);
#endif
"""
PICO_STUB = """#ifndef PICO_STDLIB_STUB_H
#define PICO_STDLIB_STUB_H
#include <stdbool.h>
#include <stdint.h>
bool stdio_init_all(void);
uint32_t time_us_32(void);
void sleep_ms(uint32_t ms);
#endif
"""
CMAKE_CALLER = """cmake_minimum_required(VERSION 3.15)
project(caller C)
add_subdirectory(export)
add_executable(caller caller.c)
set_target_properties(caller PROPERTIES C_STANDARD 99)
target_link_libraries(caller PRIVATE {name})
"""
C_CALLER = r"""#include <stdio.h>
#include "model.h"
int main(void) {
  for (int i = 0; i < TINYFUSE_MODEL_NUM_INPUTS; i++) {
    int8_t *in = tinyfuse_model_input(i);
    for (int32_t k = 0; k < tinyfuse_model_input_bytes[i]; k++) in[k] = (int8_t)(k * 7 - 50);
  }
  if (tinyfuse_model_invoke_in_place() != TINYFUSE_OK) return 1;
  const int8_t *out = tinyfuse_model_output(0);
  for (int32_t k = 0; k < tinyfuse_model_output_bytes[0]; k++) printf("%d\n", out[k]);
  return 0;
}
"""


def _need(*tools: str) -> None:
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")


def _export(bundle_dir: Path, out: Path, fmt: str) -> dict[str, str]:
    files = export_files(bundle_dir, format=fmt)
    write_export(files, out)
    return files


def cross_compile(folder: Path, sources: list[Path], compiler: list[str],
                  includes: list[Path]) -> list[Path]:
    """Compile each C (``.c``) or C++ (``.ino``, ``.cpp``) source to an object in folder."""
    objects = []
    for source in sources:
        tool = list(compiler)
        if source.suffix in (".ino", ".cpp"):
            tool[0] = tool[0].replace("-gcc", "-g++")
            language = ["-x", "c++", "-std=c++11"]
        else:
            language = ["-std=c99"]
        target = folder / f"{source.stem}.o"
        subprocess.run([*tool, *language, *WARNINGS, *[f"-I{p}" for p in includes], "-c",
                        str(source), "-o", str(target)], check=True, capture_output=True,
                       text=True)
        objects.append(target)
    return objects


def object_sizes(objects: list[Path], compiler: str) -> dict[str, int]:
    """text/data/bss totals of ``objects`` from the toolchain's ``size -t``."""
    result = subprocess.run([SIZE_TOOL[compiler], "-t", *map(str, objects)], check=True,
                            capture_output=True, text=True)
    text, data, bss = (int(v) for v in result.stdout.splitlines()[-1].split()[:3])
    return {"text": text, "data": data, "bss": bss}


def test_every_format_carries_the_model_and_only_the_kernels(bundle_dir):
    sources = load_sources(bundle_dir)
    assert sources.name == "tinyfuse_posture" and sources.labels
    assert "tf_kernels.h" in sources.runtime and "tf_conv.c" in sources.runtime
    assert not any(name.startswith(("tf_frontend", "tf_policy")) for name in sources.runtime)
    for fmt in FORMATS:
        files = export_files(bundle_dir, format=fmt)
        headers = [text for name, text in files.items() if name.endswith("/model.h")]
        assert len(headers) == 1 and f'"{sources.compiled.bundle_hash}"' in headers[0]
        for name in sources.runtime:
            assert any(path.endswith(f"/{name}") for path in files), (fmt, name)


def test_cmake_library_builds_with_host_cmake_and_matches_tflite_micro(bundle_dir, tmp_path):
    _need("cmake", "gcc")
    from tinyfuse.core.bundle import Bundle

    sources = load_sources(bundle_dir)
    _export(bundle_dir, tmp_path / "export", "cmake")
    (tmp_path / "CMakeLists.txt").write_text(CMAKE_CALLER.format(name=sources.name))
    (tmp_path / "caller.c").write_text(C_CALLER)
    build = tmp_path / "build"
    for command in (["cmake", "-S", str(tmp_path), "-B", str(build), "-DCMAKE_C_COMPILER=gcc",
                     "-DCMAKE_C_FLAGS=-Werror"],
                    ["cmake", "--build", str(build)]):
        subprocess.run(command, check=True, capture_output=True, text=True)
    assert (build / "export" / f"lib{sources.name}.a").is_file()
    got = [int(v) for v in subprocess.run([str(build / "caller")], check=True,
                                          capture_output=True, text=True).stdout.split()]
    inputs = [((np.arange(i.bytes) * 7 - 50).astype(np.int8)).reshape(i.shape)
              for i in sources.compiled.inputs]
    want = reference_invoke(Bundle.read(bundle_dir).tflite, inputs)[0].reshape(-1)
    assert got == want.tolist()


@pytest.mark.parametrize("compiler", [M0PLUS, RV32IMC], ids=["cortex-m0plus", "rv32imc"])
def test_arduino_library_and_sketch_compile_for_the_cores(bundle_dir, tmp_path, compiler):
    _need(compiler[0], compiler[0].replace("-gcc", "-g++"))
    sources = load_sources(bundle_dir)
    files = _export(bundle_dir, tmp_path / "lib", "arduino")
    name = sources.name
    properties = dict(line.split("=", 1) for line in files["library.properties"].splitlines())
    assert properties["name"] == name and properties["includes"] == f"{name}.h"
    (tmp_path / "stub").mkdir()
    (tmp_path / "stub" / "Arduino.h").write_text(ARDUINO_STUB)
    src = tmp_path / "lib" / "src"
    sketch = tmp_path / "lib" / "examples" / name / f"{name}.ino"
    objects = cross_compile(tmp_path, [*sorted(src.glob("*.c")), sketch], compiler,
                            [tmp_path / "stub", src])
    assert object_sizes(objects, compiler[0])["text"] > sources.compiled.weights_bytes


def test_esp_idf_component_compiles_for_rv32imc(bundle_dir, tmp_path):
    _need(RV32IMC[0])
    files = _export(bundle_dir, tmp_path / "component", "esp-idf")
    cmake = files["CMakeLists.txt"]
    assert "idf_component_register(" in cmake and 'INCLUDE_DIRS "src"' in cmake
    src = tmp_path / "component" / "src"
    listed = sorted(p.name for p in src.glob("*.c"))
    assert all(f'"src/{n}"' in cmake for n in listed)
    objects = cross_compile(tmp_path, [src / n for n in listed], RV32IMC, [src])
    assert object_sizes(objects, RV32IMC[0])["text"] > 0


def test_pico_project_compiles_for_cortex_m0plus(bundle_dir, tmp_path):
    _need(M0PLUS[0])
    files = _export(bundle_dir, tmp_path / "pico", "pico")
    cmake = files["CMakeLists.txt"]
    for text in ("pico_sdk_init()", "pico_stdlib", "pico_add_extra_outputs", "main.c"):
        assert text in cmake
    (tmp_path / "stub" / "pico").mkdir(parents=True)
    (tmp_path / "stub" / "pico" / "stdlib.h").write_text(PICO_STUB)
    root = tmp_path / "pico"
    objects = cross_compile(tmp_path, [root / "main.c", *sorted((root / "model").glob("*.c"))],
                            M0PLUS, [tmp_path / "stub", root / "model"])
    assert object_sizes(objects, M0PLUS[0])["text"] > 0


def test_a_bare_tflite_exports_with_tensor_names_and_no_hash(tmp_path):
    from bench.models import cached_tflite

    model = tmp_path / "kws-v2.tflite"
    model.write_bytes(cached_tflite("fusion"))
    sources = load_sources(model)
    assert sources.name == "tinyfuse_kws_v2" and sources.labels == ()
    files = export_files(model, format="cmake")
    assert "add_library(tinyfuse_kws_v2 STATIC" in files["CMakeLists.txt"]
    assert '#define TINYFUSE_MODEL_BUNDLE_HASH ""' in files["src/model.h"]


def test_bad_input_is_one_line(tmp_path, capsys, bundle_dir):
    with pytest.raises(DataError, match="no bundle.json"):
        export_files(tmp_path, format="cmake")
    with pytest.raises(ExportError, match="unknown export format 'zephyr'"):
        export_files(bundle_dir, format="zephyr")
    with pytest.raises(ExportError, match="not inside"):
        write_export({"../escape.c": ""}, tmp_path / "out")
    assert main(["export", str(tmp_path), "--format", "cmake", "--out",
                 str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("tinyfuse export: error:") and "\n" not in error
    assert not (tmp_path / "out").exists()


def test_cli_writes_the_folder(bundle_dir, tmp_path, capsys):
    assert main(["export", str(bundle_dir), "--format", "pico", "--out",
                 str(tmp_path / "p")]) == 0
    assert "pico export" in capsys.readouterr().out
    assert (tmp_path / "p" / "main.c").is_file() and (tmp_path / "p" / "model" /
                                                      "model.c").is_file()


def test_the_package_doc_example_runs():
    import doctest

    from tinyfuse.firmware import exports

    result = doctest.testmod(exports)
    assert result.attempted >= 1 and result.failed == 0
