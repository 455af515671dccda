// The default weights' sources: SOURCES.tsv parses, every CC BY photo is attributed in NOTICE, and
// the recipe refuses photos whose bytes differ from the recorded sha256.
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { packageRoot } from './helpers/shared.mjs';

const { readSources, preparePhotos } = await import('../scripts/training-photos.mjs');

test('SOURCES.tsv lists 13 photos with sha256, Debian source, licence and split; NOTICE attributes every CC BY one', (t) => {
  const rows = readSources();
  t.is(rows.length, 13);
  t.is(rows.filter((r) => r.split === 'train').length, 10);
  t.is(rows.filter((r) => r.split === 'holdout').length, 3);
  const notice = fs.readFileSync(path.join(packageRoot, 'NOTICE'), 'utf8');
  for (const r of rows) {
    t.regex(r.sha256, /^[0-9a-f]{64}$/);
    t.true(['lomiri-wallpapers-16.04', 'python3-skimage'].includes(r.pkg), r.pkg);
    t.true(['CC-BY-4.0', 'CC0-1.0', 'public domain'].includes(r.licence), r.licence);
    if (r.licence === 'CC-BY-4.0') t.true(notice.includes(r.author) && notice.includes(r.path), `${r.file} is not attributed in NOTICE`);
  }
  const pkg = JSON.parse(fs.readFileSync(path.join(packageRoot, 'package.json'), 'utf8'));
  for (const f of ['NOTICE', 'MODEL.md', 'weights/flwnet-default.safetensors', 'weights/SOURCES.tsv']) t.true(pkg.files.includes(f), f);
});

test('the recipe refuses a photo whose sha256 differs from SOURCES.tsv', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flwnet-photos-'));
  for (const r of readSources()) fs.writeFileSync(path.join(dir, r.file), 'not the photo');
  const saved = process.env.FLWNET_TRAINING_PHOTOS;
  process.env.FLWNET_TRAINING_PHOTOS = dir;
  try {
    t.throws(() => preparePhotos(path.join(dir, 'work')), { message: /sha256 [0-9a-f]{64} differs from SOURCES\.tsv/ });
  } finally {
    if (saved === undefined) delete process.env.FLWNET_TRAINING_PHOTOS;
    else process.env.FLWNET_TRAINING_PHOTOS = saved;
  }
});
