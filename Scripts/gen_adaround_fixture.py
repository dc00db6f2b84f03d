#!/usr/bin/env python3
"""Generate Tests/QuantizationTests/Fixtures/adaround_reference.json: a PyTorch reference of AdaRound.

An independent implementation of the published algorithm (Nagel et al. 2020, "Up or Down? Adaptive Rounding for
Post-Training Quantization") written the way the paper and AIMET state it, with PyTorch autograd and torch.optim.Adam
(no hand-written gradient), on the calibration samples X themselves (mpq works on the Gram matrix X^T X):

- fixed per-channel scales s_c = float32(max|w_c| / M), grid {-M..M}, M = 2^(b-1) - 1;
- W~ = s * clamp(floor(W / s) + h(V), -M, M), h(V) = clamp(sigmoid(V) * (zeta - gamma) + gamma, 0, 1),
  zeta = 1.1, gamma = -0.1; V starts where h(V) = W/s - floor(W/s);
- loss = ||X W~^T - X W^T||^2 / N  +  lambda * sum(1 - |2h - 1|^beta), the regulariser off for the first
  warmup * T steps, then beta = end + (start - end) * max(0, 1 - rel), rel = (t - warm) / (T - warm);
- Adam (lr, betas 0.9/0.999, eps 1e-8), T steps, float64; final codes clamp(floor(W / s) + [V >= 0], -M, M).

The case: 6 channels, d = 12, N = 96 correlated samples (X = Z A, Z standard normal), 4-bit grid, 400 steps.

Regenerate with:  /tmp/venv/bin/python Scripts/gen_adaround_fixture.py   (torch==2.13.0+cpu)
"""
import json
import os

import numpy as np
import torch

ZETA, GAMMA = 1.1, -0.1


def adaround(w, x, scales, bits, iterations, lr, lam, beta_start, beta_end, warmup):
    m = 2 ** (bits - 1) - 1
    w = torch.tensor(w, dtype=torch.float64)
    x = torch.tensor(x, dtype=torch.float64)
    s = torch.tensor(scales, dtype=torch.float64)[:, None]
    n = x.shape[0]
    base = torch.floor(w / s)
    rest = w / s - base
    v = torch.log((rest - GAMMA) / (ZETA - rest)).clone().requires_grad_(True)
    opt = torch.optim.Adam([v], lr=lr, betas=(0.9, 0.999), eps=1e-8)
    target = x @ w.T
    warm = int(np.floor(warmup * iterations))
    for t in range(iterations):
        opt.zero_grad()
        h = torch.clamp(torch.sigmoid(v) * (ZETA - GAMMA) + GAMMA, 0, 1)
        w_tilde = s * torch.clamp(base + h, -m, m)
        loss = ((x @ w_tilde.T - target) ** 2).sum() / n
        if t >= warm:
            rel = (t - warm) / max(iterations - warm, 1)
            beta = beta_end + (beta_start - beta_end) * max(0.0, 1 - rel)
            loss = loss + lam * (1 - (2 * h - 1).abs().pow(beta)).sum()
        loss.backward()
        opt.step()
    with torch.no_grad():
        h = torch.clamp(torch.sigmoid(v) * (ZETA - GAMMA) + GAMMA, 0, 1)
        codes = torch.clamp(base + (v >= 0).double(), -m, m)
    return codes.numpy().astype(int), h.numpy()


def main():
    rng = np.random.default_rng(20190611)
    channels, d, n, bits = 6, 12, 96, 4
    a = rng.standard_normal((d, d)) * 0.5 + np.eye(d)
    x = (rng.standard_normal((n, d)) @ a).astype(np.float32)
    w = (rng.standard_normal((channels, d)) * 0.3).astype(np.float32)
    m = 2 ** (bits - 1) - 1
    scales = (np.abs(w).max(axis=1).astype(np.float64) / m).astype(np.float32)
    settings = dict(iterations=400, lr=0.01, lam=0.01, beta_start=20.0, beta_end=2.0, warmup=0.2)
    codes, h = adaround(w.astype(np.float64), x.astype(np.float64), scales.astype(np.float64), bits, **settings)
    nearest = np.clip(np.sign(w / scales[:, None]) * np.floor(np.abs(w / scales[:, None]) + 0.5), -m, m)

    def err(q):
        delta = w.astype(np.float64) - scales[:, None].astype(np.float64) * q
        return float(((x.astype(np.float64) @ delta.T) ** 2).sum())

    out = {
        "generator": "Scripts/gen_adaround_fixture.py (torch " + torch.__version__ + ", float64, autograd + Adam)",
        "bits": bits, "channels": channels, "dimension": d, "samples": n,
        "iterations": settings["iterations"], "learning_rate": settings["lr"], "lambda": settings["lam"],
        "beta_start": settings["beta_start"], "beta_end": settings["beta_end"], "warmup": settings["warmup"],
        "x": x.astype(float).ravel().tolist(), "w": w.astype(float).ravel().tolist(),
        "scales": scales.astype(float).tolist(),
        "codes": codes.ravel().tolist(), "h": h.ravel().tolist(),
        "error_learned": err(codes), "error_nearest": err(nearest),
    }
    path = os.path.join(os.path.dirname(__file__), "..", "Tests", "QuantizationTests", "Fixtures",
                        "adaround_reference.json")
    with open(path, "w") as f:
        json.dump(out, f)
        f.write("\n")
    print(f"wrote {os.path.normpath(path)}: learned error {out['error_learned']:.4f}, "
          f"nearest {out['error_nearest']:.4f}, {int((codes != nearest).sum())} codes differ from nearest")


if __name__ == "__main__":
    main()
