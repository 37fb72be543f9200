"""Golden red circles drawn by OpenCV, for test/similarity/prompting.test.ts.

Renders `cv2.circle(img, (cx, cy), r, (255, 0, 0), thickness, lineType=cv2.LINE_8)` on a black
square image for a set of cases (the SALF-CBM defaults, circles touching or crossing the border,
tiny radii that take OpenCV's coarser polygon steps, other thicknesses and filled circles, plus a
seeded random sample) and stores the set of painted pixels as runs per row:
`rows = [[y, x0, len0, x1, len1, ...], ...]`.

Usage (dev only): .venv/bin/python tools/golden_circles.py [out.json]
"""
import json
import random
import sys

import cv2
import numpy as np

FIXED = [
    # size, cx, cy, r, thickness
    (224, 32, 32, 32, 2),
    (224, 59, 112, 32, 2),
    (224, 191, 191, 32, 2),
    (224, 112, 165, 32, 2),
    (224, 0, 0, 32, 2),
    (224, 223, 100, 32, 2),
    (224, 10, 220, 32, 2),
    (224, 230, -5, 32, 2),
    (224, 112, 112, 27, 2),
    (224, 112, 112, 37, 2),
    (224, 100, 100, 14, 2),
    (224, 100, 100, 9, 2),
    (224, 50, 50, 2, 2),
    (224, 50, 50, 1, 2),
    (224, 50, 50, 0, 2),
    (336, 168, 100, 48, 2),
    (64, 20, 30, 9, 2),
    (224, 112, 112, 32, 1),
    (224, 5, 5, 32, 1),
    (224, 112, 112, 32, 3),
    (128, 64, 64, 20, 4),
    (64, 30, 30, 10, -1),
    (64, 2, 60, 10, -1),
]


def runs(mask: np.ndarray) -> list:
    rows = []
    for y in range(mask.shape[0]):
        xs = np.flatnonzero(mask[y])
        if xs.size == 0:
            continue
        row = [y]
        start = prev = int(xs[0])
        for x in xs[1:]:
            x = int(x)
            if x != prev + 1:
                row += [start, prev - start + 1]
                start = x
            prev = x
        row += [start, prev - start + 1]
        rows.append(row)
    return rows


def render(size: int, cx: int, cy: int, r: int, thickness: int) -> dict:
    img = np.zeros((size, size, 3), np.uint8)
    cv2.circle(img, (cx, cy), r, (255, 0, 0), thickness=thickness, lineType=cv2.LINE_8)
    red = (img[:, :, 0] == 255) & (img[:, :, 1] == 0) & (img[:, :, 2] == 0)
    assert int((img.reshape(-1, 3).sum(axis=1) > 0).sum()) == int(red.sum()), 'unexpected colours'
    return {"size": size, "cx": cx, "cy": cy, "r": r, "thickness": thickness, "count": int(red.sum()), "rows": runs(red)}


def main() -> None:
    out = sys.argv[1] if len(sys.argv) > 1 else 'test/fixtures/circles-golden.json'
    cases = list(FIXED)
    rng = random.Random(20240531)
    for _ in range(24):
        size = rng.choice([32, 48, 96, 160, 224, 256])
        r = rng.randint(0, 60)
        cx = rng.randint(-r, size + r)
        cy = rng.randint(-r, size + r)
        thickness = rng.choice([1, 2, 2, 2, 3])
        cases.append((size, cx, cy, r, thickness))
    golden = {
        "generator": "tools/golden_circles.py",
        "opencv": cv2.__version__,
        "call": "cv2.circle(img, (cx, cy), r, (255, 0, 0), thickness, lineType=cv2.LINE_8)",
        "cases": [render(*c) for c in cases],
    }
    with open(out, 'w') as f:
        json.dump(golden, f, separators=(',', ':'))
        f.write('\n')
    print(f'{out}: {len(cases)} cases')


if __name__ == '__main__':
    main()
