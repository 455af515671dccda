// CIEDE2000: the 34 published test pairs of Sharma, Wu and Dalal (2005), and the image metric
// against an independent transcription of sRGB -> CIELAB -> CIEDE2000 with the JS Math library.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import * as flwnet from 'flwnet';
import { sharedDir, sharedTest } from './helpers/shared.mjs';

const { ciede2000Lab, evaluate, InvalidInputError } = flwnet;

function sharmaPairs() {
  const file = path.join(sharedDir, 'fixtures', 'ciede2000', 'sharma2005.tsv');
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('#'))
    .map((line) => {
      const [id, L1, a1, b1, L2, a2, b2, dE] = line.split('\t').map(Number);
      return { id, first: [L1, a1, b1], second: [L2, a2, b2], dE };
    });
}

sharedTest('the 34 Sharma et al. pairs agree to 1e-4 in both orders', async (t) => {
  const pairs = sharmaPairs();
  t.is(pairs.length, 34);
  const forward = await Promise.all(pairs.map((p) => ciede2000Lab(p.first, p.second)));
  const backward = await Promise.all(pairs.map((p) => ciede2000Lab(p.second, p.first)));
  pairs.forEach((p, i) => {
    t.true(Math.abs(forward[i] - p.dE) <= 1e-4, `pair ${p.id}: ${forward[i]} vs ${p.dE}`);
    t.true(Math.abs(backward[i] - p.dE) <= 1e-4, `pair ${p.id} swapped: ${backward[i]} vs ${p.dE}`);
  });
});

test('identical colours differ by 0; bad Lab input is rejected', async (t) => {
  t.is(await ciede2000Lab([50, 10, -20], [50, 10, -20]), 0);
  t.is(await ciede2000Lab([0, 0, 0], [0, 0, 0]), 0);
  await t.throwsAsync(ciede2000Lab([50, 10], [50, 10, 0]), { instanceOf: InvalidInputError });
  await t.throwsAsync(ciede2000Lab([50, NaN, 0], [50, 10, 0]), { instanceOf: InvalidInputError });
  await t.throwsAsync(ciede2000Lab([50, 0, 0], [Infinity, 0, 0]), { code: 'ERR_FLWNET_INVALID_INPUT' });
  await t.throwsAsync(ciede2000Lab('50 0 0', [50, 0, 0]), { instanceOf: InvalidInputError });
});

// ---- an independent reference, straight from the formulas with Math's functions -------------------

function srgbToLab([r, g, b]) {
  const lin = (v) => (v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
  const [R, G, B] = [r, g, b].map((v) => lin(v / 255));
  const x = (0.412453 * R + 0.35758 * G + 0.180423 * B) / 0.95047;
  const y = 0.212671 * R + 0.71516 * G + 0.072169 * B;
  const z = (0.019334 * R + 0.119193 * G + 0.950227 * B) / 1.08883;
  const f = (v) => (v > 0.008856451679035631 ? Math.cbrt(v) : 7.787037037037037 * v + 16 / 116);
  return [116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))];
}

function referenceCiede2000([L1, a1, b1], [L2, a2, b2]) {
  const deg = Math.PI / 180;
  const Cbar = (Math.hypot(a1, b1) + Math.hypot(a2, b2)) / 2;
  const G = 0.5 * (1 - Math.sqrt(Cbar ** 7 / (Cbar ** 7 + 25 ** 7)));
  const ap1 = (1 + G) * a1;
  const ap2 = (1 + G) * a2;
  const Cp1 = Math.hypot(ap1, b1);
  const Cp2 = Math.hypot(ap2, b2);
  const hue = (b, a) => (b === 0 && a === 0 ? 0 : (Math.atan2(b, a) / deg + 360) % 360);
  const h1 = hue(b1, ap1);
  const h2 = hue(b2, ap2);
  let dh = 0;
  if (Cp1 * Cp2 !== 0) dh = h2 - h1 > 180 ? h2 - h1 - 360 : h2 - h1 < -180 ? h2 - h1 + 360 : h2 - h1;
  const dH = 2 * Math.sqrt(Cp1 * Cp2) * Math.sin((dh / 2) * deg);
  const Lbar = (L1 + L2) / 2;
  const Cpbar = (Cp1 + Cp2) / 2;
  let Hbar = h1 + h2;
  if (Cp1 * Cp2 !== 0) Hbar = Math.abs(h1 - h2) <= 180 ? Hbar / 2 : Hbar < 360 ? (Hbar + 360) / 2 : (Hbar - 360) / 2;
  const T = 1 - 0.17 * Math.cos((Hbar - 30) * deg) + 0.24 * Math.cos(2 * Hbar * deg) + 0.32 * Math.cos((3 * Hbar + 6) * deg) - 0.2 * Math.cos((4 * Hbar - 63) * deg);
  const dTheta = 30 * Math.exp(-(((Hbar - 275) / 25) ** 2));
  const RC = 2 * Math.sqrt(Cpbar ** 7 / (Cpbar ** 7 + 25 ** 7));
  const SL = 1 + (0.015 * (Lbar - 50) ** 2) / Math.sqrt(20 + (Lbar - 50) ** 2);
  const SC = 1 + 0.045 * Cpbar;
  const SH = 1 + 0.015 * Cpbar * T;
  const RT = -Math.sin(2 * dTheta * deg) * RC;
  const [tl, tc, th] = [(L2 - L1) / SL, (Cp2 - Cp1) / SC, dH / SH];
  return Math.sqrt(tl * tl + tc * tc + th * th + RT * tc * th);
}

test('the image CIEDE2000 is the mean over pixels of sRGB (D65) -> CIELAB -> CIEDE2000', async (t) => {
  const width = 61;
  const height = 37;
  const a = new Uint8Array(width * height * 3);
  const b = new Uint8Array(width * height * 3);
  let s = 12345;
  const next = () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 16) & 255;
  for (let i = 0; i < a.length; i++) {
    a[i] = next();
    b[i] = i % 97 === 0 ? a[i] : (a[i] + (next() % 41) - 20 + 256) % 256; // some identical pixels
  }
  let sum = 0;
  for (let p = 0; p < width * height; p++) {
    sum += referenceCiede2000(srgbToLab(a.subarray(3 * p, 3 * p + 3)), srgbToLab(b.subarray(3 * p, 3 * p + 3)));
  }
  const expected = sum / (width * height);
  const { ciede2000 } = await evaluate({ data: a, width, height, channels: 3 }, { data: b, width, height, channels: 3 }, { device: 'cpu' });
  t.true(Math.abs(ciede2000 - expected) <= 1e-9 * expected, `${ciede2000} vs ${expected}`);
  // Neutral colours (a* = b* = 0) take the formula's achromatic branches.
  for (const [first, second] of [[[40, 0, 0], [70, 0, 0]], [[40, 0, 0], [70, 3, -4]], [[55, 0, 0], [55, 0, 0.5]]]) {
    const got = await ciede2000Lab(first, second);
    t.true(Math.abs(got - referenceCiede2000(first, second)) < 1e-9, `${first} / ${second}: ${got}`);
  }
});
