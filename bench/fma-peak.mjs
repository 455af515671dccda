// The machine's fp32 FMA peak for `npm run bench`: builds bench/fma_peak.cpp with the system C++
// compiler (CXX, else c++) into a temporary folder and runs it on `threads` threads.
import path from 'node:path';
import { buildAndRun } from './build-program.mjs';
import { packageRoot } from './common.mjs';

const source = path.join(packageRoot, 'bench', 'fma_peak.cpp');

/** { isa, lanes, threads, seconds, cpuSeconds, gfma, gfmaPerCpuSecond }, or { skipped: reason }. */
export function measureFmaPeak(threads, seconds = 1) {
  return buildAndRun('fma_peak', [source], ['-O2'], [threads, seconds]);
}

/** { storeCostInFmaSlots }: the FMA slots one 64-byte store takes among FMAs (AVX-512), or { skipped }. */
export function measureStoreCost(seconds = 1) {
  return buildAndRun('fma_peak', [source], ['-O2'], ['--store-cost', seconds]);
}
