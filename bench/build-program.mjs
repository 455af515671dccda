// Builds one of the benchmarks' small C++ programs with the system compiler (CXX, else c++) into a
// temporary folder, runs it and parses the JSON it prints.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const firstLine = (err) => String(err.stderr || err.message).trim().split('\n')[0];

/** The program's JSON, or { skipped: reason } when it cannot be built or fails. */
export function buildAndRun(name, sources, flags, args) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `flwnet-${name}-`));
  try {
    const exe = path.join(dir, name);
    try {
      execFileSync(process.env.CXX || 'c++', ['-O3', '-std=c++17', '-pthread', ...flags, '-o', exe, ...sources], { stdio: 'pipe' });
    } catch (err) {
      return { skipped: `could not build ${name} (${firstLine(err)})` };
    }
    try {
      return JSON.parse(execFileSync(exe, args.map(String), { encoding: 'utf8' }));
    } catch (err) {
      return { skipped: `${name} failed (${firstLine(err)})` };
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
