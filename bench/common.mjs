// Shared pieces of the benchmark scripts: locating reference material, timing, and result files.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const sharedDir = path.resolve(process.env.FLWNET_SHARED ?? path.join(packageRoot, '..', 'shared'));
export const resultsDir = path.join(packageRoot, 'bench', 'results');

/** The weights to benchmark with: FLWNET_WEIGHTS, else the published checkpoint in the shared folder. */
export function benchWeights() {
  const candidate = process.env.FLWNET_WEIGHTS || path.join(sharedDir, 'weights', 'flwnet-official.pth');
  if (!fs.existsSync(candidate)) {
    console.error(`benchmark: weights not found at ${candidate}; set FLWNET_WEIGHTS or FLWNET_SHARED`);
    process.exit(2);
  }
  return candidate;
}

/** A deterministic dark RGB test image (smooth gradients plus noise, like a real low-light photo). */
export function syntheticImage(width, height, channels = 3, seed = 7) {
  const data = new Uint8Array(width * height * channels);
  let s = seed >>> 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      s = (s * 1664525 + 1013904223) >>> 0;
      const base = 10 + 40 * (x / width) * (y / height);
      for (let c = 0; c < channels; c++) {
        const v = base + c * 4 + ((s >>> (8 + c * 4)) & 15);
        data[(y * width + x) * channels + c] = c === 3 ? 255 : Math.min(255, v);
      }
    }
  }
  return { data, width, height, channels };
}

/** Runs `fn` `warmup` times, then until `minRuns` runs and `minSeconds` have passed; returns seconds per run (median). */
export async function timeIt(fn, { warmup = 1, minRuns = 5, minSeconds = 2 } = {}) {
  for (let i = 0; i < warmup; i++) await fn();
  const times = [];
  const start = performance.now();
  while (times.length < minRuns || performance.now() - start < minSeconds * 1000) {
    const t0 = performance.now();
    await fn();
    times.push((performance.now() - t0) / 1000);
  }
  times.sort((a, b) => a - b);
  return { median: times[Math.floor(times.length / 2)], min: times[0], runs: times.length };
}

export function machineDescription() {
  return { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, node: process.version, platform: `${os.platform()}-${os.arch()}` };
}

export function writeResult(name, result) {
  fs.mkdirSync(resultsDir, { recursive: true });
  const file = path.join(resultsDir, name);
  fs.writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`wrote ${path.relative(packageRoot, file)}`);
}

/**
 * An onnxruntime-node session on the published model's ONNX export (the CPU peer of the
 * benchmarks), or { skipped: reason } when the model or the package is missing.
 */
export async function openOnnxPeer(threads) {
  const modelPath = path.join(sharedDir, 'anchors', 'flwnet-official.onnx');
  if (!fs.existsSync(modelPath)) return { skipped: `ONNX model not found at ${modelPath}` };
  let ort;
  try {
    ort = await import('onnxruntime-node');
  } catch (err) {
    return { skipped: `onnxruntime-node is not installed (${err.message})` };
  }
  const session = await ort.InferenceSession.create(modelPath, {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
  });
  return { ort, session };
}

/** The export's inputs for an interleaved RGB image and its 15 features: planar [1,3,H,W] and [1,15,1,1]. */
export function onnxFeeds(ort, image, features) {
  const { width, height, data } = image;
  const pixels = width * height;
  const planar = new Float32Array(3 * pixels);
  for (let i = 0; i < pixels; i++) {
    for (let c = 0; c < 3; c++) planar[c * pixels + i] = data[i * 3 + c] / 255;
  }
  return {
    image: new ort.Tensor('float32', planar, [1, 3, height, width]),
    hist: new ort.Tensor('float32', Float32Array.from(features), [1, 15, 1, 1]),
  };
}
