#!/usr/bin/env node
/**
 * The photos the default weights are trained on, checked against weights/SOURCES.tsv and split
 * into the training photos and the held-out photos.
 *
 *   node scripts/training-photos.mjs <workdir>
 *
 * Takes the photos from $FLWNET_TRAINING_PHOTOS, else ../shared/training/photos, else fetches
 * them from Debian (`apt-get download <package>=<version>`, `dpkg-deb -x`), exactly the packages
 * and paths SOURCES.tsv names. Every file's sha256 must match SOURCES.tsv: a photo that differs
 * stops the recipe (the weights would not be the shipped ones). Writes <workdir>/train/ and
 * <workdir>/holdout-photos/ (copies) and prints what it used.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const SOURCES_FILE = path.join(root, 'weights', 'SOURCES.tsv');

/** SOURCES.tsv rows: file, sha256, pixels, package, version, path, author, licence, split. */
export function readSources(file = SOURCES_FILE) {
  const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '');
  return lines.slice(1).map((line) => {
    const [name, sha256, pixels, source, author, licence, split] = line.split('\t');
    const match = /^(\S+) (\S+): (\S+)$/.exec(source ?? '');
    if (!match || !/^[0-9a-f]{64}$/.test(sha256 ?? '') || (split !== 'train' && split !== 'holdout')) {
      throw new Error(`${file}: malformed row: ${line}`);
    }
    return { file: name, sha256, pixels, pkg: match[1], version: match[2], path: match[3], author, licence, split };
  });
}

function sha256Of(file) {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** Downloads each package once into <cache>/debs and extracts it into <cache>/root. */
function fetchFromDebian(rows, cache) {
  const debs = path.join(cache, 'debs');
  const extracted = path.join(cache, 'root');
  fs.mkdirSync(debs, { recursive: true });
  fs.mkdirSync(extracted, { recursive: true });
  const packages = [...new Map(rows.map((r) => [`${r.pkg}=${r.version}`, r])).keys()];
  for (const spec of packages) {
    const [name] = spec.split('=');
    let deb = fs.readdirSync(debs).find((f) => f.startsWith(`${name}_`) && f.endsWith('.deb'));
    if (!deb) {
      process.stderr.write(`fetching ${spec} from Debian\n`);
      execFileSync('apt-get', ['download', spec], { cwd: debs, stdio: ['ignore', 'inherit', 'inherit'] });
      deb = fs.readdirSync(debs).find((f) => f.startsWith(`${name}_`) && f.endsWith('.deb'));
      if (!deb) throw new Error(`apt-get download ${spec} left no .deb`);
    }
    execFileSync('dpkg-deb', ['-x', path.join(debs, deb), extracted]);
  }
  return (row) => path.join(extracted, row.path);
}

function sourceDirectory() {
  if (process.env.FLWNET_TRAINING_PHOTOS) return process.env.FLWNET_TRAINING_PHOTOS;
  const shared = path.join(process.env.FLWNET_SHARED ?? path.join(root, '..', 'shared'), 'training', 'photos');
  return fs.existsSync(shared) ? shared : undefined;
}

/** Copies every photo of SOURCES.tsv into <workdir>/train or <workdir>/holdout-photos, checked by sha256. */
export function preparePhotos(workdir) {
  const rows = readSources();
  const dir = sourceDirectory();
  const locate = dir ? (row) => path.join(dir, row.file) : fetchFromDebian(rows, path.join(workdir, 'debian'));
  const out = { train: path.join(workdir, 'train'), holdout: path.join(workdir, 'holdout-photos') };
  for (const d of Object.values(out)) {
    fs.rmSync(d, { recursive: true, force: true });
    fs.mkdirSync(d, { recursive: true });
  }
  for (const row of rows) {
    const from = locate(row);
    if (!fs.existsSync(from)) throw new Error(`${row.file}: not found at ${from}`);
    const digest = sha256Of(from);
    if (digest !== row.sha256) throw new Error(`${row.file}: sha256 ${digest} differs from SOURCES.tsv (${row.sha256})`);
    fs.copyFileSync(from, path.join(row.split === 'train' ? out.train : out.holdout, row.file));
  }
  process.stderr.write(`photos from ${dir ?? 'Debian'}: ${rows.filter((r) => r.split === 'train').length} for training, ${rows.filter((r) => r.split === 'holdout').length} held out, all sha256 checked\n`);
  return { ...out, rows };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const workdir = process.argv[2];
  if (!workdir) {
    process.stderr.write('usage: node scripts/training-photos.mjs <workdir>\n');
    process.exit(2);
  }
  try {
    preparePhotos(path.resolve(workdir));
  } catch (err) {
    process.stderr.write(`training-photos: ${err.message}\n`);
    process.exit(1);
  }
}
