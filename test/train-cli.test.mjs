// `flwnet train`: usage errors, bad data, a short real run with its files (checkpoints, JSONL log,
// curve SVG), Ctrl-C writing a resumable checkpoint, and the curve plot itself.
import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { packageRoot } from './helpers/shared.mjs';

const require = createRequire(import.meta.url);
const { loadNative } = require('../dist/native.js');
const { trainingCurveSvg, niceTicks } = require('../dist/train/plot.js');
const { loadWeights } = require('../dist/index.js');
const { readSafetensors } = require('../dist/weights/safetensors.js');

const cli = path.join(packageRoot, 'bin', 'flwnet.js');
const run = (args) =>
  promisify(execFile)(process.execPath, [cli, ...args], { env: { ...process.env } }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (err) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
  );

let trainerProblem;
try {
  trainerProblem = typeof loadNative().Trainer === 'function' ? undefined : 'the native addon has no Trainer (rebuild it: npm run build)';
} catch (err) {
  trainerProblem = `the native addon is unavailable: ${err.message.split('\n')[0]}`;
}
const trainerTest = (title, fn) => (trainerProblem ? test.skip(`${title} — skipped: ${trainerProblem}`, () => {}) : test(title, fn));

function tmpdir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flwnet-train-cli-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function makePhotos(dir, count = 3, width = 64, height = 48) {
  fs.mkdirSync(dir, { recursive: true });
  for (let k = 0; k < count; k++) {
    const px = Buffer.alloc(width * height * 3);
    for (let i = 0; i < width * height; i++) {
      const x = i % width;
      const y = Math.floor(i / width);
      px.set([40 + ((x * 190) / width) | 0, 30 + ((y * 200) / height) | 0, (128 + 100 * Math.sin((x + y + 11 * k) / 6)) | 0], i * 3);
    }
    await sharp(px, { raw: { width, height, channels: 3 } }).png().toFile(path.join(dir, `p${k}.png`));
  }
  return dir;
}

test('usage errors exit 2 with one line', async (t) => {
  const cases = [
    ['train', '--photos', 'x'],
    ['train', '--photos', 'x', '--low', 'y', '--high', 'z', '-o', 'o.safetensors'],
    ['train', '--low', 'y', '-o', 'o.safetensors'],
    ['train', '--photos', 'x', '-o', 'o.safetensors', '--device', 'cuda'],
    ['train', '--photos', 'x', '-o', 'o.safetensors', '--steps', 'many'],
    ['train', '--photos', 'x', '-o', 'o.safetensors', '--steps', '2.5'],
    ['train', '--photos', 'x', '-o', 'o.safetensors', '--exposure', '0.1'],
    ['train', '--photos', 'x', '-o', 'o.safetensors', '--resume', '--init', 'w.pth'],
    ['train', '--photos', 'x', '-o', 'o.safetensors', '--schedule', 'linear'],
    ['train', '--photos', 'x', '-o', 'o.safetensors', '--colour', 'red'],
  ];
  for (const args of cases) {
    const result = await run(args);
    t.is(result.code, 2, args.join(' '));
    t.is(result.stderr.trim().split('\n').length, 1, result.stderr);
    t.regex(result.stderr, /^flwnet: /);
  }
  const help = await run(['train', '--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /--photos <dir>/);
});

trainerTest('bad data exits 1 and bad hyper-parameters exit 2, each with a clear message', async (t) => {
  const dir = tmpdir(t);
  const photos = await makePhotos(path.join(dir, 'photos'), 2);
  const out = path.join(dir, 'o.safetensors');
  // Exit 1 for data that cannot be used, 2 for option values that cannot work (as every command).
  const cases = [
    [['--photos', path.join(dir, 'missing')], /photos directory .* does not exist/, 1],
    [['--photos', photos, '--crop', '80'], /crop 80 is larger than p0 \(64 x 48/, 2],
    [['--photos', photos, '--exposure', '0.5,0.1'], /degradation.exposure must be/, 2],
    [['--photos', photos, '--lr', '5'], /lr must be a finite number in \(0, 1\]/, 2],
    [['--photos', photos, '--resume'], /cannot read the checkpoint .* does not exist/, 1],
  ];
  for (const [args, message, code] of cases) {
    const result = await run(['train', ...args, '-o', out, '--steps', '3', '--threads', '1']);
    t.is(result.code, code, args.join(' '));
    t.regex(result.stderr, message);
    t.false(fs.existsSync(out));
  }
  // The log of the last run that started (--lr 5; --resume fails before) ends with the error.
  const log = fs.readFileSync(path.join(dir, 'o.log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  t.is(log.at(-1).type, 'error');
  t.regex(log.at(-1).message, /lr must be/);
});

trainerTest('a short run writes the checkpoints, the JSONL log and the curve SVG', async (t) => {
  const dir = tmpdir(t);
  const photos = await makePhotos(path.join(dir, 'photos'));
  const out = path.join(dir, 'mine.safetensors');
  const args = ['train', '--photos', photos, '-o', out, '--steps', '6', '--batch', '2', '--crop', '24', '--val-split', '0.34', '--val-every', '3', '--threads', '2', '--seed', '3'];
  const result = await run(args);
  t.is(result.code, 0, result.stderr);
  t.regex(result.stderr, /validation PSNR [\d.]+ dB at step 0 -> [\d.]+ dB at step 6/);
  t.regex(result.stderr, /trained 6 steps on 2 images; wrote .*mine\.safetensors/);
  for (const suffix of ['safetensors', 'best.safetensors', 'optim.safetensors', 'log.jsonl', 'curve.svg']) {
    t.true(fs.existsSync(path.join(dir, `mine.${suffix}`)), suffix);
  }
  const records = fs.readFileSync(path.join(dir, 'mine.log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  t.is(records[0].type, 'start');
  t.deepEqual(records.filter((r) => r.type === 'step').map((r) => r.step), [1, 2, 3, 4, 5, 6]);
  t.deepEqual(records.filter((r) => r.type === 'validation').map((r) => r.step), [0, 3, 6]);
  t.is(records.at(-1).type, 'end');
  t.is(records.at(-1).stopped, 'completed');
  const step = records.find((r) => r.type === 'step');
  for (const key of ['lr', 'gradNorm', 'mpixPerSecond']) t.true(Number.isFinite(step[key]), key);
  const meta = readSafetensors(fs.readFileSync(out)).metadata;
  const record = JSON.parse(meta.flwnet_training);
  t.is(record.step, 6);
  t.is(record.seed, 3);
  t.is(record.options.batch, 2);
  t.is(record.data.files.length, 3);
  t.truthy(record.metrics.last);
  await loadWeights(path.join(dir, 'mine.best.safetensors'));
  const svg = fs.readFileSync(path.join(dir, 'mine.curve.svg'), 'utf8');
  t.regex(svg, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  t.regex(svg, /validation PSNR \(dB\)/);
  // Resuming with different options is refused and leaves the files alone.
  const before = fs.readFileSync(out);
  const bad = await run([...args.slice(0, -6), '--batch', '3', '--crop', '24', '--val-split', '0.34', '--val-every', '3', '--resume']);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /cannot resume .*batch differ/);
  t.true(fs.readFileSync(out).equals(before));
});

trainerTest('Ctrl-C stops after the current step and writes a checkpoint that resumes', async (t) => {
  const dir = tmpdir(t);
  const photos = await makePhotos(path.join(dir, 'photos'));
  const out = path.join(dir, 'stop.safetensors');
  const child = spawn(process.execPath, [cli, 'train', '--photos', photos, '-o', out, '--steps', '100000', '--batch', '2', '--crop', '24', '--val-every', '100000', '--threads', '1'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  await new Promise((resolve) => {
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      // The progress reporter is throttled: under load its first line may be any step.
      if (/step \d+\/100000/.test(stderr)) resolve();
    });
    child.on('exit', resolve);
  });
  child.kill('SIGINT');
  const code = await exited;
  t.is(code, 130, stderr);
  t.regex(stderr, /stopping after this step/);
  t.regex(stderr, /training was stopped at step \d+; the checkpoint .*stop\.safetensors resumes it/);
  const record = JSON.parse(readSafetensors(fs.readFileSync(out)).metadata.flwnet_training);
  t.is(record.reason, 'aborted');
  t.true(record.step >= 1);
  const optim = readSafetensors(fs.readFileSync(path.join(dir, 'stop.optim.safetensors'))).metadata;
  t.is(Number(optim.next_batch), record.step);
});

test('the curve plot draws loss and PSNR against step', (t) => {
  const loss = Array.from({ length: 300 }, (_, i) => ({ step: i + 1, value: 4 * Math.exp(-i / 80) + 0.1 * Math.sin(i) }));
  const psnr = [0, 100, 200, 300].map((step, i) => ({ step, value: 10 + 3 * i }));
  const svg = trainingCurveSvg({ loss, psnr, title: 'test <run>' });
  t.regex(svg, /^<svg /);
  t.regex(svg, /test &lt;run&gt;/);
  t.is((svg.match(/<circle /g) ?? []).length, 4);
  t.is((svg.match(/<path d="M/g) ?? []).length, 3);
  t.deepEqual(niceTicks(0, 1), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  t.deepEqual(niceTicks(10, 19.5, 4), [10, 12.5, 15, 17.5]);
  const empty = trainingCurveSvg({ loss: [], psnr: [] });
  t.regex(empty, /<\/svg>\n$/);
});
