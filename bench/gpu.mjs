// `npm run bench:gpu`: GPU throughput of enhanceRaw (uint8 out) for every backend x precision x size x
// batch, against PyTorch eager (bench/torch_flwnet.py) measured in the same run, with the fraction of
// the GPU's fp32 and fp16 tensor peaks reached. Batch 1 = sequential awaited calls (median time of
// one call); batch 16 = 16 calls kept in flight (completed images / elapsed time). Raw pixels are fed,
// so no decoding is timed; the event-loop utilisation and process CPU time of each measurement show
// whether the JS side, not the GPU, is the limit. Writes bench/results/gpu-<device>.json after every
// measurement, so an interrupted run keeps what it measured.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Enhancer, gpuInfo } from 'flwnet';
import { benchWeights, machineDescription, packageRoot, resultsDir, sharedDir, syntheticImage, timeIt } from './common.mjs';

const SIZES = [
  [640, 480],
  [1920, 1080],
  [3840, 2160],
];
const BATCHES = [1, 16];
const SECONDS = Number(process.env.FLWNET_BENCH_SECONDS || 2);
/** FLW-Net's multiply-adds per output pixel (docs/numerics.md §6), two FLOP each. */
const FLOP_PER_PIXEL = 15_840 * 2;
const TORCH_DTYPES = ['fp32', 'fp32-tf32', 'fp16'];

/** Dense (no sparsity) fp16 tensor-core peaks in TFLOP/s from NVIDIA's data sheets, by product name. */
const FP16_TENSOR_PEAKS = [
  [/H100.*PCIe/i, 756, 'H100 PCIe data sheet, dense fp16 tensor'],
  [/H100.*NVL/i, 835, 'H100 NVL data sheet, dense fp16 tensor'],
  [/H100|H200|GH200/i, 989, 'H100 SXM / H200 data sheet, dense fp16 tensor'],
];

function nvidiaSmi() {
  const fields = ['name', 'driver_version', 'clocks.max.sm', 'memory.total', 'power.limit'];
  const run = spawnSync('nvidia-smi', [`--query-gpu=${fields.join(',')}`, '--format=csv,noheader,nounits', '-i', '0'], { encoding: 'utf8' });
  if (run.status !== 0) return { error: (run.stderr || run.error?.message || 'nvidia-smi failed').trim() };
  const values = run.stdout.trim().split(/\s*,\s*/);
  return Object.fromEntries(fields.map((f, i) => [f, values[i]]));
}

function peaks(device, smi) {
  const clockMHz = Number(smi['clocks.max.sm']);
  const fp32 = Number.isFinite(clockMHz) && clockMHz > 0 ? (device.multiprocessors * 128 * 2 * clockMHz * 1e6) / 1e12 : null;
  const override = Number(process.env.FLWNET_FP16_TENSOR_TFLOPS);
  const known = FP16_TENSOR_PEAKS.find(([pattern]) => pattern.test(device.name));
  const fp16 = override > 0 ? [override, 'FLWNET_FP16_TENSOR_TFLOPS'] : known ? [known[1], known[2]] : [null, 'unknown for this GPU'];
  return {
    fp32TFlops: fp32,
    fp32Source: fp32 ? `${device.multiprocessors} SMs x 128 FP32 lanes x 2 x ${clockMHz} MHz (nvidia-smi clocks.max.sm)` : 'clock unknown',
    fp16TensorTFlops: fp16[0],
    fp16TensorSource: fp16[1],
  };
}

/** Runs the PyTorch eager reference on the same sizes and batches; its JSON report, or { skipped }. */
function runTorch(weights) {
  const script = path.join(packageRoot, 'bench', 'torch_flwnet.py');
  const jsonFile = path.join(os.tmpdir(), `flwnet-torch-${process.pid}.json`);
  const args = [script, '--weights', weights, '--sizes', SIZES.map(([w, h]) => `${w}x${h}`).join(','), '--batches', BATCHES.join(','),
    '--dtypes', TORCH_DTYPES.join(','), '--cudnn-benchmark', '--json', jsonFile];
  const fixtures = path.join(sharedDir, 'fixtures', 'enhance');
  if (fs.existsSync(fixtures)) args.push('--check-fixtures', fixtures);
  console.log(`PyTorch eager reference: python3 ${args.join(' ')}`);
  const run = spawnSync(process.env.PYTHON || 'python3', args, { stdio: 'inherit', timeout: 240_000 });
  if (run.status !== 0 || !fs.existsSync(jsonFile)) {
    return { skipped: `torch_flwnet.py did not finish (status ${run.status}${run.error ? `, ${run.error.message}` : ''})` };
  }
  const report = JSON.parse(fs.readFileSync(jsonFile, 'utf8'));
  fs.rmSync(jsonFile);
  return report;
}

function torchRate(torch, width, height, batch, dtype) {
  const hit = torch.timings?.find((r) => r.width === width && r.height === height && r.batch === batch && r.dtype === dtype);
  return hit && !hit.error ? hit.images_per_s : null;
}

/** Measures fn under load and reports how busy the JS main thread and the whole process were. */
async function withLoadStats(measure) {
  const elu0 = performance.eventLoopUtilization();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const result = await measure();
  const wallS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return {
    ...result,
    jsMainThreadBusy: performance.eventLoopUtilization(elu0).utilization,
    processCpuCores: (cpu.user + cpu.system) / 1e6 / wallS,
  };
}

/** Keeps `depth` calls in flight for at least SECONDS; images per second over the whole span. */
async function inFlightRate(call, depth) {
  await Promise.all(Array.from({ length: depth }, call)); // warm-up: one round of every stream
  const latencies = [];
  const start = performance.now();
  let stop = false;
  const worker = async () => {
    while (!stop) {
      const t0 = performance.now();
      await call();
      const t1 = performance.now();
      latencies.push(t1 - t0);
      if (t1 - start >= SECONDS * 1000 && latencies.length >= 2 * depth) stop = true;
    }
  };
  await Promise.all(Array.from({ length: depth }, worker));
  latencies.sort((a, b) => a - b);
  const elapsedS = (performance.now() - start) / 1000;
  return { imagesPerS: latencies.length / elapsedS, calls: latencies.length, medianLatencyMs: latencies[latencies.length >> 1] };
}

async function measureCell(enhancer, image, batch) {
  const call = () => enhancer.enhanceRaw(image, { exposure: 0.4 });
  if (batch === 1) {
    const timed = await timeIt(call, { warmup: 2, minRuns: 5, minSeconds: SECONDS });
    return { imagesPerS: 1 / timed.median, calls: timed.runs, medianLatencyMs: timed.median * 1000 };
  }
  return inFlightRate(call, batch);
}

/** What one enhanceRaw call costs the JS side besides the GPU: allocating its output buffer. */
function jsOverheadMs(width, height) {
  const runs = 20;
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) new Uint8Array(width * height * 3)[i] = 1;
  return (performance.now() - t0) / runs;
}

const fmt = (v, digits = 1) => (v == null ? '—' : v.toFixed(digits));
const ratio = (a, b) => (a && b ? `${(a / b).toFixed(2)}x` : '—');

function printTable(rows) {
  const head = ['backend', 'prec', 'size', 'batch', 'img/s', 'MPix/s', 'vs torch fp32', 'vs tf32', 'vs fp16', '% fp32 peak', '% fp16 TC peak', 'JS busy'];
  const lines = rows.map((r) => [r.backend, r.kernel ? `${r.precision}/${r.kernel}` : r.precision, r.size, String(r.batch), fmt(r.imagesPerS), fmt(r.mpixPerS), ratio(r.imagesPerS, r.torch.fp32),
    ratio(r.imagesPerS, r.torch['fp32-tf32']), ratio(r.imagesPerS, r.torch.fp16), fmt(r.fp32PeakPercent, 2), fmt(r.fp16TensorPeakPercent, 2),
    `${fmt(r.jsMainThreadBusy * 100, 0)}%`]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  for (const line of [head, ...lines]) console.log(line.map((c, i) => c.padStart(widths[i])).join('  '));
}

async function main() {
  const info = gpuInfo();
  if (!info.compiled || info.devices.length === 0) {
    console.error(`bench:gpu: no usable GPU (${info.compiled ? info.error || 'no CUDA device' : 'this build has no CUDA support'})`);
    process.exit(2);
  }
  const weights = benchWeights();
  const device = info.devices[0];
  const smi = nvidiaSmi();
  const peak = peaks(device, smi);
  const slug = device.name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
  const resultFile = path.join(resultsDir, `gpu-${slug}.json`);
  const torch = runTorch(weights);
  const result = {
    benchmark: 'enhanceRaw, uint8 in and out, synthetic dark image, exposure 0.4; batch 1 = sequential awaits (median call), ' +
      'batch 16 = 16 calls in flight (images / elapsed). Includes host<->device copies; PyTorch times start and end on the GPU.',
    device: { ...device, driver: smi.driver_version ?? null, nvidiaSmi: smi, runtimeVersion: info.runtimeVersion, driverVersion: info.driverVersion },
    date: new Date().toISOString(),
    machine: machineDescription(),
    flopPerPixel: FLOP_PER_PIXEL,
    peaks: peak,
    secondsPerMeasurement: SECONDS,
    torch,
    rows: [],
  };
  const save = () => {
    fs.mkdirSync(resultsDir, { recursive: true });
    fs.writeFileSync(resultFile, `${JSON.stringify(result, null, 2)}\n`);
  };
  // Fused fast mode twice: the default WMMA kernel and the mma.sync one (the cudaFastKernel option;
  // GPUs before sm_80 run WMMA for both, as the description says).
  const configs = [
    { backend: 'fused', precision: 'exact' },
    { backend: 'fused', precision: 'fast', kernel: 'wmma' },
    { backend: 'fused', precision: 'fast', kernel: 'mma' },
    ...(info.cudnnCompiled ? [{ backend: 'cudnn', precision: 'exact' }, { backend: 'cudnn', precision: 'fast' }] : []),
  ];
  for (const { backend, precision, kernel } of configs) {
    let enhancer;
    try {
      enhancer = await Enhancer.create({ weights, device: 'cuda:0', backend, precision, ...(kernel ? { cudaFastKernel: kernel } : {}) });
    } catch (err) {
      console.error(`${backend}/${precision}: cannot create the engine: ${err.message}`);
      result.rows.push({ backend, precision, kernel, error: err.message });
      continue;
    }
    console.log(`${backend}/${precision}: ${enhancer.description}`);
    for (const [width, height] of SIZES) {
      const image = syntheticImage(width, height);
      for (const batch of BATCHES) {
        const cell = await withLoadStats(() => measureCell(enhancer, image, batch));
        const mpixPerS = (cell.imagesPerS * width * height) / 1e6;
        const tflops = (mpixPerS * 1e6 * FLOP_PER_PIXEL) / 1e12;
        const row = {
          backend, precision, kernel: kernel ?? null, description: enhancer.description, size: `${width}x${height}`, batch, ...cell,
          mpixPerS, achievedTFlops: tflops,
          fp32PeakPercent: peak.fp32TFlops ? (100 * tflops) / peak.fp32TFlops : null,
          fp16TensorPeakPercent: peak.fp16TensorTFlops ? (100 * tflops) / peak.fp16TensorTFlops : null,
          jsOutputAllocMs: jsOverheadMs(width, height),
          torch: Object.fromEntries(TORCH_DTYPES.map((d) => [d, torchRate(torch, width, height, batch, d)])),
        };
        result.rows.push(row);
        save();
        console.log(`  ${row.size} batch ${batch}: ${fmt(row.imagesPerS)} img/s, ${fmt(mpixPerS)} MPix/s, ` +
          `JS main thread ${fmt(row.jsMainThreadBusy * 100, 0)}% busy, process ${fmt(row.processCpuCores, 2)} cores`);
      }
    }
    await enhancer.close();
  }
  console.log(`\n${device.name}, driver ${smi.driver_version ?? '?'}; fp32 peak ${fmt(peak.fp32TFlops)} TFLOP/s (${peak.fp32Source}); ` +
    `fp16 tensor peak ${fmt(peak.fp16TensorTFlops)} TFLOP/s (${peak.fp16TensorSource}); ${FLOP_PER_PIXEL} FLOP/pixel`);
  if (torch.skipped) console.log(`PyTorch reference: ${torch.skipped}`);
  printTable(result.rows.filter((r) => !r.error));
  const busiest = Math.max(0, ...result.rows.filter((r) => !r.error).map((r) => r.jsMainThreadBusy));
  result.cpuBound = busiest > 0.9;
  console.log(`JS main thread at most ${fmt(busiest * 100, 0)}% busy: ${result.cpuBound ? 'the JS side may be the limit' : 'not CPU-bound on the JS side'}`);
  save();
  console.log(`wrote ${path.relative(packageRoot, resultFile)}`);
}

main().catch((err) => {
  console.error(`bench:gpu failed: ${err.stack || err.message}`);
  process.exit(1);
});
