"""Golden values for the backbone's bilinear feature-map resize.

Writes test/fixtures/resize-golden.json: small random maps resized with PyTorch's
F.interpolate(mode='bilinear', align_corners=False, antialias=False), the semantics SALF-CBM
uses (SPEC.md, "Resize"). Dev-only; run with the project venv:

    .venv/bin/python tools/golden_resize.py
"""
import json
from pathlib import Path

import torch
import torch.nn.functional as F

# (input shape N×C×h×w, output grid Gh×Gw). C = 3 so the test can feed a map as "pixels".
CASES = [
    ((2, 3, 7, 7), (5, 5)),      # downsample
    ((1, 3, 3, 3), (7, 7)),      # upsample
    ((1, 3, 14, 14), (7, 7)),    # ViT-B/16 patch grid to the default prompting grid
    ((1, 3, 5, 9), (7, 4)),      # non-square in and out
    ((1, 3, 6, 6), (1, 1)),      # a 1×1 grid
    ((1, 3, 4, 4), (4, 4)),      # identity
]


def main() -> None:
    gen = torch.Generator().manual_seed(1234)
    cases = []
    for shape, grid in CASES:
        x = torch.rand(shape, generator=gen, dtype=torch.float64) * 2 - 1
        x = torch.round(x * 1e6) / 1e6  # what the JSON holds is exactly what was resized
        x = x.to(torch.float32)
        y = F.interpolate(x, size=grid, mode="bilinear", align_corners=False, antialias=False)
        cases.append({
            "shape": list(shape),
            "grid": list(grid),
            "input": [round(v, 7) for v in x.flatten().tolist()],
            "output": [round(v, 7) for v in y.flatten().tolist()],
        })
    out = Path(__file__).resolve().parent.parent / "test" / "fixtures" / "resize-golden.json"
    doc = {
        "about": "torch.nn.functional.interpolate(x, size=grid, mode='bilinear', align_corners=False); made by tools/golden_resize.py",
        "torch": torch.__version__,
        "cases": cases,
    }
    out.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    print(f"wrote {out} ({out.stat().st_size} bytes, {len(cases)} cases)")


if __name__ == "__main__":
    main()
