"""Reference PyTorch implementations of the four SSD detectors that mpq reads.

Written from the facts in docs/reference-detectors.md (gathered from qfgaohao/pytorch-ssd and
amdegroot/ssd.pytorch); no code was copied. The state_dict keys and shapes equal the real checkpoints
(checked against reference/keys/*.txt by `python3 Scripts/ssd_nets.py --check-keys DIR`).

Networks (`build(arch, num_classes=21, width_mult=1.0)`):
  mb2-ssd-lite   MobileNetV2 SSD-Lite (qfgaohao), 3000 priors, `width_mult` like qfgaohao's MobileNetV2:
                 channels `int(c * width)`, hidden `round(inp * t)` (Python round), last channel 1280 for
                 width <= 1, head 0 input `round(576 * width)`; the extras and heads 1..5 do not scale.
  mb1-ssd        MobileNetV1 SSD (qfgaohao), 3000 priors.
  vgg16-ssd      VGG16 SSD (qfgaohao), BatchNorm2d(512) on source 0 (`source_layer_add_ons.0`), 8732 priors
                 (`scaled_l2norm=True`: the older ScaledL2Norm there, key `source_layer_add_ons.0.scale`).
  ssd300-vgg16   VGG16 SSD300 (amdegroot), L2Norm(512, 20) on source 0, 8732 priors.

Every network's `forward(x)` returns raw head outputs `(confidences [N, P, C], locations [N, P, 4])` with
the prior order of the reference (source, row y, column x, anchor slot fastest). `Detector` adds the
preprocessing preset, softmax, box decoding and per-class hard NMS exactly as the references do.
Only torch, numpy and cv2 are used (no torchvision).
"""
import argparse
import math
import sys

import cv2
import numpy as np
import torch
import torch.nn as nn

ARCHS = ("mb2-ssd-lite", "mb1-ssd", "vgg16-ssd", "ssd300-vgg16")


# ----------------------------------------------------------------------------------------------
# MobileNetV2 SSD-Lite (qfgaohao)

def _conv3x3_bn_relu6(inp, out, stride):
    return nn.Sequential(nn.Conv2d(inp, out, 3, stride, 1, bias=False), nn.BatchNorm2d(out), nn.ReLU6(inplace=True))


def _conv1x1_bn_relu6(inp, out):
    return nn.Sequential(nn.Conv2d(inp, out, 1, 1, 0, bias=False), nn.BatchNorm2d(out), nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    """MobileNetV2 block; `conv` indices match the checkpoints (pw 0, BN 1, dw 3, BN 4, pw-linear 6, BN 7)."""

    def __init__(self, inp, out, stride, expand_ratio):
        super().__init__()
        hidden = round(inp * expand_ratio)  # Python's round (half to even), as the reference
        self.use_residual = stride == 1 and inp == out
        layers = []
        if expand_ratio != 1:
            layers += [nn.Conv2d(inp, hidden, 1, 1, 0, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True)]
        layers += [nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), nn.BatchNorm2d(hidden),
                   nn.ReLU6(inplace=True),
                   nn.Conv2d(hidden, out, 1, 1, 0, bias=False), nn.BatchNorm2d(out)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        y = self.conv(x)
        return x + y if self.use_residual else y


def mobilenet_v2_features(width_mult=1.0, slim=1):
    settings = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                (6, 320, 1, 1)]
    inp = int(32 * width_mult)
    last = int(1280 * width_mult) if width_mult > 1.0 else 1280 // slim
    layers = [_conv3x3_bn_relu6(3, inp, 2)]
    for t, c, n, s in settings:
        out = int(c * width_mult)
        for i in range(n):
            layers.append(InvertedResidual(inp, out, s if i == 0 else 1, t))
            inp = out
    layers.append(_conv1x1_bn_relu6(inp, last))
    return nn.Sequential(*layers)


def _separable_head(inp, out):
    # Depthwise 3x3 WITH bias -> BN -> ReLU6 -> 1x1 with bias (SSD-Lite head).
    return nn.Sequential(nn.Conv2d(inp, inp, 3, 1, 1, groups=inp), nn.BatchNorm2d(inp), nn.ReLU6(),
                         nn.Conv2d(inp, out, 1))


class _QfgaohaoSSD(nn.Module):
    """Holds modules in the reference registration order (so state_dict key order matches too)."""

    def _finish(self, base_net, extras, cls, reg, add_ons, num_classes):
        self.num_classes = num_classes
        self.base_net = base_net
        self.extras = extras
        self.classification_headers = cls
        self.regression_headers = reg
        self.source_layer_add_ons = add_ons

    def _heads(self, sources):
        confs, locs = [], []
        for i, s in enumerate(sources):
            c = self.classification_headers[i](s).permute(0, 2, 3, 1).contiguous()
            l = self.regression_headers[i](s).permute(0, 2, 3, 1).contiguous()
            confs.append(c.view(c.size(0), -1, self.num_classes))
            locs.append(l.view(l.size(0), -1, 4))
        return torch.cat(confs, 1), torch.cat(locs, 1)


class MobileNetV2SSDLite(_QfgaohaoSSD):
    def __init__(self, num_classes=21, width_mult=1.0, slim=1):
        super().__init__()
        base = mobilenet_v2_features(width_mult, slim)
        c1280, c512, c256, c64 = 1280 // slim, 512 // slim, 256 // slim, 64 // slim
        extras = nn.ModuleList([InvertedResidual(c1280, c512, 2, 0.2), InvertedResidual(c512, c256, 2, 0.25),
                                InvertedResidual(c256, c256, 2, 0.5), InvertedResidual(c256, c64, 2, 0.25)])
        c0 = round(576 * width_mult)
        ins = [c0, c1280, c512, c256, c256]
        reg = nn.ModuleList([_separable_head(c, 6 * 4) for c in ins] + [nn.Conv2d(c64, 6 * 4, 1)])
        cls = nn.ModuleList([_separable_head(c, 6 * num_classes) for c in ins] + [nn.Conv2d(c64, 6 * num_classes, 1)])
        # Registration order in the reference: base_net, extras, cls, reg, add-ons (empty here).
        self._finish(base, extras, cls, reg, nn.ModuleList(), num_classes)

    def forward(self, x):
        for layer in self.base_net[:14]:
            x = layer(x)
        block = self.base_net[14].conv
        x = block[:3](x)          # 96->576 expansion + BN + ReLU6, 19x19: source 0
        sources = [x]
        x = block[3:](x)          # block 14 is stride 2, no residual
        for layer in self.base_net[15:]:
            x = layer(x)
        sources.append(x)         # 1280 ch, 10x10
        for layer in self.extras:
            x = layer(x)
            sources.append(x)     # 5, 3, 2, 1
        return self._heads(sources)


# ----------------------------------------------------------------------------------------------
# MobileNetV1 SSD (qfgaohao)

def _mb1_features(slim=1):
    def conv_bn(inp, out, stride):
        return nn.Sequential(nn.Conv2d(inp, out, 3, stride, 1, bias=False), nn.BatchNorm2d(out), nn.ReLU(inplace=True))

    def conv_dw(inp, out, stride):
        return nn.Sequential(nn.Conv2d(inp, inp, 3, stride, 1, groups=inp, bias=False), nn.BatchNorm2d(inp),
                             nn.ReLU(inplace=True),
                             nn.Conv2d(inp, out, 1, 1, 0, bias=False), nn.BatchNorm2d(out), nn.ReLU(inplace=True))

    plan = [(32, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2), (256, 256, 1), (256, 512, 2)] + \
        [(512, 512, 1)] * 5 + [(512, 1024, 2), (1024, 1024, 1)]
    return nn.Sequential(conv_bn(3, 32 // slim, 2), *[conv_dw(i // slim, o // slim, s) for i, o, s in plan])


def _extra(inp, mid, out, stride, padding):
    return nn.Sequential(nn.Conv2d(inp, mid, 1), nn.ReLU(), nn.Conv2d(mid, out, 3, stride, padding), nn.ReLU())


class MobileNetV1SSD(_QfgaohaoSSD):
    def __init__(self, num_classes=21, slim=1):
        super().__init__()
        d = slim
        extras = nn.ModuleList([_extra(1024 // d, 256 // d, 512 // d, 2, 1), _extra(512 // d, 128 // d, 256 // d, 2, 1),
                                _extra(256 // d, 128 // d, 256 // d, 2, 1), _extra(256 // d, 128 // d, 256 // d, 2, 1)])
        ins = [c // d for c in (512, 1024, 512, 256, 256, 256)]
        reg = nn.ModuleList([nn.Conv2d(c, 6 * 4, 3, padding=1) for c in ins])
        cls = nn.ModuleList([nn.Conv2d(c, 6 * num_classes, 3, padding=1) for c in ins])
        self._finish(_mb1_features(slim), extras, cls, reg, nn.ModuleList(), num_classes)

    def forward(self, x):
        x = self.base_net[:12](x)
        sources = [x]             # 512 ch, 19x19
        x = self.base_net[12:](x)
        sources.append(x)         # 1024 ch, 10x10
        for layer in self.extras:
            x = layer(x)
            sources.append(x)     # 5, 3, 2, 1
        return self._heads(sources)


# ----------------------------------------------------------------------------------------------
# VGG16 base (both repos): 35 entries, conv/ReLU/pool, ceil-mode pool3, pool5 3x3 s1 p1, dilated conv6, conv7.

def vgg16_layers(slim=1):
    cfg = [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'C', 512, 512, 512, 'M', 512, 512, 512]
    layers, inp = [], 3
    for v in cfg:
        if v == 'M':
            layers.append(nn.MaxPool2d(2, 2))
        elif v == 'C':
            layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
        else:
            layers += [nn.Conv2d(inp, v // slim, 3, padding=1), nn.ReLU(inplace=True)]
            inp = v // slim
    c512, c1024 = 512 // slim, 1024 // slim
    layers += [nn.MaxPool2d(3, 1, 1), nn.Conv2d(c512, c1024, 3, padding=6, dilation=6), nn.ReLU(inplace=True),
               nn.Conv2d(c1024, c1024, 1), nn.ReLU(inplace=True)]
    return layers


class ScaledL2Norm(nn.Module):
    """Older qfgaohao versions (before commit 780b58a "replace scaled l2norm with batch norm") put this on
    source 0: `F.normalize(x, p=2, dim=1) * scale`, parameter `scale` [C] (init 20)."""

    def __init__(self, channels, initial_scale=20.0):
        super().__init__()
        self.scale = nn.Parameter(torch.full((channels,), float(initial_scale)))

    def forward(self, x):
        return torch.nn.functional.normalize(x, p=2, dim=1) * self.scale.view(1, -1, 1, 1)


class VGG16SSD(_QfgaohaoSSD):
    def __init__(self, num_classes=21, slim=1, scaled_l2norm=False):
        super().__init__()
        d = slim
        extras = nn.ModuleList([_extra(1024 // d, 256 // d, 512 // d, 2, 1), _extra(512 // d, 128 // d, 256 // d, 2, 1),
                                _extra(256 // d, 128 // d, 256 // d, 1, 0), _extra(256 // d, 128 // d, 256 // d, 1, 0)])
        ins = [c // d for c in (512, 1024, 512, 256, 256, 256)]
        anchors = [4, 6, 6, 6, 4, 4]
        reg = nn.ModuleList([nn.Conv2d(c, a * 4, 3, padding=1) for c, a in zip(ins, anchors)])
        cls = nn.ModuleList([nn.Conv2d(c, a * num_classes, 3, padding=1) for c, a in zip(ins, anchors)])
        add_on = ScaledL2Norm(512 // d) if scaled_l2norm else nn.BatchNorm2d(512 // d)
        self._finish(nn.ModuleList(vgg16_layers(slim)), extras, cls, reg, nn.ModuleList([add_on]), num_classes)

    def forward(self, x):
        for layer in self.base_net[:23]:
            x = layer(x)
        sources = [self.source_layer_add_ons[0](x)]   # conv4_3 (after ReLU) -> BatchNorm2d, 38x38
        for layer in self.base_net[23:]:
            x = layer(x)
        sources.append(x)                              # fc7, 19x19
        for layer in self.extras:
            x = layer(x)
            sources.append(x)                          # 10, 5, 3, 1
        return self._heads(sources)


# ----------------------------------------------------------------------------------------------
# VGG16 SSD300 (amdegroot)

class L2Norm(nn.Module):
    def __init__(self, channels, scale):
        super().__init__()
        self.weight = nn.Parameter(torch.full((channels,), float(scale)))

    def forward(self, x):
        norm = x.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10
        return self.weight.view(1, -1, 1, 1) * torch.div(x, norm)


class AmdegrootSSD300(nn.Module):
    def __init__(self, num_classes=21, slim=1):
        super().__init__()
        self.num_classes = num_classes
        self.vgg = nn.ModuleList(vgg16_layers(slim))
        self.L2Norm = L2Norm(512 // slim, 20)
        c1024, c512, c256, c128 = 1024 // slim, 512 // slim, 256 // slim, 128 // slim
        # Bare convs; ReLU is applied in forward. Odd-numbered extras are sources.
        self.extras = nn.ModuleList([
            nn.Conv2d(c1024, c256, 1), nn.Conv2d(c256, c512, 3, 2, 1),   # conv8_1, conv8_2
            nn.Conv2d(c512, c128, 1), nn.Conv2d(c128, c256, 3, 2, 1),    # conv9_1, conv9_2
            nn.Conv2d(c256, c128, 1), nn.Conv2d(c128, c256, 3),          # conv10_1, conv10_2
            nn.Conv2d(c256, c128, 1), nn.Conv2d(c128, c256, 3)])         # conv11_1, conv11_2
        ins = [c512, c1024, c512, c256, c256, c256]
        anchors = [4, 6, 6, 6, 4, 4]
        self.loc = nn.ModuleList([nn.Conv2d(c, a * 4, 3, padding=1) for c, a in zip(ins, anchors)])
        self.conf = nn.ModuleList([nn.Conv2d(c, a * num_classes, 3, padding=1) for c, a in zip(ins, anchors)])

    def forward(self, x):
        for k in range(23):
            x = self.vgg[k](x)
        sources = [self.L2Norm(x)]
        for k in range(23, len(self.vgg)):
            x = self.vgg[k](x)
        sources.append(x)
        for k, conv in enumerate(self.extras):
            x = torch.relu(conv(x))
            if k % 2 == 1:
                sources.append(x)
        locs = [l(s).permute(0, 2, 3, 1).contiguous() for s, l in zip(sources, self.loc)]
        confs = [c(s).permute(0, 2, 3, 1).contiguous() for s, c in zip(sources, self.conf)]
        n = x.size(0)
        loc = torch.cat([o.view(n, -1) for o in locs], 1).view(n, -1, 4)
        conf = torch.cat([o.view(n, -1) for o in confs], 1).view(n, -1, self.num_classes)
        return conf, loc


def build(arch, num_classes=21, width_mult=1.0, slim=1, scaled_l2norm=False):
    """The reference network. `slim` (test fixtures only, not in the references) divides every hidden
    channel count that the reference does not scale, to make small files with the real key layout.
    `scaled_l2norm` (vgg16-ssd only) builds the older qfgaohao layout with `source_layer_add_ons.0.scale`."""
    if arch == "mb2-ssd-lite":
        return MobileNetV2SSDLite(num_classes, width_mult, slim)
    if width_mult != 1.0:
        raise ValueError(f"width_mult applies to mb2-ssd-lite only, not {arch}")
    if arch == "mb1-ssd":
        return MobileNetV1SSD(num_classes, slim)
    if arch == "vgg16-ssd":
        return VGG16SSD(num_classes, slim, scaled_l2norm)
    if arch == "ssd300-vgg16":
        return AmdegrootSSD300(num_classes, slim)
    raise ValueError(f"unknown architecture {arch}")


# ----------------------------------------------------------------------------------------------
# Priors (center form cx, cy, w, h, normalised, clamped to [0, 1]); float64 arithmetic, then float32.

# (feature map, shrinkage, min size, max size, aspect ratios)
MOBILENET_SPECS = [(19, 16, 60, 105, [2, 3]), (10, 32, 105, 150, [2, 3]), (5, 64, 150, 195, [2, 3]),
                   (3, 100, 195, 240, [2, 3]), (2, 150, 240, 285, [2, 3]), (1, 300, 285, 330, [2, 3])]
VGG_SPECS = [(38, 8, 30, 60, [2]), (19, 16, 60, 111, [2, 3]), (10, 32, 111, 162, [2, 3]),
             (5, 64, 162, 213, [2, 3]), (3, 100, 213, 264, [2]), (1, 300, 264, 315, [2])]


def qfgaohao_priors(specs, image_size=300):
    out = []
    for fm, shrink, mn, mx, ratios in specs:
        scale = image_size / shrink
        for j in range(fm):          # row
            for i in range(fm):      # column
                cx, cy = (i + 0.5) / scale, (j + 0.5) / scale
                w = mn / image_size
                out.append([cx, cy, w, w])
                big = math.sqrt(mx * mn) / image_size
                out.append([cx, cy, big, big])
                for r in ratios:
                    r = math.sqrt(r)
                    out.append([cx, cy, w * r, w / r])
                    out.append([cx, cy, w / r, w * r])
    return torch.tensor(out, dtype=torch.float32).clamp_(0.0, 1.0)


def amdegroot_priors(image_size=300):
    # amdegroot computes the big square as sqrt(s_k * max/size) (rounding may differ from qfgaohao's).
    out = []
    for fm, step, mn, mx, ratios in VGG_SPECS:
        f_k = image_size / step
        for i in range(fm):          # row
            for j in range(fm):      # column
                cx, cy = (j + 0.5) / f_k, (i + 0.5) / f_k
                s_k = mn / image_size
                out.append([cx, cy, s_k, s_k])
                big = math.sqrt(s_k * (mx / image_size))
                out.append([cx, cy, big, big])
                for r in ratios:
                    out.append([cx, cy, s_k * math.sqrt(r), s_k / math.sqrt(r)])
                    out.append([cx, cy, s_k / math.sqrt(r), s_k * math.sqrt(r)])
    return torch.tensor(out, dtype=torch.float32).clamp_(0.0, 1.0)


def priors_for(arch):
    if arch in ("mb2-ssd-lite", "mb1-ssd"):
        return qfgaohao_priors(MOBILENET_SPECS)
    if arch == "vgg16-ssd":
        return qfgaohao_priors(VGG_SPECS)
    return amdegroot_priors()


# ----------------------------------------------------------------------------------------------
# Box decoding, softmax, NMS

def decode_boxes(loc, priors, amdegroot=False):
    """loc [P, 4] (float32), priors [P, 4] center form -> corner form x1, y1, x2, y2 (normalised, unclipped)."""
    if amdegroot:
        cxy = priors[:, :2] + loc[:, :2] * 0.1 * priors[:, 2:]
        wh = priors[:, 2:] * torch.exp(loc[:, 2:] * 0.2)
        x1y1 = cxy - wh / 2
        return torch.cat([x1y1, wh + x1y1], 1)          # x2 = x1 + w (amdegroot's order of operations)
    cxy = loc[:, :2] * 0.1 * priors[:, 2:] + priors[:, :2]
    wh = torch.exp(loc[:, 2:] * 0.2) * priors[:, 2:]
    return torch.cat([cxy - wh / 2, cxy + wh / 2], 1)


def nms(boxes, scores, iou_threshold=0.45, candidates=200, amdegroot=False, margins=None):
    """Greedy hard NMS. boxes [K, 4] corners, scores [K]. Returns kept indices (into K), best first.

    Candidates: the `candidates` highest scores, ties broken by lower index (stable sort).
    qfgaohao: IoU = inter / (area_rest + area_cur - inter + 1e-5), areas with clamped sides.
    amdegroot: IoU = inter / ((area_rest - inter) + area_cur), areas without clamp. Keep IoU <= threshold.
    `margins` (a list, optional) receives min |IoU - threshold| of each step: how fragile the result is.
    """
    order = np.argsort(-scores.numpy(), kind="stable")[:candidates]
    order = torch.from_numpy(order.copy())
    keep = []
    while order.numel() > 0:
        cur = order[0]
        keep.append(int(cur))
        if order.numel() == 1:
            break
        rest = order[1:]
        rb, cb = boxes[rest], boxes[cur]
        lt = torch.max(rb[:, :2], cb[:2])
        rbm = torch.min(rb[:, 2:], cb[2:])
        inter_wh = torch.clamp(rbm - lt, min=0.0)
        inter = inter_wh[:, 0] * inter_wh[:, 1]
        if amdegroot:
            area_r = (rb[:, 2] - rb[:, 0]) * (rb[:, 3] - rb[:, 1])
            area_c = (cb[2] - cb[0]) * (cb[3] - cb[1])
            iou = inter / ((area_r - inter) + area_c)
        else:
            whr = torch.clamp(rb[:, 2:] - rb[:, :2], min=0.0)
            whc = torch.clamp(cb[2:] - cb[:2], min=0.0)
            iou = inter / (whr[:, 0] * whr[:, 1] + whc[0] * whc[1] - inter + 1e-5)
        if margins is not None:
            margins.append(float((iou - iou_threshold).abs().min()))
        order = rest[iou <= iou_threshold]
    return keep


def postprocess(scores, boxes, width, height, amdegroot=False, score_threshold=0.01, iou_threshold=0.45,
                candidates=200, margins=None):
    """scores [P, C] softmax, boxes [P, 4] normalised corners -> list of (class, score, x1, y1, x2, y2) in pixels.

    Per class 1..C-1 in ascending order, kept boxes in NMS order (best first); no per-image cap.
    """
    out = []
    scale = torch.tensor([width, height, width, height], dtype=torch.float32)
    for c in range(1, scores.shape[1]):
        probs = scores[:, c]
        mask = probs > score_threshold
        if not bool(mask.any()):
            continue
        p, b = probs[mask], boxes[mask]
        for k in nms(b, p, iou_threshold, candidates, amdegroot, margins):
            px = b[k] * scale
            out.append((c, float(p[k]), *[float(v) for v in px]))
    return out


# ----------------------------------------------------------------------------------------------
# Preprocessing and the predictor

def preprocess(image_rgb_uint8, arch, size=300):
    """HxWx3 RGB uint8 -> [1, 3, 300, 300] float32 as the reference predictors feed their networks.

    Resize on uint8 with cv2.resize INTER_LINEAR (aspect ratio ignored), then:
      mb1/mb2: (x - 127) / 128;  vgg16-ssd: x - (123, 117, 104);
      ssd300-vgg16: BGR - (104, 117, 123) reordered to RGB == RGB - (123, 117, 104).
    """
    img = cv2.resize(image_rgb_uint8, (size, size), interpolation=cv2.INTER_LINEAR)
    return normalize(img, arch)


def normalize(resized_rgb_uint8, arch):
    x = resized_rgb_uint8.astype(np.float32)
    if arch in ("mb2-ssd-lite", "mb1-ssd"):
        x = (x - np.float32(127.0)) / np.float32(128.0)
    else:
        x = x - np.array([123, 117, 104], dtype=np.float32)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]


class Detector:
    def __init__(self, net, arch):
        self.net = net.eval()
        self.arch = arch
        self.priors = priors_for(arch)
        self.amdegroot = arch == "ssd300-vgg16"

    @torch.no_grad()
    def raw(self, x):
        """x [1, 3, 300, 300] -> (scores [P, C] softmax, boxes [P, 4] normalised corners)."""
        conf, loc = self.net(x)
        scores = torch.softmax(conf[0], dim=1)
        boxes = decode_boxes(loc[0], self.priors, self.amdegroot)
        return scores, boxes

    def predict(self, image_rgb_uint8, score_threshold=0.01):
        h, w = image_rgb_uint8.shape[:2]
        scores, boxes = self.raw(preprocess(image_rgb_uint8, self.arch))
        return postprocess(scores, boxes, w, h, self.amdegroot, score_threshold), scores, boxes


def read_rgb(path):
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(path)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


# ----------------------------------------------------------------------------------------------

KEY_FILES = {"mb2-ssd-lite": "keys_mb2-ssd-lite.txt", "mb1-ssd": "keys_mb1-ssd.txt",
             "vgg16-ssd": "keys_vgg16-ssd.txt", "ssd300-vgg16": "keys_amdegroot-ssd300.txt"}


def check_keys(keys_dir):
    ok = True
    for arch, fname in KEY_FILES.items():
        want = [line.strip() for line in open(f"{keys_dir}/{fname}") if line.strip()]
        got = [f"{k} {list(v.shape)}" for k, v in build(arch).state_dict().items()]
        same = want == got
        ok &= same
        print(f"{arch}: {len(got)} keys, {'identical (order too)' if same else 'DIFFERENT'}")
        if not same:
            for line in sorted(set(want) ^ set(got))[:20]:
                print("   ", "missing" if line in want else "extra", line)
        print(f"    priors {priors_for(arch).shape[0]}")
    return ok


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check-keys", metavar="DIR", help="compare state_dict keys with reference/keys/*.txt")
    args = ap.parse_args()
    if args.check_keys:
        sys.exit(0 if check_keys(args.check_keys) else 1)
