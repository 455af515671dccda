#!/usr/bin/env node
/**
 * `npm run train:default`: regenerates weights/flwnet-default.safetensors from the photos of
 * weights/SOURCES.tsv, from random initialisation, with the recipe below (MODEL.md explains it).
 *
 *   npm run train:default [-- --workdir <dir>] [-- --threads <n>] [-- --out <file>]
 *
 * The photos come from $FLWNET_TRAINING_PHOTOS, ../shared/training/photos, or Debian (see
 * scripts/training-photos.mjs); their sha256 are checked. The held-out photos are turned into
 * fixed, seeded low-light pairs (<workdir>/holdout/{low,high}) used for validation during the run
 * and by scripts/evaluate-default.mjs. A run is a pure function of the seed, the photos and the
 * settings; batches do not depend on the thread count.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { preparePhotos } from './training-photos.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The recipe of the shipped weights. Changing any value changes the file. */
export const RECIPE = Object.freeze({
  seed: 1,
  steps: 2500,
  batch: 16,
  crop: 64,
  lr: 1.5e-3,
  maxSide: 640,
  // Darker, noisier, more correlated and more colour-shifted than the trainer's defaults: real
  // low frames are ~1/50 of the reference in linear light, with demosaicked, denoised, compressed
  // noise and a cool grey cast (see MODEL.md).
  degradation: {
    exposure: '0.008,0.5',
    'shot-noise': '1e-4,6e-3',
    'noise-blur': '0,1.5',
    cast: '0.1',
    desaturate: '0.4',
    jpeg: '0.7',
    'jpeg-quality': '60,95',
  },
  holdout: { seed: 7, perPhoto: 4 },
});

export function degradationModel() {
  const pair = (s) => s.split(',').map(Number);
  const d = RECIPE.degradation;
  return {
    exposure: pair(d.exposure), shotNoise: pair(d['shot-noise']), readNoise: 'coupled', noiseBlur: pair(d['noise-blur']),
    cast: Number(d.cast), desaturate: Number(d.desaturate), jpegProbability: Number(d.jpeg), jpegQuality: pair(d['jpeg-quality']),
  };
}

/** Held-out pairs: each held-out photo, downscaled like the training photos, degraded perPhoto times with seeded draws. */
export async function makeHoldoutPairs(photoDir, outDir) {
  const { loadPhotoSet } = require('../dist/train/data.js');
  const { degrade, sampleDegradation } = require('../dist/train/degrade.js');
  const { Rng } = require('../dist/train/rng.js');
  const sharp = require('sharp');
  const set = await loadPhotoSet(photoDir, { maxSide: RECIPE.maxSide });
  const model = degradationModel();
  for (const side of ['low', 'high']) {
    fs.rmSync(path.join(outDir, side), { recursive: true, force: true });
    fs.mkdirSync(path.join(outDir, side), { recursive: true });
  }
  for (const [i, image] of set.images.entries()) {
    const raw = { raw: { width: image.width, height: image.height, channels: 3 } };
    for (let k = 0; k < RECIPE.holdout.perPhoto; k++) {
      const rng = Rng.derive(RECIPE.holdout.seed, i, k);
      const low = await degrade(image.high, image.width, image.height, sampleDegradation(model, rng), rng);
      const name = `${image.name}-${k}.png`;
      await sharp(Buffer.from(low), raw).png().toFile(path.join(outDir, 'low', name));
      await sharp(Buffer.from(image.high), raw).png().toFile(path.join(outDir, 'high', name));
    }
  }
  return set.images.length * RECIPE.holdout.perPhoto;
}

function trainArguments(workdir, out, threads) {
  const args = [
    path.join(root, 'bin', 'flwnet.js'), 'train', '--photos', path.join(workdir, 'train'), '--val', path.join(workdir, 'holdout'),
    '-o', out, '--seed', String(RECIPE.seed), '--steps', String(RECIPE.steps), '--batch', String(RECIPE.batch),
    '--crop', String(RECIPE.crop), '--lr', String(RECIPE.lr), '--max-side', String(RECIPE.maxSide), '--threads', String(threads),
  ];
  for (const [key, value] of Object.entries(RECIPE.degradation)) args.push(`--${key}`, value);
  return args;
}

import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);

async function main() {
  const { values } = parseArgs({
    options: {
      workdir: { type: 'string' }, threads: { type: 'string' }, out: { type: 'string' }, 'prepare-only': { type: 'boolean' },
      'exposure-only': { type: 'boolean' },
    },
  });
  const workdir = path.resolve(values.workdir ?? path.join(root, '.train-default'));
  const threads = Number(values.threads ?? 1);
  const out = path.resolve(values.out ?? path.join(root, 'weights', 'flwnet-default.safetensors'));
  fs.mkdirSync(workdir, { recursive: true });
  preparePhotos(workdir);
  const pairs = await makeHoldoutPairs(path.join(workdir, 'holdout-photos'), path.join(workdir, 'holdout'));
  process.stderr.write(`${pairs} held-out pairs in ${path.join(workdir, 'holdout')}\n`);
  if (values['prepare-only']) return;
  const run = path.join(workdir, 'flwnet-default.safetensors');
  if (values['exposure-only']) {
    // (Re)fits only the exposure predictor of a finished run, exactly as `flwnet train` does at its end.
    const { addPredictorAfterTraining } = require('../dist/exposure/train.js');
    const fit = await addPredictorAfterTraining({ data: { photos: path.join(workdir, 'train') }, maxSide: RECIPE.maxSide, degradation: degradationModel() }, RECIPE.seed, threads, [run]);
    process.stderr.write(`exposure predictor: ${fit.samples} samples, RMS error ${fit.rmse.toFixed(4)} (a constant: ${fit.constantRmse.toFixed(4)})\n`);
    fs.copyFileSync(run, out);
    process.stderr.write(`wrote ${out}\n`);
    return;
  }
  for (const f of fs.readdirSync(workdir)) if (f.startsWith('flwnet-default.')) fs.rmSync(path.join(workdir, f));
  execFileSync(process.execPath, trainArguments(workdir, run, threads), { stdio: 'inherit' });
  fs.copyFileSync(run, out);
  process.stderr.write(`wrote ${out}\n`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    process.stderr.write(`train-default: ${err.message}\n`);
    process.exit(1);
  });
}
