// `npm run bench`: CPU throughput of enhanceRaw, in one run:
// - the engine (FLWNET_CPU_KERNEL, default auto: the 2-D Winograd blocks) against the previous
//   kernels (FLWNET_BENCH_BASELINE_KERNEL, default rows: the row-wise Winograd), timed in
//   alternation so that both see the same machine load;
// - its effective multiply-add rate (MPix/s x 15,840 multiply-adds per pixel of the local branch,
//   as a direct convolution would count them) as a multiple of the machine's fp32 FMA peak,
//   measured by a small vectorised program (bench/fma_peak.cpp) before and after the engines,
//   with the bf16 dot-product rate where the processor has AVX512-BF16;
// - onnxruntime-node running the published model's ONNX export on the same input;
// - with FLWNET_BENCH_PREVIOUS_BUILD=DIR, an earlier version of the package built in DIR
//   (bench/prepare-previous-build.mjs makes one from any commit) as a third engine in the same
//   alternation, so that a speed-up over a past release is measured under the same load.
// Prints the numbers and writes bench/results/cpu.json.
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Enhancer } from 'flwnet';
import { benchWeights, machineDescription, onnxFeeds, openOnnxPeer, syntheticImage, timeIt, writeResult } from './common.mjs';
import { measureFmaPeak } from './fma-peak.mjs';

const SIZES = [
  [600, 400],
  [1920, 1080],
];
const MACS_PER_PIXEL = 15840; // e1..e7: 9 x (4x16 + 16x16 + 20x16 + 16x16 + 16x16 + 32x16 + 16x6)
const threads = Number(process.env.FLWNET_BENCH_THREADS || os.cpus().length);
const kernel = process.env.FLWNET_CPU_KERNEL || 'auto';
const baselineKernel = process.env.FLWNET_BENCH_BASELINE_KERNEL || 'rows';
// Seconds of alternating engine/baseline rounds per size: a shared 2-core machine drifts by tens of
// percent within seconds, so the comparison takes medians over many rounds.
const abSeconds = Number(process.env.FLWNET_BENCH_SECONDS || 15);

async function onnxRunner(features, image) {
  const peer = await openOnnxPeer(threads);
  if (peer.skipped) return peer;
  const feeds = onnxFeeds(peer.ort, image, features);
  return { run: () => peer.session.run(feeds) };
}

async function openEngine(cpuKernel) {
  return Enhancer.create({ weights: benchWeights(), device: 'cpu', threads, cpuKernel });
}

/** The earlier build named by FLWNET_BENCH_PREVIOUS_BUILD, its commit and an engine of its own. */
async function openPreviousBuild() {
  const dir = process.env.FLWNET_BENCH_PREVIOUS_BUILD;
  if (!dir) return null;
  const root = path.resolve(dir);
  const previous = await import(pathToFileURL(path.join(root, 'dist', 'index.js')).href);
  const PreviousEnhancer = previous.Enhancer ?? previous.default?.Enhancer;
  if (typeof PreviousEnhancer?.create !== 'function') throw new Error(`${root} has no built Enhancer (dist/index.js)`);
  let commit = null;
  try {
    commit = execFileSync('git', ['-C', root, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    // A copy outside git: the commit stays unknown.
  }
  const engine = await PreviousEnhancer.create({ weights: benchWeights(), device: 'cpu', threads });
  return { root, commit, engine };
}

/** Runs the functions in turn, round after round, until `minRuns` rounds and `minSeconds`; medians. */
async function timeAlternating(fns, { warmup = 1, minRuns = 5, minSeconds = 4 } = {}) {
  for (let i = 0; i < warmup; i++) for (const fn of fns) await fn();
  const times = fns.map(() => []);
  const start = performance.now();
  while (times[0].length < minRuns || performance.now() - start < minSeconds * 1000) {
    for (let i = 0; i < fns.length; i++) {
      const t0 = performance.now();
      await fns[i]();
      times[i].push((performance.now() - t0) / 1000);
    }
  }
  const median = (list) => list.slice().sort((a, b) => a - b)[Math.floor(list.length / 2)];
  return times.map((list) => ({ median: median(list), min: Math.min(...list), runs: list.length, list }));
}

/** The median over rounds of one round's baseline time / engine time (both ran back to back). */
function pairedSpeedup(ours, base) {
  const ratios = ours.list.map((t, i) => base.list[i] / t).sort((a, b) => a - b);
  return ratios[Math.floor(ratios.length / 2)];
}

function peakOf(before, after) {
  const measured = [before, after].filter((p) => !p.skipped);
  if (measured.length === 0) return { skipped: before.skipped, before, after };
  const gfma = measured.reduce((sum, p) => sum + p.gfma, 0) / measured.length;
  return { isa: measured[0].isa, lanes: measured[0].lanes, gfma, bf16: bf16RateOf(measured, gfma), before, after };
}

// The vdpbf16ps rate where the processor has AVX512-BF16 (null otherwise), with the speed a direct
// bf16 convolution of the local branch could reach at that rate: the upper bound of a bf16 CPU
// path, which has to convolve directly (docs/cpu.md: bf16 in the Winograd domain fails the tolerance).
function bf16RateOf(measured, gfma) {
  const rates = measured.map((p) => p.bf16).filter(Boolean);
  if (rates.length === 0) return null;
  const gmac = rates.reduce((sum, r) => sum + r.gmac, 0) / rates.length;
  return { gmac, overFma: gmac / gfma, directMPixPerSAtPeak: (gmac * 1000) / MACS_PER_PIXEL };
}

async function main() {
  const peakBefore = measureFmaPeak(threads);
  const engine = await openEngine(kernel);
  const baseline = await openEngine(baselineKernel);
  const previous = await openPreviousBuild();
  console.log(`flwnet:   ${engine.description} (FLWNET_CPU_KERNEL=${kernel})`);
  console.log(`baseline: ${baseline.description} (FLWNET_BENCH_BASELINE_KERNEL=${baselineKernel})`);
  if (previous) console.log(`previous: ${previous.engine.description} (commit ${previous.commit ?? 'unknown'})`);
  const rows = [];
  for (const [width, height] of SIZES) {
    const image = syntheticImage(width, height);
    const mpix = (width * height) / 1e6;
    const engines = [engine, baseline, ...(previous ? [previous.engine] : [])];
    const [ours, base, past] = await timeAlternating(
      engines.map((e) => () => e.enhanceRaw(image, { exposure: 0.4 })),
      { minSeconds: abSeconds },
    );
    const { features } = await engine.inspect(image, { exposure: 0.4 });
    const ort = await onnxRunner(features, image);
    const peer = ort.run ? await timeIt(ort.run) : undefined;
    rows.push({
      size: `${width}x${height}`,
      flwnetMPixPerS: mpix / ours.median,
      flwnetSeconds: ours.median,
      flwnetRuns: ours.runs,
      baselineMPixPerS: mpix / base.median,
      baselineSeconds: base.median,
      speedupOverBaseline: base.median / ours.median,
      pairedSpeedupOverBaseline: pairedSpeedup(ours, base),
      effectiveGmacPerS: (mpix / ours.median) * MACS_PER_PIXEL / 1000,
      baselineEffectiveGmacPerS: (mpix / base.median) * MACS_PER_PIXEL / 1000,
      previousBuildMPixPerS: past ? mpix / past.median : null,
      speedupOverPreviousBuild: past ? past.median / ours.median : null,
      pairedSpeedupOverPreviousBuild: past ? pairedSpeedup(ours, past) : null,
      onnxruntimeMPixPerS: peer ? mpix / peer.median : null,
      onnxruntimeSeconds: peer ? peer.median : null,
      ratio: peer ? peer.median / ours.median : null,
      onnxruntimeSkipped: ort.skipped,
    });
  }
  await engine.close();
  await baseline.close();
  if (previous) await previous.engine.close();
  const peak = peakOf(peakBefore, measureFmaPeak(threads));
  console.log(peak.skipped ? `fp32 FMA peak: ${peak.skipped}` : `fp32 FMA peak (${peak.isa}, ${threads} threads): ${peak.gfma.toFixed(1)} GFMA/s`);
  if (peak.bf16) {
    console.log(
      `bf16 dot-product peak (vdpbf16ps): ${peak.bf16.gmac.toFixed(1)} GMAC/s = ${peak.bf16.overFma.toFixed(2)}x the FMA peak; ` +
        `a direct bf16 convolution at that rate: ${peak.bf16.directMPixPerSAtPeak.toFixed(1)} MPix/s at most`,
    );
  }
  for (const row of rows) {
    row.peakMultiple = peak.skipped ? null : row.effectiveGmacPerS / peak.gfma;
    row.baselinePeakMultiple = peak.skipped ? null : row.baselineEffectiveGmacPerS / peak.gfma;
    const ofPeak = row.peakMultiple === null ? '' : ` = ${row.peakMultiple.toFixed(2)}x FMA peak`;
    const onnx = row.ratio ? `${row.ratio.toFixed(2)}x onnxruntime (${row.onnxruntimeMPixPerS.toFixed(3)} MPix/s)` : row.onnxruntimeSkipped;
    console.log(
      `${row.size.padEnd(10)} flwnet ${row.flwnetMPixPerS.toFixed(3)} MPix/s, ${row.effectiveGmacPerS.toFixed(1)} GMAC/s${ofPeak}; ` +
        `${row.speedupOverBaseline.toFixed(2)}x the baseline (${row.baselineMPixPerS.toFixed(3)} MPix/s; ` +
        `median of ${row.flwnetRuns} paired rounds ${row.pairedSpeedupOverBaseline.toFixed(2)}x); ${onnx}`,
    );
    if (row.previousBuildMPixPerS !== null) {
      console.log(
        `${''.padEnd(10)} ${row.speedupOverPreviousBuild.toFixed(2)}x the previous build (${row.previousBuildMPixPerS.toFixed(3)} MPix/s; ` +
          `paired ${row.pairedSpeedupOverPreviousBuild.toFixed(2)}x)`,
      );
    }
  }
  writeResult('cpu.json', {
    benchmark:
      'enhanceRaw uint8, CPU, synthetic dark image; engine and baseline kernels timed alternately in one run; ' +
      'effective GMAC/s = MPix/s x 15,840 against the fp32 FMA peak of bench/fma_peak.cpp; ' +
      'onnxruntime-node session.run on the same pixels (features precomputed)',
    machine: machineDescription(),
    threads,
    backend: engine.description,
    baselineBackend: baseline.description,
    kernel,
    baselineKernel,
    previousBuild: previous ? { backend: previous.engine.description, commit: previous.commit } : null,
    fmaPeak: peak,
    date: new Date().toISOString(),
    rows,
  });
}

main().catch((err) => {
  console.error(`benchmark failed: ${err.message}`);
  process.exit(1);
});
