// The machine's fp32 FMA peak for `npm run bench`: builds bench/fma_peak.cpp with the system C++
// compiler (CXX, else c++) into a temporary folder and runs it on `threads` threads.
import path from 'node:path';
import { buildAndRun } from './build-program.mjs';
import { packageRoot } from './common.mjs';

/** { isa, lanes, threads, seconds, cpuSeconds, gfma, gfmaPerCpuSecond }, or { skipped: reason }. */
export function measureFmaPeak(threads, seconds = 1) {
  return buildAndRun('fma_peak', [path.join(packageRoot, 'bench', 'fma_peak.cpp')], ['-O2'], [threads, seconds]);
}
