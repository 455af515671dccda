// `node bench/losses.mjs`: time evaluate() (every loss and metric) on a 1920x1080 pair, from raw
// uint8 pixels, raw float32 pixels and PNG buffers, on the CPU and, when one is usable, the GPU.
// Prints seconds per call and writes bench/results/losses-<device>.json per device.
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { evaluate, gpuInfo } from 'flwnet';
import { machineDescription, sharedDir, syntheticImage, timeIt, writeResult } from './common.mjs';

const WIDTH = 1920;
const HEIGHT = 1080;
/** The CPU target: a 1080p evaluate() including the JS layer. */
const CPU_TARGET_SECONDS = 0.25;

/** A low-light photo scaled to 1080p and a brighter, gamma-corrected version of it as reference. */
async function benchPair() {
  const photo = path.join(sharedDir, 'images', 'lowlight', 'dicm_01.jpg');
  if (!fs.existsSync(photo)) {
    const a = syntheticImage(WIDTH, HEIGHT);
    return { a, b: { ...a, data: a.data.map((v) => Math.min(255, v * 3)) }, source: 'synthetic' };
  }
  const raw = (pipeline) => pipeline.removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const scaled = sharp(photo).rotate().resize(WIDTH, HEIGHT, { fit: 'fill' });
  const a = await raw(scaled.clone());
  const b = await raw(scaled.clone().gamma(2.2, 1.0).linear(1.4, 8));
  const image = ({ data, info }) => ({ data: new Uint8Array(data), width: info.width, height: info.height, channels: 3 });
  return { a: image(a), b: image(b), source: path.basename(photo) };
}

async function main() {
  const { a, b, source } = await benchPair();
  const toFloat = (img) => ({ ...img, data: Float32Array.from(img.data, (v) => v / 255) });
  const encode = (img) => sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).png({ compressionLevel: 1 }).toBuffer();
  const inputs = {
    'raw uint8': [a, b],
    'raw float32': [toFloat(a), toFloat(b)],
    png: [await encode(a), await encode(b)],
  };
  const info = gpuInfo();
  const devices = ['cpu', ...(info.compiled && info.devices.length > 0 ? ['cuda:0'] : [])];
  for (const device of devices) {
    const rows = [];
    for (const [label, [x, y]] of Object.entries(inputs)) {
      const timing = await timeIt(() => evaluate(x, y, { device }), { warmup: 2, minRuns: 10, minSeconds: 2 });
      rows.push({ input: label, seconds: timing.median, minSeconds: timing.min, runs: timing.runs });
      console.log(`${device.padEnd(7)} ${label.padEnd(12)} ${(timing.median * 1000).toFixed(1).padStart(7)} ms/evaluate (min ${(timing.min * 1000).toFixed(1)} ms)`);
    }
    const metrics = await evaluate(a, b, { device });
    const name = device === 'cpu' ? 'cpu' : 'cuda';
    const gpuName = device === 'cpu' ? undefined : info.devices[0].name;
    writeResult(`losses-${name}.json`, {
      benchmark: 'evaluate() on a 1920x1080 pair (all losses and metrics)',
      device: gpuName ?? `cpu (${machineDescription().cores} cores)`,
      machine: machineDescription(),
      image: source,
      size: `${WIDTH}x${HEIGHT}`,
      targetSeconds: device === 'cpu' ? CPU_TARGET_SECONDS : undefined,
      results: rows,
      metrics,
      date: new Date().toISOString(),
    });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
