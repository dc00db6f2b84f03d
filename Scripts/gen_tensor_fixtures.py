#!/usr/bin/env python3
"""Golden values for TensorsTests from PyTorch (torch 2.13.0+cpu).

Regenerate:  python3 Scripts/gen_tensor_fixtures.py
Writes Tests/TensorsTests/Fixtures/tensor_golden.json: a list of cases, each with its parameters and
its tensors as {"shape": [...], "f32": base64 of little-endian float32} (exact, and compact).
"""
import base64
import json
import os

import numpy as np
import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "TensorsTests", "Fixtures", "tensor_golden.json")


def enc(t):
    a = t.detach().to(torch.float32).contiguous().numpy().astype("<f4")
    return {"shape": list(a.shape), "f32": base64.b64encode(a.tobytes()).decode("ascii")}


def conv_case(name, g, n, c, h, w, o, k, stride=1, padding=0, dilation=1, groups=1, bias=True, act="identity"):
    kh, kw = k
    x = torch.randn(n, c, h, w, generator=g)
    wt = torch.randn(o, c // groups, kh, kw, generator=g) * 0.5
    b = torch.randn(o, generator=g) if bias else None
    y = F.conv2d(x, wt, b, stride=stride, padding=padding, dilation=dilation, groups=groups)
    if act == "relu":
        y = F.relu(y)
    elif act == "relu6":
        y = F.relu6(y)
    case = {"kind": "conv", "name": name, "stride": stride, "padding": padding, "dilation": dilation,
            "groups": groups, "activation": act, "x": enc(x), "weight": enc(wt), "y": enc(y)}
    if b is not None:
        case["bias"] = enc(b)
    return case


def pool_case(name, g, shape, kernel, stride, padding, ceil):
    x = torch.randn(*shape, generator=g)
    y = F.max_pool2d(x, kernel, stride, padding, ceil_mode=ceil)
    return {"kind": "maxpool", "name": name, "kernel": kernel, "stride": stride, "padding": padding,
            "ceil": ceil, "x": enc(x), "y": enc(y)}


def main():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1234)
    cases = [
        conv_case("plain3x3", g, 1, 3, 9, 8, 5, (3, 3), padding=1),
        conv_case("batch2_stride2_pad1_relu", g, 2, 4, 11, 10, 6, (3, 3), stride=2, padding=1, act="relu"),
        conv_case("vgg_conv6_dilation6", g, 1, 4, 13, 13, 5, (3, 3), padding=6, dilation=6, act="relu"),
        conv_case("pointwise_relu6", g, 1, 8, 7, 6, 12, (1, 1), act="relu6"),
        conv_case("pointwise_stride2_nobias", g, 1, 5, 9, 9, 3, (1, 1), stride=2, bias=False),
        conv_case("depthwise_s1_relu6", g, 1, 6, 10, 9, 6, (3, 3), padding=1, groups=6, act="relu6"),
        conv_case("depthwise_s2", g, 2, 5, 11, 12, 5, (3, 3), stride=2, padding=1, groups=5),
        conv_case("grouped_g2_rect", g, 1, 6, 8, 9, 4, (2, 3), stride=1, padding=1, groups=2),
        conv_case("extras_3x3_nopad", g, 1, 4, 5, 5, 3, (3, 3), stride=1, padding=0),
        pool_case("pool3_ceil_75", g, (1, 1, 75, 75), 2, 2, 0, True),
        pool_case("pool_floor_odd", g, (1, 2, 7, 7), 2, 2, 0, False),
        pool_case("pool5_3x3_s1_p1", g, (2, 3, 6, 5), 3, 1, 1, False),
        pool_case("ceil_last_window_dropped", g, (1, 2, 4, 4), 2, 3, 1, True),
        pool_case("ceil_stride2_pad1", g, (1, 2, 6, 7), 3, 2, 1, True),
    ]
    # L2Norm as in amdegroot/ssd.pytorch: x / (||x||_2 over channels + eps) * weight.
    x = torch.randn(2, 5, 3, 4, generator=g) * 3
    wt = torch.rand(5, generator=g) * 20
    norm = x.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10
    y = wt[None, :, None, None] * torch.div(x, norm)
    cases.append({"kind": "l2norm", "name": "l2norm", "x": enc(x), "weight": enc(wt), "y": enc(y)})
    # Softmax over the last axis, including large logits (stability).
    x = torch.randn(7, 21, generator=g) * 10
    x[0, 3] = 80.0
    cases.append({"kind": "softmax", "name": "softmax", "x": enc(x), "y": enc(torch.softmax(x, dim=-1))})
    # BatchNorm folding: eval-mode BN after a conv, reference = bn(conv(x)).
    conv = torch.nn.Conv2d(3, 4, 3, padding=1, bias=True)
    bn = torch.nn.BatchNorm2d(4, eps=1e-5)
    with torch.no_grad():
        conv.weight.copy_(torch.randn(4, 3, 3, 3, generator=g))
        conv.bias.copy_(torch.randn(4, generator=g))
        bn.weight.copy_(torch.rand(4, generator=g) + 0.5)
        bn.bias.copy_(torch.randn(4, generator=g))
        bn.running_mean.copy_(torch.randn(4, generator=g))
        bn.running_var.copy_(torch.rand(4, generator=g) + 0.1)
    bn.eval()
    x = torch.randn(1, 3, 6, 6, generator=g)
    with torch.no_grad():
        y = bn(conv(x))
    cases.append({"kind": "bnfold", "name": "bnfold", "x": enc(x), "weight": enc(conv.weight), "bias": enc(conv.bias),
                  "gamma": enc(bn.weight), "beta": enc(bn.bias), "mean": enc(bn.running_mean),
                  "variance": enc(bn.running_var), "y": enc(y)})
    doc = {"generator": "Scripts/gen_tensor_fixtures.py", "torch": torch.__version__, "cases": cases}
    with open(OUT, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes, {len(cases)} cases)")


if __name__ == "__main__":
    main()
