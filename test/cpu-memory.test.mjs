// The CPU engine streams an image through per-tile row rings, so its memory is the input, the
// output and a few megabytes per thread, whatever the image size: a 6000x4000 photo must stay
// well under 1.5 GB of peak resident memory. Measured in a child process of its own, so the
// figure is that one call's and not the test runner's.
import test from 'ava';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { packageRoot } from './helpers/shared.mjs';

const run = promisify(execFile);
const LIMIT_MIB = 1536;

// Runs in the child: one enhanceRaw of a 6000x4000 RGB gradient on the package's own weights.
const program = `
const { Enhancer } = await import(process.argv[1]);
const width = 6000, height = 4000;
const data = new Uint8Array(width * height * 3);
for (let y = 0; y < height; y++) {
  const row = y * width * 3;
  for (let i = 0; i < width * 3; i++) data[row + i] = (i + y) % 61;
}
const engine = await Enhancer.create({ device: 'cpu', threads: 4 });
const out = await engine.enhanceRaw({ data, width, height, channels: 3 });
let sum = 0;
for (let i = 0; i < out.data.length; i += 4099) sum += out.data[i];
await engine.close();
console.log(JSON.stringify({ length: out.data.length, sampledSum: sum, maxRssMiB: process.resourceUsage().maxRSS / 1024 }));
`;

test('a 6000x4000 image stays under 1.5 GB of peak resident memory', async (t) => {
  t.timeout(120_000);
  const entry = pathToFileURL(path.join(packageRoot, 'dist', 'index.js')).href;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', program, entry], { cwd: packageRoot });
  const result = JSON.parse(stdout.trim().split('\n').pop());
  t.log(`peak RSS ${result.maxRssMiB.toFixed(0)} MiB`);
  t.is(result.length, 6000 * 4000 * 3);
  t.true(result.sampledSum > 0, 'the output is not blank');
  t.true(result.maxRssMiB < LIMIT_MIB, `peak RSS ${result.maxRssMiB.toFixed(0)} MiB`);
});
