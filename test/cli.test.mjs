// The command-line tool: help, enhance, exit codes and one-line errors.
import test from 'ava';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { packageRoot, sharedDir, sharedTest, weightsPath } from './helpers/shared.mjs';

const cli = path.join(packageRoot, 'bin', 'flwnet.js');
const run = (args, env = {}) =>
  promisify(execFile)(process.execPath, [cli, ...args], { env: { ...process.env, ...env } }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (err) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
  );
const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'flwnet-cli-'));

test('--help explains the commands; no command is a usage error', async (t) => {
  const help = await run(['--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /flwnet enhance <input>/);
  t.regex(help.stdout, /FLWNET_WEIGHTS/);
  const enhanceHelp = await run(['enhance', '--help']);
  t.regex(enhanceHelp.stdout, /--exposure/);
  t.is((await run([])).code, 2);
});

test('unknown commands and options fail with one line and exit code 2', async (t) => {
  for (const args of [['frobnicate'], ['enhance', 'x.png', '--colour', 'red']]) {
    const result = await run(args);
    t.is(result.code, 2);
    t.is(result.stderr.trim().split('\n').length, 1);
    t.regex(result.stderr, /^flwnet: /);
  }
});

test('a missing input or missing weights fails with a one-line message', async (t) => {
  const noWeights = await run(['enhance', 'nonexistent.png', '--weights', 'nonexistent.safetensors'], { FLWNET_WEIGHTS: '' });
  t.is(noWeights.code, 1);
  t.regex(noWeights.stderr, /^flwnet: weights file not found/);
  t.is(noWeights.stderr.trim().split('\n').length, 1);
});

sharedTest('enhance writes the output file; bad exposure and input fail cleanly', async (t) => {
  const dir = tempDir();
  const out = path.join(dir, 'out.png');
  const input = path.join(sharedDir, 'images', 'lowlight', 'lol_low_1.png');
  const ok = await run(['enhance', input, '-o', out, '--exposure', '0.5', '--device', 'cpu'], { FLWNET_WEIGHTS: weightsPath });
  t.is(ok.code, 0, ok.stderr);
  const meta = await sharp(out).metadata();
  t.is(meta.width, 600);
  t.is(meta.format, 'png');
  const jpg = path.join(dir, 'out.jpg');
  t.is((await run(['enhance', input, '-o', jpg, '--weights', weightsPath, '--quality', '80'])).code, 0);
  t.is((await sharp(jpg).metadata()).format, 'jpeg');
  const badExposure = await run(['enhance', input, '-o', out, '--exposure', '2'], { FLWNET_WEIGHTS: weightsPath });
  t.is(badExposure.code, 2);
  t.regex(badExposure.stderr, /exposure must be/);
  const notImage = path.join(dir, 'x.png');
  fs.writeFileSync(notImage, 'hello');
  const bad = await run(['enhance', notImage, '-o', path.join(dir, 'y.png')], { FLWNET_WEIGHTS: weightsPath });
  t.is(bad.code, 1);
  t.false(fs.existsSync(path.join(dir, 'y.png')));
  t.deepEqual(fs.readdirSync(dir).filter((f) => f.includes('partial')), []);
});
