// The machine's fp32 FMA peak for `npm run bench`: builds bench/fma_peak.cpp with the system C++
// compiler (CXX, else c++) into a temporary folder and runs it on `threads` threads.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { packageRoot } from './common.mjs';

/** { isa, lanes, threads, seconds, cpuSeconds, gfma, gfmaPerCpuSecond }, or { skipped: reason }. */
export function measureFmaPeak(threads, seconds = 1) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flwnet-fma-'));
  try {
    const exe = path.join(dir, 'fma_peak');
    const source = path.join(packageRoot, 'bench', 'fma_peak.cpp');
    try {
      execFileSync(process.env.CXX || 'c++', ['-O2', '-std=c++17', '-pthread', '-o', exe, source], { stdio: 'pipe' });
    } catch (err) {
      return { skipped: `could not build the FMA microbenchmark (${String(err.stderr || err.message).trim().split('\n')[0]})` };
    }
    try {
      return JSON.parse(execFileSync(exe, [String(threads), String(seconds)], { encoding: 'utf8' }));
    } catch (err) {
      return { skipped: `FMA microbenchmark failed (${String(err.stderr || err.message).trim().split('\n')[0]})` };
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
