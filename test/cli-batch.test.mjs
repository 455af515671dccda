// `flwnet enhance` on many inputs: directories, patterns, mirroring, resume, dry run, JSON summary,
// exit codes and interruption.
import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { packageRoot, sharedTest, weightsPath } from './helpers/shared.mjs';

const cli = path.join(packageRoot, 'bin', 'flwnet.js');
const env = { ...process.env, FLWNET_WEIGHTS: weightsPath };
const run = (args, cwd = packageRoot) =>
  promisify(execFile)(process.execPath, [cli, ...args], { env, cwd, maxBuffer: 1 << 26 }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (err) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
  );
const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'flwnet-cli-batch-'));

/**
 * Every file under `dir`, as sorted paths relative to it. A file that goes between the listing and
 * its stat (a running CLI renames its temporary files) is left out rather than thrown on.
 */
function listTree(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { recursive: true })
    .filter((f) => fs.statSync(path.join(dir, f), { throwIfNoEntry: false })?.isFile())
    .map((f) => f.split(path.sep).join('/'))
    .sort();
}

async function writeDarkImage(file, width, height, seed) {
  const data = Buffer.alloc(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = ((i * 7 + seed * 13) % 50) + 5;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const image = sharp(data, { raw: { width, height, channels: 3 } });
  await (file.endsWith('.jpg') ? image.jpeg() : image.png()).toFile(file);
}

/** in/a.png, in/b.jpg, in/sub/c.png, in/sub/deep/d.jpg, plus a text file and a hidden image. */
async function makeTree() {
  const root = tempDir();
  const input = path.join(root, 'in');
  await writeDarkImage(path.join(input, 'a.png'), 40, 30, 1);
  await writeDarkImage(path.join(input, 'b.jpg'), 48, 32, 2);
  await writeDarkImage(path.join(input, 'sub', 'c.png'), 24, 20, 3);
  await writeDarkImage(path.join(input, 'sub', 'deep', 'd.jpg'), 30, 30, 4);
  await writeDarkImage(path.join(input, '.hidden.png'), 8, 8, 5);
  fs.writeFileSync(path.join(input, 'notes.txt'), 'not an image');
  return { root, input, output: path.join(root, 'out') };
}

sharedTest('a directory is enhanced into a mirrored tree; --recursive descends; --json summarises', async (t) => {
  const { input, output } = await makeTree();
  const flat = await run(['enhance', input, '-o', output, '--device', 'cpu']);
  t.is(flat.code, 0, flat.stderr);
  t.deepEqual(listTree(output), ['a.png', 'b.jpg']);
  const deep = await run(['enhance', input, '-o', output, '-r', '--json', '--device', 'cpu']);
  t.is(deep.code, 0, deep.stderr);
  t.deepEqual(listTree(output), ['a.png', 'b.jpg', 'sub/c.png', 'sub/deep/d.jpg']);
  const meta = await sharp(path.join(output, 'sub', 'deep', 'd.jpg')).metadata();
  t.like(meta, { format: 'jpeg', width: 30, height: 30 });
  const summary = JSON.parse(deep.stdout);
  t.like(summary, { ok: true, dryRun: false, aborted: false, total: 4, written: 4, skipped: 0, failed: 0, notRun: 0 });
  t.regex(summary.device, /cpu/);
  t.true(summary.seconds > 0 && summary.imagesPerSecond > 0 && summary.mpixPerSecond > 0);
  t.deepEqual(summary.failures, []);
  t.deepEqual(summary.outputs.map((o) => o.status), ['written', 'written', 'written', 'written']);
  t.deepEqual(summary.outputs.map((o) => path.relative(output, o.output).split(path.sep).join('/')).sort(), listTree(output));
  t.deepEqual(summary.outputs.find((o) => o.input.endsWith('c.png')).output, path.join(output, 'sub', 'c.png'));
});

sharedTest('patterns: *, ? and ** are expanded, mirroring below the fixed part; --format renames', async (t) => {
  const { input, output } = await makeTree();
  const all = await run(['enhance', `${input}/**/*.png`, '-o', output, '--format', 'webp', '--quality', '70']);
  t.is(all.code, 0, all.stderr);
  t.deepEqual(listTree(output), ['a.webp', 'sub/c.webp']);
  t.is((await sharp(path.join(output, 'sub', 'c.webp')).metadata()).format, 'webp');
  const single = path.join(output, 'single');
  const one = await run(['enhance', `${input}/?.jpg`, `${input}/sub/*/d.*`, '-o', single]);
  t.is(one.code, 0, one.stderr);
  t.deepEqual(listTree(single), ['b.jpg', 'deep/d.jpg']); // below the pattern's fixed part, in/sub
});

sharedTest('--dry-run lists the outputs and writes nothing', async (t) => {
  const { input, output } = await makeTree();
  const dry = await run(['enhance', input, '-r', '-o', output, '--dry-run']);
  t.is(dry.code, 0, dry.stderr);
  t.false(fs.existsSync(output));
  const lines = dry.stdout.trim().split('\n').sort();
  t.is(lines.length, 4);
  t.true(lines.includes(`${path.join(input, 'sub', 'c.png')} -> ${path.join(output, 'sub', 'c.png')}`));
  const json = JSON.parse((await run(['enhance', input, '-o', output, '--dry-run', '--json'])).stdout);
  t.like(json, { ok: true, dryRun: true, total: 2, written: 0 });
  t.deepEqual(json.outputs.map((o) => o.status), ['planned', 'planned']);
  t.false(fs.existsSync(output));
});

sharedTest('--skip-existing resumes: existing outputs are left alone', async (t) => {
  const { input, output } = await makeTree();
  t.is((await run(['enhance', input, '-r', '-o', output])).code, 0);
  const kept = path.join(output, 'a.png');
  fs.writeFileSync(kept, 'left from an earlier run');
  fs.rmSync(path.join(output, 'sub', 'c.png'));
  const resumed = await run(['enhance', input, '-r', '-o', output, '--skip-existing', '--json']);
  t.is(resumed.code, 0, resumed.stderr);
  t.like(JSON.parse(resumed.stdout), { total: 4, written: 1, skipped: 3, failed: 0 });
  t.is(fs.readFileSync(kept, 'utf8'), 'left from an earlier run');
  t.true(fs.existsSync(path.join(output, 'sub', 'c.png')));
  const dry = await run(['enhance', input, '-r', '-o', output, '--skip-existing', '--dry-run']);
  t.is(dry.stdout.trim().split('\n').filter((l) => l.endsWith('(exists, skipped)')).length, 4);
});

sharedTest('exit 1 when any image fails, with the failures listed; the rest are written', async (t) => {
  const { input, output } = await makeTree();
  fs.writeFileSync(path.join(input, 'broken.png'), 'not a png');
  const result = await run(['enhance', input, path.join(input, 'nothing-here.jpg'), '-o', output, '--json']);
  t.is(result.code, 1);
  t.deepEqual(listTree(output), ['a.png', 'b.jpg']);
  t.regex(result.stderr, /2 failed:/);
  t.regex(result.stderr, /broken\.png: input is not a readable image/);
  t.regex(result.stderr, /nothing-here\.jpg: no such file/);
  const summary = JSON.parse(result.stdout);
  t.like(summary, { ok: false, written: 2, failed: 2 });
  t.deepEqual(summary.failures.map((f) => path.basename(f.input)).sort(), ['broken.png', 'nothing-here.jpg']);
  t.true(summary.failures.every((f) => f.code === 'ERR_FLWNET_INVALID_INPUT' && typeof f.message === 'string'));
  t.deepEqual(listTree(output).filter((f) => f.includes('partial')), []);
});

test('usage errors exit 2 with one line', async (t) => {
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'a.png'), '');
  fs.mkdirSync(path.join(dir, 'x'));
  fs.mkdirSync(path.join(dir, 'y'));
  fs.writeFileSync(path.join(dir, 'x', 'same.png'), '');
  fs.writeFileSync(path.join(dir, 'y', 'same.png'), '');
  const cases = [
    ['enhance'],
    ['enhance', path.join(dir, 'a.png'), path.join(dir, 'x', 'same.png')], // several inputs need -o
    ['enhance', dir, '-o', path.join(dir, 'out'), '--concurrency', 'many'],
    ['enhance', path.join(dir, 'x'), path.join(dir, 'y'), '-o', path.join(dir, 'out')], // both write out/same.png
    ['enhance', path.join(dir, 'x'), '-o', path.join(dir, 'x')], // would overwrite its inputs
    ['enhance', dir, '--recursiv'],
  ];
  for (const args of cases) {
    const result = await run(args);
    t.is(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
    t.is(result.stderr.trim().split('\n').length, 1);
    t.regex(result.stderr, /^flwnet: /);
  }
  t.regex((await run(['enhance', '--help'])).stdout, /--skip-existing[\s\S]*--dry-run[\s\S]*--json/);
});

sharedTest('SIGINT stops promptly, exits 130 and leaves only complete outputs', async (t) => {
  const root = tempDir();
  const input = path.join(root, 'in');
  const output = path.join(root, 'out');
  await Promise.all(Array.from({ length: 40 }, (_, i) => writeDarkImage(path.join(input, `img-${i}.jpg`), 1200, 900, i)));
  const child = spawn(process.execPath, [cli, 'enhance', input, '-o', output, '--device', 'cpu'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  // Interrupt once the first image has been written, with others in flight.
  await new Promise((resolve) => {
    const poll = setInterval(() => {
      if (listTree(output).some((f) => f.endsWith('.jpg'))) {
        clearInterval(poll);
        resolve();
      }
    }, 10);
  });
  const interruptedAt = performance.now();
  child.kill('SIGINT');
  const { code, signal } = await exited;
  const latency = performance.now() - interruptedAt;
  t.is(signal, null);
  t.is(code, 130, stderr);
  t.true(latency < 3000, `exited ${latency.toFixed(0)} ms after SIGINT`);
  t.regex(stderr, /interrupted after writing \d+ of 40/);
  const files = listTree(output);
  t.deepEqual(files.filter((f) => !f.endsWith('.jpg')), [], 'no partial files');
  t.true(files.length >= 1 && files.length < 40, `${files.length} written`);
  for (const file of files) t.like(await sharp(path.join(output, file)).metadata(), { width: 1200, height: 900 });
});
