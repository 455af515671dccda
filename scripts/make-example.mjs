#!/usr/bin/env node
/**
 * Makes examples/dark.jpg, the README's sample low-light photo, from a CC0 photo of
 * weights/SOURCES.tsv ("seeding" by Clemens Engelhardt, held out from training): downscaled to
 * 800 pixels wide, then darkened by the training's low-light model (lib/train/degrade.ts) with the
 * fixed draws below (1/30 of the light, sensor noise, a cool cast), and saved as JPEG.
 *
 *   node scripts/make-example.mjs [<photos dir>]   (default: the held-out photos of npm run train:default)
 */
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const sharp = require('sharp');
const { degrade } = require('../dist/train/degrade.js');
const { Rng } = require('../dist/train/rng.js');

const PHOTO = 'seeding_by_Clements_Engelhardt.jpg';
const DRAWS = { exposure: 1 / 30, shot: 8e-4, read: 4e-6, blur: 1, gains: [0.88, 1, 1.1], desaturate: 0.2, jpegQuality: 0 };

const dir = process.argv[2] ?? path.join(root, '.train-default', 'holdout-photos');
const { data, info } = await sharp(path.join(dir, PHOTO)).resize({ width: 800 }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
const low = await degrade(new Uint8Array(data), info.width, info.height, DRAWS, Rng.derive(2024));
const out = path.join(root, 'examples', 'dark.jpg');
await sharp(Buffer.from(low), { raw: { width: info.width, height: info.height, channels: 3 } }).jpeg({ quality: 88, mozjpeg: true }).toFile(out);
console.log(`wrote ${out} (${info.width} x ${info.height})`);
