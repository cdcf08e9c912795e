"""Fine-tune the plate OCR (PP-OCRv6 small rec, head cut to blank+0-9A-Z) on rendered plates.

Runs on the lent GPU box (torch + onnx + opencv; no internet) or, slowly, on a CPU. Input: the
prepared ONNX from prepare_base.py (converted to torch with onnx2torch), the glyph atlas from
make_atlas.py. Output: plate_ocr_ft.onnx (1x3x48xW -> 1x(W/8)x37 probabilities; W = --width, 128) and the state dict.

The crops imitate what the runtime hands the OCR: a plate at 30-260 px wide, tilted up to 30 degrees,
cut either by the detector's quad (then rectified) or by its axis-aligned box, with the box off by a
few per cent, then blur/noise/glare/JPEG/IR. BatchNorm statistics stay frozen (eval mode) and the
backbone learns slowly, so what PP-OCR knew about real text is kept; the head learns plates.

usage: python models/ocr/train_ocr.py --base BASE.onnx --atlas glyphs.npz --out DIR [--steps N]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import types
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from firmware.recognition.config import RecognitionConfig  # noqa: E402
from firmware.recognition.ocr import rectify  # noqa: E402
from firmware.synthetic.plate import (ALPHABET, degrade, load_glyph_atlas,  # noqa: E402
                                      random_plate_text, render_plate)
from firmware.synthetic.scene import frame_plate  # noqa: E402

H, W = 48, 128  # the unit reads 48x128 (16 CTC columns: enough for 8 characters, 20% cheaper than 160)


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    base = rng.integers(0, 256, 3).astype(np.float32)
    img = np.empty((h, w, 3), np.float32)
    img[:] = base
    img += rng.normal(0, rng.uniform(2, 30), (h, w, 1)).astype(np.float32)
    for _ in range(int(rng.integers(0, 4))):  # bumper edges, lamps, bolts
        c = tuple(int(v) for v in rng.integers(0, 256, 3))
        p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        p2 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        cv2.rectangle(img, p1, p2, c, -1)
    return np.clip(img, 0, 255).astype(np.uint8)


def _paste_tilted(rng: np.random.Generator, image: np.ndarray, cw: int, ch: int):
    """`image` on a cw x ch background under a random homography: roll up to 15 (sometimes 30) degrees,
    yaw/pitch foreshortening up to ~30 degrees. Returns the canvas, the image's corners on it and the homography."""
    canvas = _background(rng, ch, cw)
    h, w = image.shape[:2]
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    ang = np.deg2rad(rng.uniform(-15, 15) if rng.random() < 0.7 else rng.uniform(-30, 30))
    rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]], np.float32)
    pts = (src - src.mean(0)) @ rot.T
    yaw = rng.uniform(0, 0.3)
    side = rng.choice([-1, 1])
    pts[[1, 2] if side > 0 else [0, 3], 1] *= 1 - yaw
    pts[:, 0] *= 1 - yaw * rng.uniform(0.3, 1.0)
    pts = (pts + np.array([cw / 2, ch / 2], np.float32) + rng.normal(0, 2, (4, 2))).astype(np.float32)
    m = cv2.getPerspectiveTransform(src, pts)
    warped = cv2.warpPerspective(image, m, (cw, ch), flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(np.full((h, w), 255, np.uint8), m, (cw, ch))
    canvas[mask > 127] = warped[mask > 127]
    return canvas, pts, m


_RUNTIME = RecognitionConfig()  # the unit's defaults: training follows them if they change
# the first crop's margin (half the draws), then the second look's and the wide look's
RUNTIME_PADS_X = (_RUNTIME.crop_pad_x,) * 3 + tuple(_RUNTIME.second_look_pads) + (_RUNTIME.wide_look_pad,)
RUNTIME_PAD_Y = _RUNTIME.crop_pad_y


def runtime_cut_sample(rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """A crop cut exactly the way the unit cuts one: the detector's quad, grown by the runtime's margins.

    `sample` cuts close to the plate; the unit grows the quad by 12 % a side (3-35 % on second and wide
    looks) and 5 % above and below, and the detector's quad on a framed plate often takes in part of the
    frame (taller, shifted down towards the dealer text). Version 4 never saw either, so real crops were
    framed more loosely than any it was trained on. Half the plates here wear a dealer frame.
    """
    canvas, quad, text = runtime_cut_scene(rng)
    pad_x = float(rng.choice(RUNTIME_PADS_X))
    crop = rectify(canvas, quad, H, W, pad=(pad_x, RUNTIME_PAD_Y))
    return crop, text


def runtime_cut_scene(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, str]:
    """(scene, detector-like quad, text) of `runtime_cut_sample`, before the runtime's margins and the cut
    (models/cct/calibrate.py cuts the same scenes for both readers, each at its own input size)."""
    text = random_plate_text(rng)
    plate = render_plate(text, rng, extras=True)
    framed, (px0, py0, px1, py1) = frame_plate(plate, rng, p=0.5)
    kx = rng.uniform(30, 260) / (px1 - px0)
    ky = kx * rng.uniform(0.85, 1.15)
    fw, fh = max(8, int(framed.shape[1] * kx)), max(8, int(framed.shape[0] * ky))
    sx, sy = fw / framed.shape[1], fh / framed.shape[0]  # framed-plate pixels -> resized pixels
    framed = cv2.resize(framed, (fw, fh), interpolation=cv2.INTER_AREA)
    cw, ch = int(fw * 2.0) + 24, int(fh * 2.6) + 24
    canvas, pts, m = _paste_tilted(rng, framed, cw, ch)
    canvas = degrade(canvas, rng, rng.uniform(0.3, 1.0))
    inner = np.array([[[px0 * sx, py0 * sy], [px1 * sx, py0 * sy], [px1 * sx, py1 * sy], [px0 * sx, py1 * sy]]],
                     np.float32)
    plate_quad = cv2.perspectiveTransform(inner, m)[0]
    if rng.random() < 0.25:  # the detector took in the whole frame
        quad = pts
    else:  # a little off the plate: as wide or wider, often taller, centred a little low
        c = plate_quad.mean(0)
        across = 0.5 * ((plate_quad[1] - plate_quad[0]) + (plate_quad[2] - plate_quad[3]))
        down = 0.5 * ((plate_quad[3] - plate_quad[0]) + (plate_quad[2] - plate_quad[1]))
        u = np.array([-0.5, 0.5, 0.5, -0.5])[:, None] * rng.uniform(0.95, 1.12)
        v = np.array([-0.5, -0.5, 0.5, 0.5])[:, None] * rng.uniform(0.95, 1.3) + rng.normal(0.03, 0.04)
        quad = c + u * across + v * down + rng.normal(0, 0.02 * np.linalg.norm(across), (4, 2))
    return canvas, quad.astype(np.float32), text


def sample(rng: np.random.Generator, runtime_cuts: float = 0.0) -> tuple[np.ndarray, str]:
    """One training crop (H x W BGR) and its label; a share `runtime_cuts` of them from `runtime_cut_sample`."""
    if runtime_cuts and rng.random() < runtime_cuts:
        return runtime_cut_sample(rng)
    text = random_plate_text(rng)
    plate = render_plate(text, rng, extras=True)
    pw = int(rng.uniform(30, 260))
    ph = max(8, int(pw * plate.shape[0] / plate.shape[1] * rng.uniform(0.85, 1.15)))
    plate = cv2.resize(plate, (pw, ph), interpolation=cv2.INTER_AREA)
    cw, ch = int(pw * 2.2) + 20, int(ph * 2.6) + 20
    canvas, pts, _ = _paste_tilted(rng, plate, cw, ch)
    canvas = degrade(canvas, rng, rng.uniform(0.3, 1.0))
    quad = pts.astype(np.float32)
    if rng.random() < 0.5:  # the detector's quad, a little off, rectified
        scale = np.array([pw, ph], np.float32) * 0.04
        q = quad + rng.normal(0, 1, (4, 2)).astype(np.float32) * scale
        centre = q.mean(0)
        q = centre + (q - centre) * rng.uniform(1.0, 1.12)
        dst = np.array([[0, 0], [W - 1, 0], [W - 1, H - 1], [0, H - 1]], np.float32)
        crop = cv2.warpPerspective(canvas, cv2.getPerspectiveTransform(q, dst), (W, H),
                                   borderMode=cv2.BORDER_REPLICATE)
    else:  # an axis-aligned box around it
        x0, y0 = quad.min(0)
        x1, y1 = quad.max(0)
        bw, bh = x1 - x0, y1 - y0
        x0 += rng.uniform(-0.08, 0.06) * bw
        x1 += rng.uniform(-0.06, 0.08) * bw
        y0 += rng.uniform(-0.1, 0.08) * bh
        y1 += rng.uniform(-0.08, 0.1) * bh
        x0, y0 = max(0, int(x0)), max(0, int(y0))
        x1, y1 = min(cw, int(np.ceil(x1))), min(ch, int(np.ceil(y1)))
        crop = canvas[y0:max(y0 + 2, y1), x0:max(x0 + 2, x1)]
        crop = cv2.resize(crop, (W, H), interpolation=cv2.INTER_AREA if crop.shape[1] > W else cv2.INTER_LINEAR)
    return crop, text


def to_tensor_batch(crops: list[np.ndarray]) -> np.ndarray:
    x = np.stack(crops).astype(np.float32) / 127.5 - 1.0
    return x.transpose(0, 3, 1, 2)


def main() -> None:
    global W
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True, type=Path)
    ap.add_argument("--atlas", type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--minutes", type=float, default=6.0, help="stop training after this long")
    ap.add_argument("--workers", type=int, default=14)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lr-body", type=float, default=5e-5, help="backbone: small, keeps what PP-OCR knew")
    ap.add_argument("--lr-head", type=float, default=5e-4)
    ap.add_argument("--init", type=Path, default=None, help="start from this state dict (a previous run's .pt)")
    ap.add_argument("--snapshot-s", type=float, default=0, help="also save the weights this often")
    ap.add_argument("--val", type=int, default=2000, help="held-out synthetic crops to score at the end")
    ap.add_argument("--width", type=int, default=W, help="crop width the model is trained and exported at")
    ap.add_argument("--runtime-cuts", type=float, default=0.0,
                    help="share of crops cut the way the unit cuts them (runtime_cut_sample); 0 for stages 1-3")
    args = ap.parse_args()
    W = args.width
    args.out.mkdir(parents=True, exist_ok=True)

    # onnx2torch imports torchvision for two ops this model lacks; a stub keeps a mismatched or
    # absent torchvision from mattering.
    tv = types.ModuleType("torchvision")
    tv.ops = types.ModuleType("torchvision.ops")
    tv.ops.roi_align = tv.ops.nms = None
    sys.modules.setdefault("torchvision", tv)
    sys.modules.setdefault("torchvision.ops", tv.ops)
    import onnx
    import onnx2torch
    import torch

    if args.atlas and args.atlas.exists():
        print("atlas fonts:", load_glyph_atlas(args.atlas), flush=True)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    net = onnx2torch.convert(onnx.load(str(args.base))).to(device).eval()  # BN frozen
    if args.init:  # continue from an earlier fine-tune's weights
        net.load_state_dict(torch.load(args.init, map_location=device))

    class Data(torch.utils.data.IterableDataset):
        def __iter__(self):
            info = torch.utils.data.get_worker_info()
            wid = info.id if info else 0
            if args.atlas and args.atlas.exists():
                load_glyph_atlas(args.atlas)
            rng = np.random.default_rng(args.seed * 1000 + wid + int(time.time()) % 1000)
            while True:
                crops, labels = zip(*(sample(rng, args.runtime_cuts) for _ in range(args.batch)))
                yield torch.from_numpy(to_tensor_batch(list(crops))), list(labels)

    extra = {"prefetch_factor": 4, "persistent_workers": True} if args.workers else {}
    loader = torch.utils.data.DataLoader(Data(), batch_size=None, num_workers=args.workers, **extra)
    head = [p for n, p in net.named_parameters() if "linear_8" in n.replace(".", "_") or "linear" in n]
    head_ids = {id(p) for p in head}
    body = [p for p in net.parameters() if id(p) not in head_ids]
    opt = torch.optim.AdamW([{"params": body, "lr": args.lr_body}, {"params": head, "lr": args.lr_head}],
                            weight_decay=1e-4)
    base_lrs = [args.lr_body, args.lr_head]

    def set_lr(frac: float) -> None:  # warm-up then cosine, over whichever budget (steps, time) ends first
        f = frac / 0.05 if frac < 0.05 else 0.5 * (1 + np.cos(np.pi * min(1.0, (frac - 0.05) / 0.95)))
        for group, lr in zip(opt.param_groups, base_lrs):
            group["lr"] = lr * max(f, 0.02)
    ctc = torch.nn.CTCLoss(blank=0, zero_infinity=True)
    t0 = last_snap = time.time()
    step = 0
    log = []
    for x, labels in loader:
        x = x.to(device, non_blocking=True)
        logits = net(x)  # (B, T, 37) pre-softmax
        logp = logits.log_softmax(-1).permute(1, 0, 2)
        targets = torch.tensor([ALPHABET.index(c) + 1 for s in labels for c in s], dtype=torch.long)
        tl = torch.tensor([len(s) for s in labels], dtype=torch.long)
        il = torch.full((x.shape[0],), logp.shape[0], dtype=torch.long)
        loss = ctc(logp, targets, il, tl)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        set_lr(max(step / args.steps, (time.time() - t0) / (args.minutes * 60)))
        opt.step()
        step += 1
        if step % 100 == 0:
            pred = logits.argmax(-1).cpu().numpy()
            acc = np.mean([_greedy(p) == s for p, s in zip(pred, labels)])
            rec = {"step": step, "loss": round(float(loss), 4), "batch_acc": float(acc), "s": round(time.time() - t0, 1)}
            log.append(rec)
            print(json.dumps(rec), flush=True)
        if args.snapshot_s and time.time() - last_snap > args.snapshot_s:
            last_snap = time.time()
            torch.save(net.state_dict(), args.out / f"plate_ocr_ft_step{step}.pt")
        if step >= args.steps or time.time() - t0 > args.minutes * 60:
            break
    torch.save(net.state_dict(), args.out / "plate_ocr_ft.pt")
    # held-out synthetic check
    rng = np.random.default_rng(12345)
    val = [sample(rng) for _ in range(args.val)]
    correct = 0
    with torch.no_grad():
        for i in range(0, len(val), 250):  # noqa: B007
            xb = torch.from_numpy(to_tensor_batch([c for c, _ in val[i:i + 250]])).to(device)
            pred = net(xb).argmax(-1).cpu().numpy()
            correct += sum(_greedy(p) == s for p, (_, s) in zip(pred, val[i:i + 250]))
    summary = {"steps": step, "minutes": round((time.time() - t0) / 60, 2), "synthetic_val_acc": correct / len(val)}
    print(json.dumps(summary), flush=True)
    (args.out / "train_log.json").write_text(json.dumps({"log": log, "summary": summary}, indent=1))

    class WithSoftmax(torch.nn.Module):
        def __init__(self, body):
            super().__init__()
            self.body = body

        def forward(self, x):
            return torch.softmax(self.body(x), dim=-1)

    export = WithSoftmax(net.cpu().eval())
    try:
        torch.onnx.export(export, torch.zeros(1, 3, H, W), str(args.out / "plate_ocr_ft.onnx"),
                          input_names=["x"], output_names=["probs"], opset_version=17, dynamo=False)
        print("exported onnx", flush=True)
    except Exception as exc:  # the state dict is enough: export_onnx.py redoes this on a CPU
        print("onnx export failed:", exc, flush=True)


def _greedy(seq) -> str:
    out, prev = [], 0
    for k in seq:
        if k != prev and k != 0:
            out.append(ALPHABET[k - 1])
        prev = k
    return "".join(out)


if __name__ == "__main__":
    main()
