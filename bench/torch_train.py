#!/usr/bin/env python3
"""One FLW-Net training step in PyTorch on the CPU, written from docs/numerics.md §2-8, as the
reference point for flwnet's native trainer (`npm run bench:train`).

  python3 bench/torch_train.py --batch 16 --size 100 --threads 2 --steps 10 [--seed 1]

A timed step covers what TrainerCore.step does: the 15 features of each low crop and the exposure
of its reference, forward through the network (bench/torch_flwnet.py's FLWNet), the five losses of
section 7 on the batch (L1, SSIM with an 11x11 Gaussian window, colour, brightness and structure
consistency with per-image per-channel cosines and detached channel minima), backward, and an
Adam update with the authors' settings (lr 1e-4, weight decay 1e-4 added to the gradient).
Inputs are uint8 batches already in memory. Prints one JSON object: wall and CPU seconds per step.
"""
import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from torch_flwnet import FLWNet, HIST_BINS  # noqa: E402

EPS = 1e-5


def features(low_u8, exposure):
    """Section 1's 15 features per image (bins of V over [vmin, vmax]), N x 15 x 1 x 1."""
    v = low_u8.max(1).values.flatten(1).to(torch.float64) / 255.0
    vmin, vmax = v.min(1, keepdim=True).values, v.max(1, keepdim=True).values
    flat = vmax == vmin
    lo = torch.where(flat, vmin - 0.5, vmin)
    hi = torch.where(flat, vmax + 0.5, vmax)
    bins = ((v - lo) / (hi - lo) * HIST_BINS).floor().clamp(0, HIST_BINS - 1).long()
    counts = torch.zeros(v.shape[0], HIST_BINS, dtype=torch.float64).scatter_add_(1, bins, torch.ones_like(v))
    f = torch.cat([counts / v.shape[1], vmin, vmax, exposure[:, None]], 1)
    return f.to(torch.float32)[:, :, None, None]


def gaussian_window(channels):
    g = torch.exp(-((torch.arange(11, dtype=torch.float64) - 5) ** 2) / (2 * 1.5**2))
    g = g / g.sum()
    w = (g[:, None] * g[None, :]).to(torch.float32)
    return w.expand(channels, 1, 11, 11).contiguous()


def ssim_loss(e, y, window):
    blur = lambda t: F.conv2d(t, window, padding=5, groups=3)  # noqa: E731
    mu1, mu2 = blur(e), blur(y)
    s11 = blur(e * e) - mu1 * mu1
    s22 = blur(y * y) - mu2 * mu2
    s12 = blur(e * y) - mu1 * mu2
    c1, c2 = 0.01**2, 0.03**2
    m = ((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1 * mu1 + mu2 * mu2 + c1) * (s11 + s22 + c2))
    return 1 - m.mean()


def color_loss(e, y):
    c = (e * y).mean(1) / (torch.sqrt((e * e).mean(1)) * torch.sqrt((y * y).mean(1)) + EPS)
    return (1 - c).mean() + torch.acos(c.clamp(-1, 1)).mean()


def consistency(a, b):
    """C(A, B) of section 7 with section 8's batch semantics; a, b: N x K x H x W."""
    a = a - a.detach().flatten(2).min(2).values.abs()[:, :, None, None]
    b = b - b.flatten(2).min(2).values.abs()[:, :, None, None]
    p = (a * b).flatten(2).mean(2)
    na = torch.sqrt((a * a).flatten(2).mean(2))
    nb = torch.sqrt((b * b).flatten(2).mean(2))
    ck = p / (na * nb + EPS)
    l1 = (1 - ck).mean() + torch.acos(ck.clamp(-1, 1)).mean()
    c = p.mean(1) / (torch.sqrt((na * na).mean(1)) * torch.sqrt((nb * nb).mean(1)) + EPS)
    return l1 + ((1 - c) + torch.acos(c.clamp(-1, 1))).mean()


def differences(t):
    right = F.pad(t[:, :, :, 1:], (0, 1, 0, 0))
    below = F.pad(t[:, :, 1:, :], (0, 0, 0, 1))
    return torch.cat([(t - right).abs(), (t - below).abs()], 1)


def total_loss(e, y, window):
    l1 = (e - y).abs().mean()
    return l1 + ssim_loss(e, y, window) + color_loss(e, y) + consistency(e, y) + consistency(differences(e), differences(y))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model = FLWNet()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-4)
    window = gaussian_window(3)
    n, s = args.batch, args.size
    low = torch.randint(0, 90, (n, 3, s, s), dtype=torch.uint8)
    high = torch.randint(0, 256, (n, 3, s, s), dtype=torch.uint8)

    def step():
        y = high.to(torch.float32) / 255
        exposure = (high.max(1).values.flatten(1).to(torch.float64) / 255).mean(1)
        x = low.to(torch.float32) / 255
        e = model(x, features(low, exposure))
        loss = total_loss(e, y, window)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.item()

    for _ in range(args.warmup):
        step()
    seconds, cpu_seconds = [], []
    for _ in range(args.steps):
        start, cpu_start = time.perf_counter(), time.process_time()
        loss = step()
        seconds.append(time.perf_counter() - start)
        cpu_seconds.append(time.process_time() - cpu_start)
        if not math.isfinite(loss):
            raise SystemExit("the PyTorch loss is not finite")
    print(json.dumps({
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "batch": n,
        "size": s,
        "seconds": seconds,
        "median": statistics.median(seconds),
        "cpu_seconds": cpu_seconds,
        "loss": loss,
    }))


if __name__ == "__main__":
    main()
