// `npm run bench:train`: training throughput on the CPU, in pixels per second through forward,
// the five losses, backward and Adam, for a batch of 16 crops of 100 x 100: flwnet's native
// trainer (TrainerCore.step) against the same step in PyTorch (bench/torch_train.py), same machine,
// same thread count, alternating rounds in one run. Writes bench/results/train-cpu.json.
//
//   node bench/train.mjs [--threads 2] [--rounds 3] [--steps 5] [--batch 16] [--size 100]
//
// PyTorch is looked for in FLWNET_PYTHON, then /usr/bin/python3 (Debian's python3-torch), then python3.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { FLWNET_PARAM_COUNT } from 'flwnet';
import { machineDescription, packageRoot, writeResult } from './common.mjs';

const { TrainerCore, AUTHORS_ADAM } = await import(path.join(packageRoot, 'dist', 'train', 'native-trainer.js'));

const TARGET_RATIO = 3;

const { values: opts } = parseArgs({
  options: {
    threads: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '3' },
    steps: { type: 'string', default: '5' },
    batch: { type: 'string', default: '16' },
    size: { type: 'string', default: '100' },
  },
});
const threads = Number(opts.threads);
const rounds = Number(opts.rounds);
const steps = Number(opts.steps);
const batchSize = Number(opts.batch);
const size = Number(opts.size);

function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

/** Random crops as PyTorch's side draws them: low in [0, 90), reference in [0, 256). */
function syntheticBatch(seed) {
  const next = rng(seed);
  const image = (scale) => ({ data: Uint8Array.from({ length: size * size * 3 }, () => Math.floor(next() * scale)), width: size, height: size, channels: 3 });
  return Array.from({ length: batchSize }, () => ({ low: image(90), high: image(256) }));
}

/** Kaiming-uniform weights (PyTorch's default initialisation of Conv2d). */
function initialParams(seed) {
  const next = rng(seed);
  const params = new Float32Array(FLWNET_PARAM_COUNT);
  for (let i = 0; i < params.length; i++) params[i] = (next() * 2 - 1) * 0.1;
  return params;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Wall and CPU seconds per step (CPU time is less disturbed by other work on a shared machine). */
async function oursRound(core, batch) {
  const seconds = [];
  const cpuSeconds = [];
  await core.step(batch, 1e-4);  // warm-up (buffers sized on the first step)
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const result = await core.step(batch, 1e-4);
    const cpu = process.cpuUsage(c0);
    seconds.push((performance.now() - t0) / 1000);
    cpuSeconds.push((cpu.user + cpu.system) / 1e6);
    if (!result.applied) throw new Error('the native step was not applied (non-finite loss)');
  }
  return { seconds, cpuSeconds };
}

function pythonWithTorch() {
  const candidates = [process.env.FLWNET_PYTHON, '/usr/bin/python3', 'python3'].filter(Boolean);
  for (const python of candidates) {
    try {
      execFileSync(python, ['-c', 'import torch'], { stdio: 'ignore' });
      return python;
    } catch {
      // try the next one
    }
  }
  return undefined;
}

function torchRound(python) {
  const out = execFileSync(python, [path.join(packageRoot, 'bench', 'torch_train.py'), '--batch', String(batchSize), '--size', String(size),
    '--threads', String(threads), '--steps', String(steps), '--warmup', '1'], { encoding: 'utf8', maxBuffer: 1 << 20 });
  return JSON.parse(out.trim().split('\n').pop());
}

async function main() {
  const python = pythonWithTorch();
  if (!python) console.log('PyTorch not found (set FLWNET_PYTHON): timing flwnet only');
  const batch = syntheticBatch(1);
  const core = TrainerCore.create({ params: initialParams(2), threads, adam: AUTHORS_ADAM });
  const pixels = batchSize * size * size;
  const ours = [];
  const oursCpu = [];
  const torch = [];
  const torchCpu = [];
  let torchVersion;
  for (let round = 0; round < rounds; round++) {
    const mine = await oursRound(core, batch);
    ours.push(...mine.seconds);
    oursCpu.push(...mine.cpuSeconds);
    const line = [`round ${round + 1}: flwnet ${(median(ours.slice(-steps)) * 1000).toFixed(0)} ms/step`];
    if (python) {
      const result = torchRound(python);
      torchVersion = result.torch;
      torch.push(...result.seconds);
      torchCpu.push(...result.cpu_seconds);
      line.push(`PyTorch ${(result.median * 1000).toFixed(0)} ms/step`);
    }
    console.log(line.join(', '));
  }
  core.close();
  const oursRate = pixels / median(ours);
  const torchRate = torch.length ? pixels / median(torch) : undefined;
  const ratio = torchRate ? oursRate / torchRate : undefined;
  const cpuRatio = torchRate ? median(torchCpu) / median(oursCpu) : undefined;
  console.log(`flwnet  ${(oursRate / 1e6).toFixed(3)} MPix/s (median ${(median(ours) * 1000).toFixed(0)} ms per step of ${batchSize} x ${size}x${size})`);
  if (torchRate) {
    console.log(`PyTorch ${(torchRate / 1e6).toFixed(3)} MPix/s (median ${(median(torch) * 1000).toFixed(0)} ms per step), torch ${torchVersion}`);
    console.log(`ratio   ${ratio.toFixed(2)}x in pixels per second (target >= ${TARGET_RATIO}x); ${cpuRatio.toFixed(2)}x in CPU time per step`);
  }
  writeResult('train-cpu.json', {
    benchmark: 'training step (features, forward, five losses, backward, Adam) on the CPU',
    batch: `${batchSize} x ${size}x${size} RGB crops`,
    threads,
    machine: machineDescription(),
    loadAverage: fs.existsSync('/proc/loadavg') ? fs.readFileSync('/proc/loadavg', 'utf8').trim() : undefined,
    flwnet: { pixelsPerSecond: oursRate, medianSeconds: median(ours), seconds: ours, medianCpuSeconds: median(oursCpu) },
    pytorch: torchRate
      ? { version: torchVersion, pixelsPerSecond: torchRate, medianSeconds: median(torch), seconds: torch, medianCpuSeconds: median(torchCpu) }
      : { skipped: 'PyTorch not found' },
    ratio,
    cpuTimeRatio: cpuRatio,
    targetRatio: TARGET_RATIO,
    date: new Date().toISOString(),
  });
}

await main();
