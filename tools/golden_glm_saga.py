"""Golden regularisation paths from the real `glm_saga` package, for test/training/glm-saga.test.ts.

Runs glm_saga.elasticnet.glm_saga on a small synthetic, standardised data set with a fixed batch
order (DataLoader(shuffle=False)), so the TypeScript port can follow the same updates, and writes
the data, the settings and every path point (λ, lr, weights, bias, loss, accuracies) to
test/fixtures/glm-saga-golden.json.

    /work/main/.venv/bin/python tools/golden_glm_saga.py
"""
import contextlib
import io
import json
import os
import warnings

import sys
import types

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

try:
    import tqdm  # noqa: F401  (glm_saga imports it at module level; the solver never uses it)
except ImportError:
    sys.modules["tqdm"] = types.SimpleNamespace(tqdm=lambda it, **kw: it)

from glm_saga.elasticnet import IndexedTensorDataset, glm_saga  # noqa: E402

torch.set_num_threads(1)
warnings.filterwarnings("ignore")

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "glm-saga-golden.json")


def make_data(n, m, n_classes, rng, centres):
    y = rng.integers(0, n_classes, size=n)
    x = centres[y] + rng.normal(size=(n, m))
    return x, y


def main():
    rng = np.random.default_rng(1234)
    n, n_val, m, n_classes = 200, 60, 10, 3
    centres = np.zeros((n_classes, m))
    # Only the first four features carry signal, so the path has something to zero.
    centres[:, :4] = rng.normal(scale=1.2, size=(n_classes, 4))
    x, y = make_data(n, m, n_classes, rng, centres)
    xv, yv = make_data(n_val, m, n_classes, rng, centres)
    x = x.astype(np.float32)
    xv = xv.astype(np.float32)
    mean = x.mean(0, dtype=np.float64)
    std = x.std(0, ddof=1, dtype=np.float64)
    x = ((x - mean) / std).astype(np.float32)
    xv = ((xv - mean) / std).astype(np.float32)

    X, Y = torch.from_numpy(x), torch.from_numpy(y).long()
    Xv, Yv = torch.from_numpy(xv), torch.from_numpy(yv).long()

    cases = [
        # A short path with λ = 0 appended and a decaying step size; tol = 0 so every λ runs the
        # full number of epochs and the comparison is free of early-stop discontinuities.
        dict(name="path", batch_size=64, lr=0.1, nepochs=30, alpha=0.99, k=3, epsilon=0.05,
             tol=0.0, do_zero=True, lr_decay_factor=2.0, lookbehind=None, max_reg=None),
        # LF-CBM's call shape: one λ = lam / α (metadata max_reg), k = 1, epsilon = 1, no λ = 0;
        # tol 1e-3 so the per-batch early stop fires within the epoch budget.
        dict(name="lfcbm", batch_size=64, lr=0.1, nepochs=300, alpha=0.99, k=1, epsilon=1.0,
             tol=1e-3, do_zero=False, lr_decay_factor=1.0, lookbehind=None, max_reg=0.02),
        # Early stopping on the epoch objective.
        dict(name="lookbehind", batch_size=50, lr=0.05, nepochs=200, alpha=0.9, k=2, epsilon=0.1,
             tol=1e-4, do_zero=False, lr_decay_factor=1.0, lookbehind=3, max_reg=None),
    ]

    out = {
        "description": "glm_saga 0.1.2 paths on a synthetic standardised set, fixed batch order",
        "nClasses": n_classes,
        "M": m,
        "X": [float(v) for v in x.reshape(-1)],
        "y": [int(v) for v in y],
        "Xval": [float(v) for v in xv.reshape(-1)],
        "yval": [int(v) for v in yv],
        "cases": [],
    }
    for c in cases:
        loader = DataLoader(IndexedTensorDataset(X, Y), batch_size=c["batch_size"], shuffle=False)
        val_loader = DataLoader(TensorDataset(Xv, Yv), batch_size=c["batch_size"], shuffle=False)
        linear = torch.nn.Linear(m, n_classes)
        linear.weight.data.zero_()
        linear.bias.data.zero_()
        metadata = None if c["max_reg"] is None else {"max_reg": {"nongrouped": c["max_reg"]}}
        log = io.StringIO()
        with contextlib.redirect_stdout(log):
            res = glm_saga(linear, loader, c["lr"], c["nepochs"], c["alpha"], k=c["k"], epsilon=c["epsilon"],
                           tol=c["tol"], do_zero=c["do_zero"], lr_decay_factor=c["lr_decay_factor"],
                           lookbehind=c["lookbehind"], metadata=metadata, n_ex=n, n_classes=n_classes,
                           val_loader=val_loader)
        # Why each λ ended, read from glm_saga's log: its lines for λ i come before "(i) lambda".
        stops = []
        current = ("tol", None)
        for line in log.getvalue().splitlines():
            if "[early stop at" in line:
                current = ("lookbehind", int(line.split("[early stop at")[1].split("]")[0]) + 1)
            elif "did not converge at" in line:
                current = ("max-epochs", c["nepochs"])
            elif line.startswith("(") and ") lambda" in line:
                stops.append(current)
                current = ("tol", None)
        points = []
        for p, (stop, epochs) in zip(res["path"], stops):
            points.append({
                "lambda": float(p["lam"]),
                "lr": float(p["lr"]),
                "W": [float(v) for v in p["weight"].reshape(-1)],
                "b": [float(v) for v in p["bias"]],
                "loss": p["metrics"]["loss_tr"],
                "trainAcc": p["metrics"]["acc_tr"],
                "valLoss": p["metrics"]["loss_val"],
                "valAcc": p["metrics"]["acc_val"],
                "nnz": int((p["weight"].abs() > 1e-5).sum().item()),
                "stop": stop,
                "epochs": epochs,
            })
        settings = {k: v for k, v in c.items() if k != "name"}
        out["cases"].append({"name": c["name"], "settings": settings, "points": points})
        print(c["name"], [(round(q["lambda"], 5), q["nnz"], round(q["trainAcc"], 3), q["stop"], q["epochs"]) for q in points])

    with open(OUT, "w") as f:
        json.dump(out, f)
    print("wrote", os.path.normpath(OUT), os.path.getsize(OUT), "bytes")


if __name__ == "__main__":
    main()
