"""Writes test/fixtures/golden.safetensors with the reference `safetensors` package, so the
TypeScript reader is checked against files PyTorch users produce (and prints what the TS writer
made, when given a path, to check the other direction by hand).

Usage: .venv/bin/python tools/golden_safetensors.py [file-written-by-ts.safetensors]
"""
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

root = Path(__file__).resolve().parent.parent
out = root / "test" / "fixtures" / "golden.safetensors"
tensors = {
    "concept_layer.weight": torch.arange(6, dtype=torch.float32).reshape(2, 3) / 4,
    "final_layer.bias": torch.tensor([-1.5, 2.25], dtype=torch.float32),
}
save_file(tensors, str(out), metadata={"format": "salf-cbm"})
print("wrote", out)
if len(sys.argv) > 1:
    for name, t in load_file(sys.argv[1]).items():
        print(name, tuple(t.shape), t.flatten()[:6].tolist())
