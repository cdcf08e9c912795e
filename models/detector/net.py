"""PlateNet: a small FCN that marks plate centres and regresses the four plate corners.

Why this shape: plates are small, flat, high-contrast text panels; a stride-4 score map finds
plates down to ~8 px wide at the 384x512 input (20 px in a 1280-wide frame) while a stride-32
context path tells plates from other text (badges, signs). Depthwise-separable blocks keep it
around 0.15 GMAC so one CPU thread runs it in a few milliseconds. Output channel 0 is the
"plate interior" logit, channels 1..8 are (corner - cell centre) / GEO_SCALE for TL, TR, BR, BL (x, y),
in input pixels, which gives quads for tilted plates without a separate rectification model.
Training only; the unit runs the exported .tflite.
"""

import torch
from torch import nn

INPUT_HW = (384, 512)
STRIDE = 4
GEO_SCALE = 32.0


def cbr(ci, co, k=3, s=1, g=1):
    return nn.Sequential(nn.Conv2d(ci, co, k, s, k // 2, groups=g, bias=False), nn.BatchNorm2d(co), nn.ReLU(inplace=True))


def dws(ci, co, s=1):
    return nn.Sequential(cbr(ci, ci, 3, s, g=ci), cbr(ci, co, 1))


class PlateNet(nn.Module):
    def __init__(self, widths=(16, 24, 48, 96, 160), fpn=32):
        super().__init__()
        w0, w1, w2, w3, w4 = widths
        self.stem = cbr(3, w0, 3, 2)
        self.s4 = nn.Sequential(dws(w0, w1, 2), dws(w1, w1))
        self.s8 = nn.Sequential(dws(w1, w2, 2), dws(w2, w2), dws(w2, w2))
        self.s16 = nn.Sequential(dws(w2, w3, 2), dws(w3, w3), dws(w3, w3))
        self.s32 = nn.Sequential(dws(w3, w4, 2), dws(w4, w4), dws(w4, w4))
        self.l4, self.l8, self.l16, self.l32 = (cbr(c, fpn, 1) for c in (w1, w2, w3, w4))
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.head = nn.Sequential(dws(fpn, fpn), dws(fpn, fpn), nn.Conv2d(fpn, 9, 1))

    def forward(self, x):  # x: N,3,H,W float BGR 0..255
        return self.head[-1](self.features(x))

    def features(self, x):
        x = (x - 127.5) * (1.0 / 127.5)
        c4 = self.s4(self.stem(x))
        c8 = self.s8(c4)
        c16 = self.s16(c8)
        c32 = self.s32(c16)
        p = self.l32(c32)
        p = self.up(p) + self.l16(c16)
        p = self.up(p) + self.l8(c8)
        p = self.up(p) + self.l4(c4)
        return self.head[:-1](p)


class Deployed(nn.Module):
    """What the unit runs: plate probability and corner offsets as two tensors.

    Two outputs so int8 quantisation gives each its own scale (one shared scale would spend the
    int8 range on logits and leave the corners ~9 px coarse).
    """

    def __init__(self, net: PlateNet):
        super().__init__()
        self.net = net
        last = net.head[-1]
        self.score = nn.Conv2d(last.in_channels, 1, 1)
        self.corners = nn.Conv2d(last.in_channels, 8, 1)
        with torch.no_grad():  # split the 9-channel conv (a channel Slice confuses onnx2tf's NCHW->NHWC)
            self.score.weight.copy_(last.weight[:1])
            self.score.bias.copy_(last.bias[:1])
            self.corners.weight.copy_(last.weight[1:])
            self.corners.bias.copy_(last.bias[1:])

    def forward(self, x):
        f = self.net.features(x)
        return torch.sigmoid(self.score(f)), self.corners(f)


def export_onnx(net: PlateNet, path, input_hw=INPUT_HW) -> None:
    """Fully convolutional: any input size divisible by 32 works with the same weights."""
    net = net.eval().cpu()
    torch.onnx.export(Deployed(net), torch.zeros(1, 3, *input_hw), str(path), input_names=["image"],
                      output_names=["score", "corners"], opset_version=17, dynamo=False)
