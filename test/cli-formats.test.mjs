// The command line and formats: in-place overwrite refused, mixed directories (every file enhanced
// or listed by name), stdin/stdout, output extensions, pattern case, exit codes and messages.
import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { packageRoot, sharedDir, sharedTest, weightsPath } from './helpers/shared.mjs';
import { buildBmp } from './helpers/bmp-builder.mjs';

const cli = path.join(packageRoot, 'bin', 'flwnet.js');
const run = (args, env = { FLWNET_WEIGHTS: weightsPath }) =>
  promisify(execFile)(process.execPath, [cli, ...args], { env: { ...process.env, ...env }, maxBuffer: 1 << 26 }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (err) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
  );
const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'flwnet-cli-formats-'));

async function darkImage(width, height, seed) {
  const data = Buffer.alloc(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = ((i * 7 + seed * 13) % 40) + 5;
  return sharp(data, { raw: { width, height, channels: 3 } });
}

/** A directory of JPEG, PNG, BMP, TIFF, WebP, an animated GIF, a text file, a fake HEIC and a hidden file. */
async function mixedDirectory() {
  const dir = path.join(tempDir(), 'in');
  fs.mkdirSync(dir);
  await (await darkImage(40, 30, 1)).jpeg().toFile(path.join(dir, 'a.jpg'));
  await (await darkImage(36, 28, 2)).png().toFile(path.join(dir, 'b.png'));
  fs.writeFileSync(path.join(dir, 'c.bmp'), buildBmp({ bits: 24 }));
  fs.writeFileSync(path.join(dir, 'd.BMP'), buildBmp({ bits: 8, compression: 'rle8' }));
  await (await darkImage(30, 20, 3)).tiff({ compression: 'deflate' }).toFile(path.join(dir, 'e.tif'));
  await (await darkImage(30, 20, 4)).webp().toFile(path.join(dir, 'f.webp'));
  const frames = Buffer.concat([4, 30].map((level) => Buffer.alloc(24 * 16 * 3, level)));
  await sharp(frames, { raw: { width: 24, height: 32, channels: 3, pageHeight: 16 } }).gif({ delay: [100, 100] }).toFile(path.join(dir, 'g.gif'));
  if (fs.existsSync(path.join(sharedDir, 'images', 'lowlight', 'lime_3.bmp'))) {
    fs.copyFileSync(path.join(sharedDir, 'images', 'lowlight', 'lime_3.bmp'), path.join(dir, 'lime_3.bmp'));
  }
  fs.writeFileSync(path.join(dir, 'notes.txt'), 'not an image');
  const heic = Buffer.alloc(64);
  heic.writeUInt32BE(24, 0);
  heic.write('ftypheic', 4, 'latin1');
  fs.writeFileSync(path.join(dir, 'h.heic'), heic);
  fs.writeFileSync(path.join(dir, '.hidden.png'), 'x');
  return dir;
}

sharedTest('a mixed directory: every image is enhanced in its own format; failures and ignored files are named', async (t) => {
  const input = await mixedDirectory();
  const output = path.join(path.dirname(input), 'out');
  const result = await run(['enhance', input, '-o', output, '--json']);
  t.is(result.code, 1, result.stderr); // the HEIC file fails
  const summary = JSON.parse(result.stdout);
  const images = ['a.jpg', 'b.png', 'c.bmp', 'd.BMP', 'e.tif', 'f.webp', 'g.gif', ...(fs.existsSync(path.join(input, 'lime_3.bmp')) ? ['lime_3.bmp'] : [])];
  t.is(summary.written, images.length);
  t.deepEqual(summary.failures.map((f) => path.basename(f.input)), ['h.heic']);
  t.regex(summary.failures[0].message, /HEVC/);
  t.deepEqual(summary.ignored.map((i) => path.basename(i.input)).sort(), ['.hidden.png', 'notes.txt']);
  t.regex(result.stderr, /notes\.txt: not an image file/);
  t.regex(result.stderr, /h\.heic: .*HEVC/);
  const formats = { jpg: 'jpeg', png: 'png', tif: 'tiff', webp: 'webp', gif: 'gif' };
  for (const name of images) {
    const file = path.join(output, name);
    const bytes = fs.readFileSync(file);
    const ext = path.extname(name).slice(1).toLowerCase();
    if (ext === 'bmp') t.is(bytes.subarray(0, 2).toString('latin1'), 'BM', name);
    else t.is((await sharp(bytes).metadata()).format, formats[ext], name);
  }
  t.is((await sharp(path.join(output, 'g.gif')).metadata()).pages, 2);
});

sharedTest('an output that is its own input is refused unless --overwrite (also through links)', async (t) => {
  const dir = tempDir();
  const file = path.join(dir, 'x.jpg');
  await (await darkImage(32, 24, 5)).jpeg().toFile(file);
  const original = fs.readFileSync(file);
  const link = path.join(dir, 'link.jpg');
  fs.symlinkSync(file, link);
  const hard = path.join(dir, 'hard.jpg');
  fs.linkSync(file, hard);
  for (const output of [file, link, hard]) {
    const refused = await run(['enhance', file, '-o', output]);
    t.is(refused.code, 2, output);
    t.regex(refused.stderr, /--overwrite/);
  }
  const refusedMany = await run(['enhance', dir, '-o', dir]);
  t.is(refusedMany.code, 2);
  t.deepEqual(fs.readFileSync(file), original);
  const inPlace = await run(['enhance', file, '-o', file, '--overwrite']);
  t.is(inPlace.code, 0, inPlace.stderr);
  t.notDeepEqual(fs.readFileSync(file), original);
  t.deepEqual(fs.readdirSync(dir).filter((f) => f.includes('partial')), []);
});

sharedTest('"-" reads stdin and writes stdout; -o x.bmp writes BMP; an unknown extension is refused', async (t) => {
  const dir = tempDir();
  const png = await (await darkImage(20, 16, 6)).png().toBuffer();
  const child = spawn(process.execPath, [cli, 'enhance', '-', '-o', '-'], { env: { ...process.env, FLWNET_WEIGHTS: weightsPath } });
  const chunks = [];
  child.stdout.on('data', (c) => chunks.push(c));
  child.stdin.end(png);
  const code = await new Promise((resolve) => child.on('close', resolve));
  t.is(code, 0);
  const meta = await sharp(Buffer.concat(chunks)).metadata();
  t.is(meta.format, 'png');
  t.is(meta.width, 20);
  const input = path.join(dir, 'in.png');
  fs.writeFileSync(input, png);
  t.is((await run(['enhance', input, '-o', path.join(dir, 'out.bmp')])).code, 0);
  t.is(fs.readFileSync(path.join(dir, 'out.bmp')).subarray(0, 2).toString('latin1'), 'BM');
  const unknown = await run(['enhance', input, '-o', path.join(dir, 'out.xyz')]);
  t.is(unknown.code, 2);
  t.regex(unknown.stderr, /cannot tell the output format from "\.xyz"/);
  t.false(fs.existsSync(path.join(dir, 'out.xyz')));
});

test('patterns match extensions without regard to case, like directory scans', async (t) => {
  const dir = tempDir();
  for (const name of ['A.JPG', 'b.jpg', 'c.Jpg']) fs.writeFileSync(path.join(dir, name), 'x');
  const result = await run(['enhance', path.join(dir, '*.jpg'), '-o', path.join(dir, 'out'), '--dry-run', '--json'], {});
  t.is(result.code, 0, result.stderr);
  t.deepEqual(JSON.parse(result.stdout).outputs.map((o) => path.basename(o.input)), ['A.JPG', 'b.jpg', 'c.Jpg']);
});

test('bad option values exit 2 with one line; without --weights the default weights run; a failed file is named', async (t) => {
  for (const args of [
    ['enhance', 'x.png', '--threads', '-1'],
    ['enhance', 'x.png', '--threads=-1'],
    ['enhance', 'x.png', '--exposure', '0x1'],
    ['enhance', 'x.png', '--exposure', '2'],
    ['enhance', 'x.png', '--format', 'png', '--quality', '50'],
  ]) {
    const result = await run(args, { FLWNET_WEIGHTS: 'unused.pth' });
    t.is(result.code, 2, args.join(' '));
    t.is(result.stderr.trim().split('\n').length, 1, result.stderr);
  }
  // Without --weights the package's own weights run: the failure is the missing file, named.
  const noWeights = await run(['enhance', 'x.png'], { FLWNET_WEIGHTS: '' });
  t.is(noWeights.code, 1);
  t.regex(noWeights.stderr, /x\.png/);
  t.notRegex(noWeights.stderr, /no weights given|\{ weights/);
  const noEvalWeights = await run(['eval', '--low', '.', '--reference', '.'], { FLWNET_WEIGHTS: '' });
  t.notRegex(noEvalWeights.stderr, /no weights given/);
});

sharedTest('a single file that fails is named in the message', async (t) => {
  const dir = tempDir();
  const bad = path.join(dir, 'broken.png');
  fs.writeFileSync(bad, 'not a png');
  const result = await run(['enhance', bad, '-o', path.join(dir, 'out.png')]);
  t.is(result.code, 1);
  t.true(result.stderr.includes(bad), result.stderr);
});
