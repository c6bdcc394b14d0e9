#!/usr/bin/env python3
"""Writes Tests/Fixtures/Safetensors/small.safetensors with the reference `safetensors` package.

The Swift reader is checked against it: dtypes f32/f16/bf16/f64/i64, a scalar, an empty tensor and
string metadata. Values are simple formulas so the test can recompute them. Not run by CI.
Run: /work/venv/bin/python scripts/gen_safetensors_fixture.py
"""
import pathlib

import torch
from safetensors.torch import save_file

out = pathlib.Path(__file__).resolve().parent.parent / "Tests/Fixtures/Safetensors/small.safetensors"


def ramp(n, scale):
    # k * scale - 1, exactly representable in every dtype used below
    return torch.arange(n, dtype=torch.float64) * scale - 1


tensors = {
    "a.f32": ramp(6, 0.25).to(torch.float32).reshape(2, 3),
    "b.f16": ramp(8, 0.5).to(torch.float16).reshape(2, 2, 2),
    "c.bf16": ramp(5, 0.125).to(torch.bfloat16),
    "d.f64": ramp(3, 0.75),
    "e.i64": torch.arange(4, dtype=torch.int64),
    "f.scalar": torch.tensor(3.5, dtype=torch.float32),
    "g.empty": torch.zeros(0, 4, dtype=torch.float32),
}
metadata = {"ss_output_name": "tiny_lora", "ss_network_dim": "4", "note": "ünïcödé ✓"}
out.parent.mkdir(parents=True, exist_ok=True)
save_file(tensors, str(out), metadata=metadata)
print(out, out.stat().st_size, "bytes")
