"""The generated model.h as a contract: a C++ caller (g++) links the C model through the
``extern "C"`` guards and reads the bundle hash, the modality table and the class labels; the
host scorer refuses a model compiled for another bundle."""

from __future__ import annotations

import dataclasses
import subprocess

import pytest

from tinyfuse.apps.scoring import HostScorer, load_bundle
from tinyfuse.core.errors import DeployError
from tinyfuse.firmware.compiler import compile_bundle, runtime_dir, runtime_sources
from tinyfuse.firmware.host import HostModel

CALLER = r"""
#include <cstdio>
#include <cstring>
#include "model.h"

int main() {
  std::printf("hash %s\n", TINYFUSE_BUNDLE_HASH);
  std::printf("same %d\n", std::strcmp(TINYFUSE_BUNDLE_HASH, tinyfuse_model_bundle_hash) == 0);
  for (int i = 0; i < TINYFUSE_MODEL_NUM_INPUTS; i++) {
    const tinyfuse_io_info &in = tinyfuse_model_inputs[i];
    std::printf("input %s rank %d last %d bytes %d zp %d\n", in.name, (int)in.rank,
                (int)in.shape[in.rank - 1], (int)in.bytes, (int)in.zero_point);
  }
  for (int i = 0; i < TINYFUSE_MODEL_NUM_CLASSES; i++) {
    std::printf("class %s\n", tinyfuse_model_class_labels[i]);
  }
  static int8_t a[4096], b[4096], out[64];
  const int8_t *in[] = {a, b};
  int8_t *outs[] = {out};
  std::printf("invoke %d\n", tinyfuse_model_invoke(in, outs));
  return 0;
}
"""


def test_a_cpp_caller_reads_the_table_and_runs_the_model(bundle_dir, tmp_path):
    bundle = load_bundle(bundle_dir)
    compiled = compile_bundle(bundle)
    compiled.write(tmp_path)
    header = (tmp_path / "model.h").read_text()
    assert 'extern "C" {' in header and f'"{bundle.bundle_hash}"' in header
    (tmp_path / "caller.cpp").write_text(CALLER)
    objects = []
    for source in [tmp_path / "model.c", *runtime_sources()]:
        target = tmp_path / f"{source.stem}.o"
        subprocess.run(["gcc", "-std=c99", "-O1", "-Wall", "-Werror", "-c", str(source),
                        "-I", str(runtime_dir()), "-I", str(tmp_path), "-o", str(target)],
                       check=True, capture_output=True, text=True)
        objects.append(str(target))
    subprocess.run(["g++", "-std=c++17", "-Wall", "-Werror", str(tmp_path / "caller.cpp"),
                    *objects, "-I", str(tmp_path), "-o", str(tmp_path / "caller")],
                   check=True, capture_output=True, text=True)
    lines = subprocess.run([str(tmp_path / "caller")], check=True, capture_output=True,
                           text=True).stdout.splitlines()
    assert lines[0] == f"hash {bundle.bundle_hash}" and lines[1] == "same 1"
    thermal, depth = bundle.inputs
    assert lines[2] == (f"input thermal rank {len(thermal.shape)} last {thermal.shape[-1]} "
                        f"bytes 64 zp {thermal.zero_point}")
    assert lines[3].startswith("input depth")
    assert [line.split()[1] for line in lines if line.startswith("class")] == list(
        bundle.classes)
    assert lines[-1] == "invoke 0"


def test_the_host_scorer_refuses_another_bundles_model(bundle_dir):
    bundle = load_bundle(bundle_dir)
    other = dataclasses.replace(bundle, app="another")  # same weights, another bundle
    foreign = HostModel.build(other.tflite, bundle=other)
    assert foreign.bundle_hash == other.bundle_hash != bundle.bundle_hash
    with pytest.raises(DeployError, match="is not the bundle's"):
        HostScorer(bundle, model=foreign)
    assert HostScorer(bundle, model=HostModel.build(bundle.tflite, bundle=bundle))
