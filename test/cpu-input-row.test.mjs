// The AVX-512 input row (native/cpu/input_row_avx512.cpp) must write the scalar reference's bytes:
// test/native/input_row_check.cpp runs both on random rows of every length from 1 to 40 and a few
// long ones. The two files are compiled as the addon compiles them (gnu++17; the vector one with
// -mfma) and linked into one program. A fused multiply-add in Vc would move a double by about an
// ulp, which the float outputs almost never show; the vector file keeps its products apart anyway.
import test from 'ava';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { packageRoot } from './helpers/shared.mjs';

const run = promisify(execFile);
const require = createRequire(import.meta.url);
const { loadNative } = require('../dist/native.js');

const COMMON = ['-O3', '-std=gnu++17', '-Inative', '-c'];
const AVX512 = ['-mavx512f', '-mavx512bw', '-mavx512dq', '-mavx512vl', '-mavx2', '-mfma', '-mf16c'];
const hasAvx512 = loadNative().cpuIsas.includes('avx512');

(hasAvx512 ? test : test.skip)(
  `the AVX-512 input row writes the scalar reference's bytes${hasAvx512 ? '' : ' — skipped: this CPU has no AVX-512'}`,
  async (t) => {
    t.timeout(300_000);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flwnet-input-row-'));
    try {
      const cxx = process.env.CXX ?? 'c++';
      const compile = (source, flags, object) =>
        run(cxx, [...COMMON, ...flags, source, '-o', path.join(dir, object)], { cwd: packageRoot });
      await compile('native/cpu/conv_scalar.cpp', [], 'scalar.o');
      await compile('native/cpu/input_row_avx512.cpp', AVX512, 'avx512.o');
      await compile('test/native/input_row_check.cpp', [], 'check.o');
      const exe = path.join(dir, 'input_row_check');
      await run(cxx, ['scalar.o', 'avx512.o', 'check.o', '-o', exe], { cwd: dir });
      const result = JSON.parse((await run(exe)).stdout);
      t.log(`${result.rows} rows, ${result.pixels} pixels`);
      t.true(result.rows > 600 && result.pixels > 20_000);
      t.is(result.mismatches, 0, 'rows whose bytes differ from the scalar reference');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
);
