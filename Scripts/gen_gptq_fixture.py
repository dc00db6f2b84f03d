#!/usr/bin/env python3
"""Generate Tests/QuantizationTests/Fixtures/gptq_reference.json: a numpy reference of GPTQ.

This is an independent, deliberately plain implementation of the published algorithm (Frantar et al. 2022,
"GPTQ", the fast form of OBQ) with the conventions of mpq's `GPTQ.swift`:
- symmetric per-channel grid {-M..M}, M = 2^(b-1)-1, static min-max scales s_c = float32(max|w_c| / M)
  taken from the original rows; codes clip(round(w / s), -M, M) with ties rounded half away from zero;
- dead inputs (H_jj = 0): H_jj = 1 and W[:, j] = 0; dampening H += 0.01 * mean(diag H) * I;
- optional act-order (columns by decreasing diag H, stable);
- U = upper Cholesky factor of inv(H) (computed here the textbook way: explicit inverse, then cholesky);
- columns quantized one at a time, each column's error spread over ALL remaining columns at once
  (no lazy blocks: the Swift test runs a small block size, so this also checks the lazy batch update).

Regenerate with:  python3 Scripts/gen_gptq_fixture.py
"""
import json
import os

import numpy as np


def round_half_away(x):
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def gptq_reference(w32, x32, bits, act_order, percdamp=0.01):
    m = 2 ** (bits - 1) - 1
    w = w32.astype(np.float64)
    x = x32.astype(np.float64)
    h = x.T @ x
    scales = (np.abs(w32).max(axis=1).astype(np.float64) / m).astype(np.float32).astype(np.float64)
    d = w.shape[1]
    dead = np.diag(h) == 0
    h[dead, dead] = 1
    w[:, dead] = 0
    h += percdamp * np.mean(np.diag(h)) * np.eye(d)
    perm = np.arange(d)
    if act_order:
        perm = np.argsort(-np.diag(h), kind="stable")
        w = w[:, perm]
        h = h[perm][:, perm]
    u = np.linalg.cholesky(np.linalg.inv(h)).T  # inv(H) = U^T U, U upper
    codes = np.zeros(w.shape, dtype=np.int64)
    for j in range(d):
        q = np.clip(round_half_away(w[:, j] / scales), -m, m)
        codes[:, j] = q
        err = (w[:, j] - scales * q) / u[j, j]
        w[:, j + 1:] -= np.outer(err, u[j, j + 1:])
    inverse = np.argsort(perm)
    codes = codes[:, inverse]
    w_hat = scales[:, None] * codes
    delta = w32.astype(np.float64) - w_hat
    h_raw = x.T @ x
    out_err = float(np.trace(delta @ h_raw @ delta.T))
    # RTN with the same scales, for reference.
    rtn = np.clip(round_half_away(w32.astype(np.float64) / scales[:, None]), -m, m)
    rtn_delta = w32.astype(np.float64) - scales[:, None] * rtn
    rtn_err = float(np.trace(rtn_delta @ h_raw @ rtn_delta.T))
    return codes, scales, w_hat, out_err, rtn_err


def case(rng, name, channels, dim, rows, bits, act_order, block_size, dead_column=None, correlated=False):
    w = rng.standard_normal((channels, dim)).astype(np.float32)
    x = rng.standard_normal((rows, dim))
    if correlated:  # correlated inputs, where GPTQ's error feedback matters most
        mix = rng.standard_normal((dim, dim)) * 0.5 + np.eye(dim)
        x = x @ mix
    x = x.astype(np.float32)
    if dead_column is not None:
        x[:, dead_column] = 0
    codes, scales, w_hat, out_err, rtn_err = gptq_reference(w, x, bits, act_order)
    return {
        "name": name, "channels": channels, "dimension": dim, "rows": rows, "bits": bits,
        "act_order": act_order, "block_size": block_size,
        "weights": [float(v) for v in w.ravel()],
        "inputs": [float(v) for v in x.ravel()],
        "codes": [int(v) for v in codes.ravel()],
        "scales": [float(v) for v in scales],
        "reconstructed": [float(v) for v in w_hat.ravel()],
        "output_error": out_err,
        "rtn_output_error": rtn_err,
    }


def main():
    rng = np.random.default_rng(20261129)
    cases = [
        case(rng, "b3_in_order_one_block", 8, 16, 64, 3, False, 128, correlated=True),
        case(rng, "b3_in_order_lazy_blocks_of_5", 8, 16, 64, 3, False, 5, correlated=True),
        case(rng, "b4_act_order_blocks_of_4_dead_input", 8, 16, 64, 4, True, 4, dead_column=3, correlated=True),
        case(rng, "b2_act_order_one_block", 8, 16, 64, 2, True, 128),
    ]
    out = {
        "generator": "Scripts/gen_gptq_fixture.py (numpy %s); regenerate with: python3 Scripts/gen_gptq_fixture.py"
                     % np.__version__,
        "cases": cases,
    }
    path = os.path.join(os.path.dirname(__file__), "..", "Tests", "QuantizationTests", "Fixtures",
                        "gptq_reference.json")
    with open(path, "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    for c in cases:
        print(c["name"], "gptq", round(c["output_error"], 4), "rtn", round(c["rtn_output_error"], 4))


if __name__ == "__main__":
    main()
