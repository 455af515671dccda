"""The fp32 rounding error of 2-D Winograd F(m x m, 3x3) for the tile the CPU engine uses, F(6x6), and
for candidate F(8x8) point sets, on one convolution of C channels: each output of a tile computed in
float32 (transforms, products, channel sum, inverse transform) against the float64 direct form.
Inputs are uniform in [0, 1] (activations after a LeakyReLU), weights normal with sigma 0.15 (the
scale of the published model's). The transform matrices come from exact rational arithmetic
(Toom-Cook: points 0, the finite points given, and infinity).

Usage: python3 bench/winograd_error.py [TRIALS]   (numpy; writes bench/results/winograd-error.json)
"""
import json
import os
import sys
from fractions import Fraction

import numpy as np

KERNEL = 3


def poly_times_linear(poly, root):
    """Coefficients (lowest first) of poly(x) * (x - root)."""
    out = [Fraction(0)] * (len(poly) + 1)
    for i, c in enumerate(poly):
        out[i] -= c * root
        out[i + 1] += c
    return out


def transforms(finite_points, outputs):
    """A^T (outputs x n), G (n x 3) and B^T (n x n) of F(outputs, 3) with the points and infinity."""
    f = [Fraction(p) for p in finite_points]
    n = outputs + KERNEL - 1
    assert len(f) == n - 1, 'F(m, 3) needs m + 1 finite points'
    a_t = [[p ** i for p in f] + [Fraction(1 if i == outputs - 1 else 0)] for i in range(outputs)]
    g = []
    b_t = []
    for j, p in enumerate(f):
        others = [q for k, q in enumerate(f) if k != j]
        denominator = Fraction(1)
        poly = [Fraction(1)]
        for q in others:
            denominator *= p - q
            poly = poly_times_linear(poly, q)
        g.append([p ** k / denominator for k in range(KERNEL)])
        b_t.append(poly + [Fraction(0)] * (n - len(poly)))
    g.append([Fraction(0)] * (KERNEL - 1) + [Fraction(1)])
    full = [Fraction(1)]
    for q in f:
        full = poly_times_linear(full, q)
    b_t.append(full[:n])
    as_array = lambda m: np.array([[float(x) for x in row] for row in m])
    return as_array(a_t), as_array(g), as_array(b_t)


def check_exact(a_t, g, b_t, outputs):
    """The transforms reproduce a 1-D correlation in float64 (to rounding), or the construction is wrong."""
    rng = np.random.default_rng(0)
    d = rng.standard_normal(b_t.shape[0])
    w = rng.standard_normal(KERNEL)
    reference = np.array([d[i:i + KERNEL] @ w for i in range(outputs)])
    assert np.abs(a_t @ ((g @ w) * (b_t @ d)) - reference).max() < 1e-9, 'transforms do not compute F(m, 3)'


def direct_tile(d, w, outputs):
    out = np.zeros((outputs, outputs))
    for ky in range(KERNEL):
        for kx in range(KERNEL):
            out += np.einsum('cij,c->ij', d[:, ky:ky + outputs, kx:kx + outputs], w[:, ky, kx])
    return out


def winograd_tile_f32(d, w, a_t, g, b_t):
    a_t, g, b_t = (m.astype(np.float32) for m in (a_t, g, b_t))
    acc = np.zeros((b_t.shape[0], b_t.shape[0]), np.float32)
    for c in range(d.shape[0]):
        u = g @ w[c].astype(np.float32) @ g.T
        v = b_t @ d[c].astype(np.float32) @ b_t.T
        acc += u * v
    return a_t @ acc @ a_t.T


def tile_error(finite_points, outputs, channels, trials, seed=1):
    a_t, g, b_t = transforms(finite_points, outputs)
    check_exact(a_t, g, b_t, outputs)
    rng = np.random.default_rng(seed)
    n = outputs + KERNEL - 1
    worst = []
    for _ in range(trials):
        d = rng.uniform(0.0, 1.0, (channels, n, n))
        w = rng.normal(0.0, 0.15, (channels, KERNEL, KERNEL))
        worst.append(float(np.abs(winograd_tile_f32(d, w, a_t, g, b_t) - direct_tile(d, w, outputs)).max()))
    return {'meanOfTileMax': float(np.mean(worst)), 'max': float(np.max(worst))}


CANDIDATES = {
    'F(6x6) 0, +-1, +-2, +-1/2 (the engine)': ([0, 1, -1, 2, -2, Fraction(1, 2), Fraction(-1, 2)], 6),
    'F(8x8) 0, +-1, +-2, +-1/2, +-2/3': ([0, 1, -1, 2, -2, Fraction(1, 2), Fraction(-1, 2), Fraction(2, 3), Fraction(-2, 3)], 8),
    'F(8x8) 0, +-1, +-2, +-1/2, +-3/2': ([0, 1, -1, 2, -2, Fraction(1, 2), Fraction(-1, 2), Fraction(3, 2), Fraction(-3, 2)], 8),
    'F(8x8) 0, +-1, +-2, +-1/2, +-3': ([0, 1, -1, 2, -2, Fraction(1, 2), Fraction(-1, 2), 3, -3], 8),
    'F(8x8) 0, +-1, +-2, +-1/2, +-4': ([0, 1, -1, 2, -2, Fraction(1, 2), Fraction(-1, 2), 4, -4], 8),
    'F(8x8) 0, +-1, +-2, +-1/2, +-1/4': ([0, 1, -1, 2, -2, Fraction(1, 2), Fraction(-1, 2), Fraction(1, 4), Fraction(-1, 4)], 8),
}


def main():
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    rows = []
    for name, (points, outputs) in CANDIDATES.items():
        for channels in (16, 32):
            e = tile_error(points, outputs, channels, trials)
            rows.append({'tile': name, 'channels': channels, **e})
            print(f"{name:42s} C={channels:2d}  max error per tile: mean {e['meanOfTileMax']:.2e}, worst {e['max']:.2e}")
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'results', 'winograd-error.json')
    with open(out, 'w') as fh:
        json.dump({'benchmark': __doc__.strip().split('\n')[0], 'trials': trials, 'results': rows}, fh, indent=2)
        fh.write('\n')
    print(f'wrote {os.path.relpath(out)}')


if __name__ == '__main__':
    main()
