#!/usr/bin/env python3
"""FLW-Net in PyTorch, written from docs/numerics.md, as the reference point for flwnet's GPU benchmarks.

The layers and their wiring are read from bench/network_graph.json, the engine's own graph
(native/core/network_graph.h) exported by scripts/export-graph.mjs, so the twin cannot drift from it.

Checks the golden fixtures whose sizes are multiples of 20 (where F.interpolate's coarse brightness
is exactly the published model's), then times eager inference per size, batch and dtype:

  python3 bench/torch_flwnet.py --weights W [--check-fixtures DIR] \
      --sizes 640x480,1920x1080,3840x2160 --batches 1,16 --dtypes fp32,fp16 --json OUT

W is the published checkpoint (.pth, read with torch.load(weights_only=True)) or the 17,373
parameters packed as float32 little-endian in the engine's order. "fp32" runs with TF32 disabled;
"fp32-tf32" (PyTorch's default convolution setting) is always reported next to it.

A timed run covers the whole pipeline from a uint8 N x 3 x H x W batch already on the GPU to the
enhanced float image on the GPU: the features (docs/numerics.md §2, the 256-level histogram rule), the GFE, the curve,
the coarse brightness and the local branch.
"""
import argparse
import copy
import json
import math
import statistics
import sys
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

GRAPH = json.loads((Path(__file__).resolve().parent / "network_graph.json").read_text())
CONV_SPECS = [(layer["cin"], layer["cout"], layer["dilation"]) for layer in GRAPH["local"]]
DENSE_SPECS = [(layer["cin"], layer["cout"]) for layer in GRAPH["global"]]
PARAM_COUNT = sum(cout * cin * 9 + cout for cin, cout, _ in CONV_SPECS) + sum(cout * cin + cout for cin, cout in DENSE_SPECS)
LEAKY_SLOPE = 0.01
COARSE_SCALE = 20
HIST_BINS = 12
LEVELS = 256


class ConvBlock(nn.Module):
    def __init__(self, cin, cout, dilation):
        super().__init__()
        self.depth_conv = nn.Conv2d(cin, cout, 3, padding=dilation, dilation=dilation)


class PointBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.point_conv = nn.Conv2d(cin, cout, 1)


class FLWNet(nn.Module):
    """docs/numerics.md §3-§6 given the 15 features, wired by GRAPH; state-dict keys match the published model."""

    def __init__(self):
        super().__init__()
        for layer in GRAPH["local"]:
            setattr(self, layer["name"], ConvBlock(layer["cin"], layer["cout"], layer["dilation"]))
        for layer in GRAPH["global"]:
            setattr(self, layer["name"], PointBlock(layer["cin"], layer["cout"]))

    @staticmethod
    def activate(name, t):
        if name == "leakyRelu":
            return F.leaky_relu(t, LEAKY_SLOPE)
        if name == "softplus":
            return F.softplus(t, beta=1, threshold=20)
        return t

    def curve(self, features):
        g = None
        for layer in GRAPH["global"]:
            source = {"features": features, "previous": g}.get(layer["input"])
            if layer["input"] == "previousThenFeatures":
                source = torch.cat([g, features], 1)
            g = self.activate(layer["activation"], getattr(self, layer["name"]).point_conv(source))
        return g

    def forward(self, x, features):
        """x: N x 3 x H x W in [0, 1]; features: N x 15 x 1 x 1. Returns N x 3 x H x W."""
        a = self.curve(features)
        v = x.max(1, keepdim=True).values
        r = v
        for i in range(a.shape[1]):
            r = r + a[:, i : i + 1] * (r - r * r)
        h, w = x.shape[2], x.shape[3]
        coarse = (max(1, h // COARSE_SCALE), max(1, w // COARSE_SCALE))
        vc = F.interpolate(F.interpolate(v, size=coarse, mode="bilinear", align_corners=False),
                           size=(h, w), mode="bilinear", align_corners=False)
        tensors = {"imageMinusHalfCoarse": x - vc / 2, "halfCoarse": vc / 2, "image": x, "retouched": r}
        for layer in GRAPH["local"]:
            inputs = [tensors[name] for name in layer["inputs"]]
            source = inputs[0] if len(inputs) == 1 else torch.cat(inputs, 1)
            out = getattr(self, layer["name"]).depth_conv(source)
            tensors[layer["output"]] = self.activate(layer["activation"], out)
        return tensors[GRAPH["local"][-1]["output"]][:, : GRAPH["enhancedChannels"]]


def packed_state_dict(flat):
    """The packed order: e_conv1.weight, e_conv1.bias, ..., e_conv7.bias, g_conv1.weight, ..., g_conv5.bias."""
    if flat.numel() != PARAM_COUNT:
        raise ValueError(f"packed weights must hold {PARAM_COUNT} float32 values, got {flat.numel()}")
    state, offset = {}, 0
    shapes = [(f"{l['name']}.depth_conv", (l["cout"], l["cin"], 3, 3)) for l in GRAPH["local"]]
    shapes += [(f"{l['name']}.point_conv", (l["cout"], l["cin"], 1, 1)) for l in GRAPH["global"]]
    for name, shape in shapes:
        count = math.prod(shape)
        state[f"{name}.weight"] = flat[offset : offset + count].reshape(shape).clone()
        offset += count
        state[f"{name}.bias"] = flat[offset : offset + shape[0]].clone()
        offset += shape[0]
    return state


def load_model(path):
    path = Path(path)
    if path.suffix == ".pth":
        state = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
            state = state["state_dict"]
        state = {k[len("module."):] if k.startswith("module.") else k: v.float() for k, v in state.items()}
    else:
        data = path.read_bytes()
        flat = torch.frombuffer(bytearray(data), dtype=torch.float32)
        state = packed_state_dict(flat)
    model = FLWNet()
    model.load_state_dict(state, strict=True)
    return model.eval()


def reference_level_bins(vmin_level, vmax_level):
    """docs/numerics.md §2 in plain Python floats (IEEE double): the bin of each of the 256 levels."""
    lo, hi = vmin_level / 255.0, vmax_level / 255.0
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    step = (hi - lo) / HIST_BINS
    edges = [(i * step) + lo for i in range(HIST_BINS)] + [hi]
    bins = []
    for level in range(LEVELS):
        v = level / 255.0
        if v < lo or v > hi:
            bins.append(-1)
        elif v == hi:
            bins.append(HIST_BINS - 1)
        else:
            bins.append(max(i for i in range(HIST_BINS) if edges[i] <= v))
    return bins


def reference_features(counts, exposure):
    """The 15 features from one image's 256 level counts, in plain Python floats."""
    present = [level for level in range(LEVELS) if counts[level] > 0]
    vmin_level, vmax_level = present[0], present[-1]
    bins = reference_level_bins(vmin_level, vmax_level)
    hist = [0] * HIST_BINS
    for level in present:
        hist[bins[level]] += counts[level]
    total = sum(counts)
    return [h / total for h in hist] + [vmin_level / 255.0, vmax_level / 255.0, exposure]


def level_counts(images_u8):
    """N x 256 counts of V = max(R, G, B) per image, from an N x 3 x H x W uint8 tensor."""
    n = images_u8.shape[0]
    levels = images_u8.max(1).values.reshape(n, -1).long()
    offsets = torch.arange(n, device=levels.device).unsqueeze(1) * LEVELS
    return torch.bincount((levels + offsets).reshape(-1), minlength=n * LEVELS).reshape(n, LEVELS)


def spec_features(counts, exposure):
    """docs/numerics.md §2, vectorised on the device in float64: N x 256 counts -> N x 15 features.

    Every edge is (i * step) + vmin with separate multiply and add kernels, so each rounds like
    the reference; a level's bin is the number of edges e[1..11] at or below it."""
    dev = counts.device
    present = counts > 0
    index = torch.arange(LEVELS, device=dev)
    vmin_level = torch.where(present, index, LEVELS).min(1).values
    vmax_level = torch.where(present, index, -1).max(1).values
    lo = vmin_level.double() / 255.0
    hi = vmax_level.double() / 255.0
    flat = lo == hi
    lo_range = torch.where(flat, lo - 0.5, lo)
    hi_range = torch.where(flat, hi + 0.5, hi)
    step = (hi_range - lo_range) / HIST_BINS
    edges = torch.arange(HIST_BINS, device=dev, dtype=torch.float64).unsqueeze(0) * step.unsqueeze(1)
    edges = edges + lo_range.unsqueeze(1)
    v = index.double() / 255.0
    bins = (edges[:, 1:].unsqueeze(1) <= v.view(1, LEVELS, 1)).sum(2)  # N x 256
    one_hot = F.one_hot(bins, HIST_BINS).double()                        # N x 256 x 12
    hist = torch.einsum("nl,nlb->nb", counts.double(), one_hot) / counts.sum(1, keepdim=True).double()
    extra = torch.stack([lo, hi, exposure.double()], 1)
    return torch.cat([hist, extra], 1)


def enhance(model, images_u8, exposure, dtype):
    """The timed pipeline: uint8 N x 3 x H x W on the device -> enhanced N x 3 x H x W."""
    features = spec_features(level_counts(images_u8), exposure).to(dtype).view(-1, 15, 1, 1)
    x = images_u8.to(dtype) / 255.0
    return model(x, features)


DTYPES = {"fp32": torch.float32, "fp32-tf32": torch.float32, "fp16": torch.float16}


def configure_precision(name):
    tf32 = name == "fp32-tf32"
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32


def read_fixture(case_dir, device):
    meta = json.loads((case_dir / "case.json").read_text())
    h, w = meta["height"], meta["width"]
    raw = torch.frombuffer(bytearray((case_dir / "input.u8").read_bytes()), dtype=torch.uint8)
    image = raw.reshape(h, w, 3).permute(2, 0, 1).unsqueeze(0).contiguous().to(device)
    expected = torch.frombuffer(bytearray((case_dir / "expected.f32").read_bytes()), dtype=torch.float32)
    return meta, image, expected.reshape(h, w, 3).permute(2, 0, 1).unsqueeze(0).to(device)


def models_by_dtype(model):
    """An fp16 copy next to the fp32 model (converting one model back and forth would round its weights)."""
    return {torch.float32: model, torch.float16: copy.deepcopy(model).half()}


def check_fixtures(models, root, dtypes, device):
    """Max |error| per fixture of multiple-of-20 size, plus the features against case.json."""
    report = []
    for case_dir in sorted(Path(root).iterdir()):
        if not (case_dir / "case.json").exists():
            continue
        meta, image, expected = read_fixture(case_dir, device)
        if meta["height"] % COARSE_SCALE or meta["width"] % COARSE_SCALE:
            continue
        exposure = torch.tensor([meta["exposure"]], dtype=torch.float64, device=device)
        counts = level_counts(image)
        features = spec_features(counts, exposure)[0].tolist()
        reference = reference_features(counts[0].tolist(), meta["exposure"])
        entry = {"case": case_dir.name, "features_max_err": max(abs(a - b) for a, b in zip(features, meta["features"])),
                 "features_match_reference": features == reference}
        for name in dtypes:
            configure_precision(name)
            with torch.inference_mode():
                out = enhance(models[DTYPES[name]], image, exposure, DTYPES[name]).float()
            err = (out - expected).abs().max().item()
            mse = ((out - expected) ** 2).mean().item()
            entry[name] = {"max_err": err, "psnr_db": 10 * math.log10(1 / mse) if mse > 0 else float("inf")}
        report.append(entry)
        print(f"fixture {case_dir.name}: features max err {entry['features_max_err']:.3g}"
              f" (reference rule {'matches' if entry['features_match_reference'] else 'DIFFERS'}); "
              + ", ".join(f"{n} max err {entry[n]['max_err']:.3g} / {entry[n]['psnr_db']:.1f} dB" for n in dtypes))
    return report


def time_config(models, size, batch, name, runs, device):
    w, h = size
    configure_precision(name)
    dtype = DTYPES[name]
    net = models[dtype]
    generator = torch.Generator(device=device).manual_seed(1234)
    images = torch.randint(0, 256, (batch, 3, h, w), dtype=torch.uint8, device=device, generator=generator)
    exposure = torch.full((batch,), 0.4, dtype=torch.float64, device=device)
    times = []
    with torch.inference_mode():
        for _ in range(3):
            enhance(net, images, exposure, dtype)
        torch.cuda.synchronize()
        for _ in range(runs):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            enhance(net, images, exposure, dtype)
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
    median_ms = statistics.median(times)
    return {"width": w, "height": h, "batch": batch, "dtype": name, "runs": runs, "median_ms": median_ms,
            "min_ms": min(times), "images_per_s": batch * 1000.0 / median_ms,
            "mpix_per_s": batch * w * h / 1e6 * 1000.0 / median_ms}


def run_benchmarks(models, sizes, batches, dtypes, runs, device):
    results = []
    for size in sizes:
        for batch in batches:
            for name in dtypes:
                try:
                    entry = time_config(models, size, batch, name, runs, device)
                    print(f"{size[0]}x{size[1]} batch {batch:>2} {name:<9} {entry['median_ms']:9.3f} ms"
                          f"  {entry['images_per_s']:9.1f} images/s  {entry['mpix_per_s']:9.1f} MPix/s")
                except torch.cuda.OutOfMemoryError:
                    entry = {"width": size[0], "height": size[1], "batch": batch, "dtype": name, "error": "out of memory"}
                    print(f"{size[0]}x{size[1]} batch {batch:>2} {name:<9} out of memory")
                results.append(entry)
                torch.cuda.empty_cache()
    return results


def parse_sizes(text):
    sizes = []
    for item in text.split(","):
        w, h = item.lower().split("x")
        sizes.append((int(w), int(h)))
    return sizes


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", required=True, help="published .pth checkpoint or packed float32 weights")
    p.add_argument("--check-fixtures", metavar="DIR", help="fixtures/enhance folder to check against")
    p.add_argument("--sizes", default="640x480,1920x1080,3840x2160")
    p.add_argument("--batches", default="1,16")
    p.add_argument("--dtypes", default="fp32,fp16", help="fp32 (TF32 off) and/or fp16; fp32-tf32 is added with fp32")
    p.add_argument("--runs", type=int, default=20, help="timed runs per configuration (median reported, >= 20)")
    p.add_argument("--cudnn-benchmark", action="store_true", help="let PyTorch autotune cuDNN algorithms")
    p.add_argument("--json", help="write the results here")
    return p.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    if not torch.cuda.is_available():
        print("torch_flwnet: no CUDA device available", file=sys.stderr)
        return 2
    device = torch.device("cuda")
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
    unknown = [d for d in dtypes if d not in DTYPES]
    if unknown:
        print(f"torch_flwnet: unknown dtype(s) {unknown}; use fp32, fp32-tf32, fp16", file=sys.stderr)
        return 2
    if "fp32" in dtypes and "fp32-tf32" not in dtypes:
        dtypes.insert(dtypes.index("fp32") + 1, "fp32-tf32")
    models = models_by_dtype(load_model(args.weights).to(device))
    report = {"torch": torch.__version__, "cudnn": torch.backends.cudnn.version(),
              "device": torch.cuda.get_device_name(device), "cudnn_benchmark": args.cudnn_benchmark}
    print(f"torch {report['torch']}, cuDNN {report['cudnn']}, {report['device']}")
    if args.check_fixtures:
        report["fixtures"] = check_fixtures(models, args.check_fixtures, dtypes, device)
    report["timings"] = run_benchmarks(models, parse_sizes(args.sizes), [int(b) for b in args.batches.split(",")],
                                       dtypes, max(20, args.runs), device)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
