// The CUDA losses and metrics against the golden cases and against the CPU (relative 1e-4,
// absolute 1e-6 near 0) on the loss fixtures, odd sizes, mixed sample types and 1080p pairs.
import fs from 'node:fs';
import path from 'node:path';
import { evaluate, losses } from 'flwnet';
import { sharedDir } from '../helpers/shared.mjs';
import { gpuTest } from './gpu-helpers.mjs';

const RELATIVE = 1e-4;
const ABSOLUTE = 1e-6;

function agree(t, gpu, cpu, label) {
  for (const key of Object.keys(cpu)) {
    if (cpu[key] === Infinity) {
      t.is(gpu[key], Infinity, `${label} ${key}`);
      continue;
    }
    const allowed = Math.max(ABSOLUTE, RELATIVE * Math.abs(cpu[key]));
    t.true(Math.abs(gpu[key] - cpu[key]) <= allowed, `${label} ${key}: gpu ${gpu[key]} cpu ${cpu[key]}`);
  }
}

/** Deterministic pseudo-random image; `like` makes a correlated one (a noisy, shifted copy). */
function randomImage(width, height, channels, seed, like) {
  const data = new Uint8Array(width * height * channels);
  let s = seed >>> 0;
  for (let i = 0; i < data.length; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    const noise = (s >>> 24) - 128;
    data[i] = like ? Math.min(255, Math.max(0, like.data[i] + (noise >> 3))) : s >>> 24;
  }
  return { data, width, height, channels };
}

const lossCases = () => {
  const root = path.join(sharedDir, 'fixtures', 'losses');
  return fs.readdirSync(root).sort().map((name) => {
    const dir = path.join(root, name);
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'case.json'), 'utf8'));
    const raw = (file) => ({ data: new Uint8Array(fs.readFileSync(path.join(dir, file))), width: json.width, height: json.height, channels: 3 });
    return { name, json, a: raw('a.u8'), b: raw('b.u8') };
  });
};

gpuTest('GPU losses match the golden cases and the CPU on every loss fixture', async (t) => {
  for (const { name, json, a, b } of lossCases()) {
    const gpu = await evaluate(a, b, { device: 'cuda' });
    const cpu = await evaluate(a, b, { device: 'cpu' });
    agree(t, gpu, cpu, name);
    const expected = json.expected;
    agree(t, { l1: gpu.l1, total: gpu.total, ssim: gpu.ssim }, { l1: expected.l1, total: expected.total, ssim: expected.ssim }, `${name} golden`);
    t.is(await losses.structure(a, b, { device: 'cuda' }), gpu.structure);
  }
});

gpuTest('GPU and CPU agree on odd sizes, RGBA and float32 inputs', async (t) => {
  for (const [width, height] of [[1, 1], [17, 9], [33, 1], [1, 45], [257, 131]]) {
    for (const channels of [3, 4]) {
      const a = randomImage(width, height, channels, width * 31 + height);
      const b = randomImage(width, height, channels, 5, a);
      agree(t, await evaluate(a, b, { device: 'cuda:0' }), await evaluate(a, b, { device: 'cpu' }), `${width}x${height}x${channels}`);
      const f = { ...a, data: Float32Array.from(a.data, (v) => v / 255 + 0.001) };
      agree(t, await evaluate(f, b, { device: 'cuda:0' }), await evaluate(f, b, { device: 'cpu' }), `${width}x${height}x${channels} f32`);
    }
  }
});

gpuTest('GPU and CPU agree on random 1920x1080 pairs', async (t) => {
  for (const seed of [1, 2]) {
    const a = randomImage(1920, 1080, 3, seed);
    const b = randomImage(1920, 1080, 3, seed + 100, a);
    const gpu = await evaluate(a, b, { device: 'cuda' });
    const cpu = await evaluate(a, b, { device: 'cpu' });
    agree(t, gpu, cpu, `1080p seed ${seed}`);
    const unrelated = randomImage(1920, 1080, 3, seed + 200);
    agree(t, await evaluate(a, unrelated, { device: 'cuda' }), await evaluate(a, unrelated, { device: 'cpu' }), `1080p unrelated ${seed}`);
  }
});

gpuTest('GPU rejects non-finite samples like the CPU', async (t) => {
  const a = { data: new Float32Array([0.1, 0.2, NaN, 0.4, 0.5, 0.6]), width: 2, height: 1, channels: 3 };
  const b = { data: new Float32Array(6), width: 2, height: 1, channels: 3 };
  await t.throwsAsync(evaluate(a, b, { device: 'cuda' }), { code: 'ERR_FLWNET_INVALID_INPUT' });
});
