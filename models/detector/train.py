"""Train PlateNet on synthetic scenes, then export ONNX. Runs on a CUDA machine or (slowly) on CPU.

    python models/detector/train.py --out build/detector --seconds 400 --workers 15

Writes OUT/platenet.pt (state dict) and OUT/platenet.onnx (input 1x3x384x512 float BGR 0..255,
output 1x9x96x128). models/detector/export_tflite.py turns the ONNX into the .tflite files.
"""

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent.parent))
from data import sample, sample_small  # noqa: E402
from net import PlateNet, export_onnx  # noqa: E402


class Synth(torch.utils.data.IterableDataset):
    def __init__(self, seed, stage3_hw=None):
        self.seed = seed
        self.stage3_hw = stage3_hw

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        wid = info.id if info else 0
        rng = np.random.default_rng([self.seed, wid, os.getpid()])
        while True:
            if self.stage3_hw:
                img, score, weight, geo, norm = sample_small(rng, self.stage3_hw)
            else:
                img, score, weight, geo, norm = sample(rng)
            yield (torch.from_numpy(img).permute(2, 0, 1), torch.from_numpy(score), torch.from_numpy(weight),
                   torch.from_numpy(geo), torch.from_numpy(norm))


def losses(out, score, weight, geo, norm):
    logit = out[:, 0]
    bce = F.binary_cross_entropy_with_logits(logit, score, reduction="none") * weight
    pos = score * weight
    neg = (1 - score) * weight
    n_pos = pos.sum().clamp(min=1)
    # balanced BCE with hard negatives (3x positives) plus dice
    neg_loss = (bce * neg).flatten()
    k = int(min(neg_loss.numel(), max(3 * n_pos.item(), 1000)))
    hard = torch.topk(neg_loss, k).values.sum() / k
    l_score = (bce * pos).sum() / n_pos + hard
    p = torch.sigmoid(logit) * weight
    dice = 1 - 2 * (p * score).sum() / (p.sum() + score.sum() + 1)
    l_geo = ((out[:, 1:] - geo).abs() / norm[:, None]).sum(1)
    l_geo = (l_geo * pos).sum() / n_pos / 8
    return l_score + dice + l_geo, (l_score.item(), dice.item(), l_geo.item())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("build/detector"))
    ap.add_argument("--seconds", type=float, default=400)
    ap.add_argument("--max-steps", type=int, default=10**9)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--init", type=Path, help="start from these weights (fine-tune) instead of scratch")
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--small", type=int, nargs=2, metavar=("H", "W"),
                    help="stage 3: H x W crops of small/dim plates rendered at 2x (data.sample_small)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    ap.add_argument("--freeze-bn", action="store_true", help="keep BatchNorm statistics (small CPU batches)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    model = PlateNet()
    if args.init is not None:
        model.load_state_dict(torch.load(args.init, map_location="cpu"))
    model = model.to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    if args.threads:
        torch.set_num_threads(args.threads)
    dl = torch.utils.data.DataLoader(Synth(args.seed, tuple(args.small) if args.small else None), batch_size=args.batch, num_workers=args.workers,
                                     pin_memory=dev == "cuda", prefetch_factor=4 if args.workers else None,
                                     persistent_workers=bool(args.workers))
    t0 = time.time()
    step, log = 0, []
    model.train()
    if args.freeze_bn:
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.eval()
    for img, score, weight, geo, norm in dl:
        elapsed = time.time() - t0
        if elapsed > args.seconds or step >= args.max_steps:
            break
        frac = min(1.0, elapsed / args.seconds)
        lr = args.lr * (min(1.0, step / max(1, args.warmup)) * 0.5 * (1 + math.cos(math.pi * frac)) + 0.01)
        for g in opt.param_groups:
            g["lr"] = lr
        img, score, weight, geo, norm = (t.to(dev, non_blocking=True) for t in (img, score, weight, geo, norm))
        with torch.autocast(dev, dtype=torch.bfloat16, enabled=dev == "cuda"):
            out = model(img.float())
        loss, parts = losses(out.float(), score, weight, geo, norm)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 100 == 0:
            rec = {"step": step, "t": round(elapsed, 1), "lr": round(lr, 5), "loss": round(loss.item(), 4),
                   "score": round(parts[0], 4), "dice": round(parts[1], 4), "geo": round(parts[2], 4)}
            log.append(rec)
            print(json.dumps(rec), flush=True)
        step += 1
    model.eval().cpu()
    torch.save(model.state_dict(), args.out / "platenet.pt")
    (args.out / "train_log.json").write_text(json.dumps({"steps": step, "samples": step * args.batch,
                                                          "seconds": time.time() - t0, "log": log}))
    export_onnx(model, args.out / "platenet.onnx")
    print(json.dumps({"done": True, "steps": step, "out": str(args.out)}), flush=True)


if __name__ == "__main__":
    main()
