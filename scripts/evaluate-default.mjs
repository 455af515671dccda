#!/usr/bin/env node
/**
 * Validation of the default weights (MODEL.md's numbers):
 *
 *   node scripts/evaluate-default.mjs [--holdout <dir>] [--compare <weights>] [--real <dir>] [--sheet <out.jpg>] [--json <out.json>]
 *
 * - Held-out synthetic pairs (<dir>/low, <dir>/high; default .train-default/holdout, made by
 *   `npm run train:default`): PSNR and SSIM of the default weights, and of --compare weights (e.g. the
 *   published checkpoint), at the reference's exposure, at fixed exposures and with 'auto'.
 * - Real low-light photos (--real): mean brightness (mean of max(R, G, B) / 255) before and after.
 * - --sheet: a contact sheet of held-out examples made from CC0 photos (input, --compare at 0.4,
 *   default weights at 0.4 and with auto exposure).
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { Enhancer, evaluate } = require('../dist/index.js');
const { DEFAULT_WEIGHTS_PATH, meanBrightness } = require('../dist/exposure/index.js');
const sharp = require('sharp');

const FIXED = [0.2, 0.3, 0.4, 0.5, 0.6];
/** Held-out photos under CC0 (SOURCES.tsv): only these appear in the committed contact sheet. */
const CC0_PREFIXES = ['seeding_by_Clements_Engelhardt', 'skimage-coffee'];

async function readRaw(file) {
  const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data), width: info.width, height: info.height, channels: 3 };
}

async function loadPairs(dir) {
  const names = fs.readdirSync(path.join(dir, 'low')).filter((f) => /\.(png|jpe?g)$/i.test(f)).sort();
  return Promise.all(names.map(async (name) => ({
    name, low: await readRaw(path.join(dir, 'low', name)), high: await readRaw(path.join(dir, 'high', name)),
  })));
}

function clampUnit(values) {
  for (let i = 0; i < values.length; i++) values[i] = Math.min(1, Math.max(0, values[i]));
  return values;
}

async function scorePairs(enhancer, pairs, exposureFor) {
  let psnr = 0;
  let ssim = 0;
  const chosen = [];
  for (const pair of pairs) {
    const exposure = await exposureFor(pair);
    chosen.push(exposure);
    const out = await enhancer.enhanceRaw(pair.low, { exposure, output: 'float32' });
    const m = await evaluate({ ...out, data: clampUnit(out.data) }, pair.high, { device: 'cpu' });
    psnr += m.psnr / pairs.length;
    ssim += m.ssim / pairs.length;
  }
  return { psnr, ssim, meanExposure: chosen.reduce((a, b) => a + b, 0) / chosen.length };
}

async function syntheticTable(enhancer, pairs) {
  const rows = {};
  rows.reference = await scorePairs(enhancer, pairs, (p) => meanBrightness(p.high.data));
  for (const e of FIXED) rows[String(e)] = await scorePairs(enhancer, pairs, () => e);
  rows.auto = await scorePairs(enhancer, pairs, async (p) => (await enhancer.inspect(p.low, { exposure: 'auto' })).exposure);
  return rows;
}

async function realPhotos(enhancers, dir) {
  const out = [];
  for (const file of fs.readdirSync(dir).sort()) {
    let image;
    try {
      image = await readRaw(path.join(dir, file));
    } catch (err) {
      console.log(`${file}: left out, sharp cannot read it (${err.message})`);
      continue;
    }
    const row = { file, before: meanBrightness(image.data) };
    for (const [label, enhancer] of Object.entries(enhancers)) {
      for (const exposure of [0.4, 'auto']) {
        const chosen = exposure === 'auto' ? (await enhancer.inspect(image, { exposure })).exposure : exposure;
        const result = await enhancer.enhanceRaw(image, { exposure: chosen });
        row[`${label}@${exposure}`] = { exposure: chosen, after: meanBrightness(result.data) };
      }
    }
    out.push(row);
  }
  return out;
}

/** Rows of [input, compare@0.4, ours@0.4, ours@auto], each cell `cell` pixels wide. */
async function contactSheet(pairs, enhancers, file, cell = 200) {
  const chosen = pairs.filter((p) => CC0_PREFIXES.some((prefix) => p.name.startsWith(prefix)));
  const tiles = [];
  for (const pair of chosen) {
    const images = [pair.low];
    if (enhancers.compare) images.push(await enhancers.compare.enhanceRaw(pair.low, { exposure: 0.4 }));
    images.push(await enhancers.ours.enhanceRaw(pair.low, { exposure: 0.4 }));
    images.push(await enhancers.ours.enhanceRaw(pair.low, { exposure: (await enhancers.ours.inspect(pair.low, { exposure: 'auto' })).exposure }));
    images.push(pair.high);
    tiles.push(await Promise.all(images.map((im) => sharp(Buffer.from(im.data), { raw: { width: im.width, height: im.height, channels: 3 } }).resize({ width: cell }).png().toBuffer())));
  }
  const height = Math.round((cell * pairs[0].low.height) / pairs[0].low.width);
  const metas = await Promise.all(tiles.map((row) => sharp(row[0]).metadata()));
  const rowHeights = metas.map((m) => m.height);
  const composites = [];
  let y = 0;
  tiles.forEach((row, r) => {
    row.forEach((input, c) => composites.push({ input, left: c * cell, top: y }));
    y += rowHeights[r] ?? height;
  });
  await sharp({ create: { width: cell * tiles[0].length, height: y, channels: 3, background: '#000' } })
    .composite(composites).jpeg({ quality: 72, mozjpeg: true }).toFile(file);
  return chosen.length;
}

async function main() {
  const { values } = parseArgs({ options: {
    holdout: { type: 'string' }, compare: { type: 'string' }, real: { type: 'string' }, sheet: { type: 'string' },
    json: { type: 'string' }, weights: { type: 'string' }, threads: { type: 'string' },
  } });
  const threads = Number(values.threads ?? 1);
  const pairs = await loadPairs(values.holdout ?? path.join(root, '.train-default', 'holdout'));
  const enhancers = { ours: await Enhancer.create({ weights: values.weights ?? DEFAULT_WEIGHTS_PATH, device: 'cpu', threads }) };
  if (values.compare) enhancers.compare = await Enhancer.create({ weights: values.compare, device: 'cpu', threads });
  const report = { pairs: pairs.length, synthetic: {}, real: undefined };
  for (const [label, enhancer] of Object.entries(enhancers)) {
    report.synthetic[label] = await syntheticTable(enhancer, pairs);
    console.log(label, enhancer.weights.source, `(auto exposure: ${enhancer.autoExposureSource}'s predictor)`);
    for (const [k, v] of Object.entries(report.synthetic[label])) console.log(`  ${k.padEnd(9)} PSNR ${v.psnr.toFixed(2)} dB  SSIM ${v.ssim.toFixed(4)}  mean exposure ${v.meanExposure.toFixed(3)}`);
  }
  if (values.real) {
    report.real = await realPhotos(enhancers, values.real);
    for (const r of report.real) {
      console.log(`${r.file.padEnd(16)} before ${r.before.toFixed(3)}  ${Object.entries(r).filter(([k]) => k.includes('@')).map(([k, v]) => `${k} -> ${v.after.toFixed(3)} (e ${v.exposure.toFixed(3)})`).join('  ')}`);
    }
  }
  if (values.sheet) console.log(`contact sheet: ${await contactSheet(pairs, enhancers, values.sheet)} rows -> ${values.sheet}`);
  if (values.json) fs.writeFileSync(values.json, `${JSON.stringify(report, null, 2)}\n`);
  for (const e of Object.values(enhancers)) await e.close();
}

main().catch((err) => {
  process.stderr.write(`evaluate-default: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
