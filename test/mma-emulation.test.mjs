// Host emulation of the mma.sync fast kernel (native/cuda/mma/local_mma.cu): test/native/
// mma_emulation.cpp runs the kernel's schedule with its fragment layouts, ldmatrix/stmatrix
// addressing, swizzle and packed weights on the CPU (fp16 operands, fp32 accumulation) and checks
// the golden fixtures against the fast-mode tolerance, the bank-conflict freedom of every
// ldmatrix/stmatrix phase and the ring depths. No GPU needed: it validates the weight packing and
// predicts the kernel's accuracy. The program is compiled here (cached under build-mma-emulation/).
// The three large fixtures take minutes of emulation on a small machine and run only with
// FLWNET_MMA_EMULATION=all (scripts/gpu-run.sh sets it).
import test from 'ava';
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { loadWeights } from '../dist/weights/index.js';
import { enhanceFixtures, packageRoot, sharedDir, sharedTest, weightsPath } from './helpers/shared.mjs';

const run = promisify(execFile);
const SOURCES = [
  'test/native/mma_emulation.cpp',
  'native/core/model.cpp',
  'native/core/global_branch.cpp',
  'native/core/coarse_brightness.cpp',
];
const HEADERS = ['test/native/mma_emulation.h', 'test/native/gpu_check_support.h', 'native/cuda/mma/mma_layout.h',
  'native/cuda/mma/mma_weights.h', 'native/core/network_graph.h', 'native/core/model.h'];
// Same floating-point contract as the addon build: no FMA contraction (the histogram edge rule of
// docs/numerics.md §2 depends on plain IEEE double arithmetic).
const FLAGS = ['-O3', '-std=c++17', '-ffp-contract=off', '-Inative', '-Itest/native'];
const LARGE_SIDE = 300;

/** Compiles the emulation unless a binary of the same sources and flags exists; returns its path. */
async function emulationBinary() {
  const hash = crypto.createHash('sha256');
  for (const file of [...SOURCES, ...HEADERS, 'native/core/global_branch.h', 'native/core/coarse_brightness.h']) {
    hash.update(fs.readFileSync(path.join(packageRoot, file)));
  }
  hash.update(FLAGS.join(' '));
  const dir = path.join(packageRoot, 'build-mma-emulation');
  const binary = path.join(dir, `mma_emulation-${hash.digest('hex').slice(0, 16)}`);
  if (fs.existsSync(binary)) return binary;
  fs.mkdirSync(dir, { recursive: true });
  const partial = `${binary}.${process.pid}.tmp`;
  await run(process.env.CXX ?? 'c++', [...FLAGS, ...SOURCES, '-o', partial], { cwd: packageRoot, maxBuffer: 1 << 24 });
  fs.renameSync(partial, binary);
  return binary;
}

sharedTest('the mma kernel emulated on the host meets the fast-mode tolerance on the fixtures', async (t) => {
  t.timeout(600_000);
  const all = process.env.FLWNET_MMA_EMULATION === 'all';
  const fixtures = enhanceFixtures();
  t.true(fixtures.length > 0, 'golden fixtures present');
  const cases = fixtures.filter((f) => all || (f.json.width <= LARGE_SIDE && f.json.height <= LARGE_SIDE)).map((f) => f.name);
  const binary = await emulationBinary();
  const tmp = fs.mkdtempSync(path.join(path.dirname(binary), 'run-'));
  try {
    const weightsFile = path.join(tmp, 'weights.f32');
    const packed = (await loadWeights(weightsPath)).packed();
    fs.writeFileSync(weightsFile, Buffer.from(packed.buffer, packed.byteOffset, packed.byteLength));
    const jsonFile = path.join(tmp, 'result.json');
    const fixturesDir = path.join(sharedDir, 'fixtures', 'enhance');
    let stdout;
    try {
      ({ stdout } = await run(binary, [weightsFile, fixturesDir, '--json', jsonFile, ...cases], { maxBuffer: 1 << 24 }));
    } catch (err) {
      t.fail(`emulation failed (exit ${err.code}):\n${err.stdout ?? ''}${err.stderr ?? ''}`);
      return;
    }
    const result = JSON.parse(fs.readFileSync(jsonFile, 'utf8'));
    for (const check of result.checks) t.true(check.ok, `${check.name}: ${check.detail}`);
    t.is(result.failures, 0, stdout);
    t.deepEqual(result.emulation.map((r) => r.case), cases, 'every chosen fixture emulated');
    for (const r of result.emulation) {
      t.log(`${r.case}: PSNR ${r.psnr.toFixed(2)} dB, u8 max diff ${r.u8MaxDiff}, f32 max abs ${r.f32MaxAbs}`);
    }
    if (!all) t.log(`fixtures larger than ${LARGE_SIDE} px skipped (FLWNET_MMA_EMULATION=all runs them)`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
