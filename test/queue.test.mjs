// Queue workers on a real Redis (own instance, free loopback port): workers are child processes
// (`flwnet worker`), outputs are byte-compared with a local Enhancer, and the faults are real: a
// worker SIGKILLed mid-job, Redis killed and restarted mid-batch, a poison image, unwritable outputs.
import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { haveShared, haveWeights, packageRoot, sharedDir, weightsPath } from './helpers/shared.mjs';
import { redisTest, startRedis } from './helpers/redis.mjs';
import { encodeBmp } from '../dist/bmp.js';

const require = createRequire(import.meta.url);
const { Enhancer } = require('../dist/index.js');
const { submitBatch } = require('../dist/queue/index.js');
const { Queue } = require('bullmq');

const cli = path.join(packageRoot, 'bin', 'flwnet.js');
const ready = haveShared && haveWeights;
const queueTest = (title, fn) =>
  ready ? redisTest(title, fn) : test.skip(`${title} — skipped: reference material not found at ${sharedDir}`, () => {});

let redis;
let inputs = [];
let expected = new Map(); // input path -> expected output bytes
let work;
const children = new Set();

test.before(async () => {
  if (!ready) return;
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'flwnet-queue-'));
  fs.mkdirSync(path.join(work, 'in'));
  const photos = fs.readdirSync(path.join(sharedDir, 'images', 'lowlight')).filter((n) => n.endsWith('.jpg')).sort();
  // Real photos, downscaled so the batch fits the time of a test on two busy cores.
  for (const name of photos) {
    const file = path.join(work, 'in', name);
    await sharp(path.join(sharedDir, 'images', 'lowlight', name)).resize(240).jpeg({ quality: 92 }).toFile(file);
    inputs.push(file);
  }
  const enhancer = await Enhancer.create({ weights: weightsPath, device: 'cpu', threads: 1 });
  for (const file of inputs) expected.set(file, await enhancer.enhance(fs.readFileSync(file)));
  await enhancer.close();
});

test.after.always(async () => {
  for (const child of children) child.kill('SIGKILL');
  await redis?.close();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

async function ensureRedis() {
  redis ??= await startRedis({ persistent: true });
  return redis;
}

/** Starts `flwnet worker` (logging each job) and resolves once it says it is ready, within a minute. */
function startWorker(url, queue, extra = []) {
  const child = spawn(process.execPath, [
    cli, 'worker', '--redis', url, '--queue', queue, '--device', 'cpu', '--threads', '1', '--weights', weightsPath,
    '--lock-duration', '1500', '--stalled-interval', '500', '--shutdown-timeout', '5000', '--verbose', ...extra,
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.on('exit', () => children.delete(child));
  let output = '';
  child.log = () => output;
  return new Promise((resolve, reject) => {
    const late = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`worker not ready within 60 s: ${output}`));
    }, 60_000);
    child.stdout.on('data', (d) => {
      output += d;
      if (output.includes('worker ready')) {
        clearTimeout(late);
        resolve(child);
      }
    });
    child.stderr.on('data', (d) => (output += d));
    child.once('exit', (code) => {
      clearTimeout(late);
      reject(new Error(`worker exited (${code}) before ready: ${output}`));
    });
  });
}

/**
 * SIGTERM, and the exit code. A worker still running 20 s later is killed, and the answer says so
 * with its output (its own shutdown is bounded at 5 s), so a test fails instead of waiting forever.
 */
async function stopWorker(child) {
  if (child.exitCode !== null || child.signalCode) return child.exitCode;
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  let timer;
  const late = new Promise((resolve) => (timer = setTimeout(() => resolve('late'), 20_000)));
  const outcome = await Promise.race([exited, late]);
  clearTimeout(timer);
  if (outcome !== 'late') return outcome;
  child.kill('SIGKILL');
  await exited;
  return `still running 20 s after SIGTERM: ${child.log().slice(-3000)}`;
}

function jobsFor(dir, copies = 1) {
  const items = [];
  for (let c = 0; c < copies; c++) {
    for (const input of inputs) items.push({ input, output: path.join(dir, `${c}-${path.basename(input)}`) });
  }
  return items;
}

/**
 * Follows a batch to its end, calling `onResult` for each result. Past `deadlineMs` it throws with
 * every unfinished job's state and the workers' output, so a stuck batch fails the test with what
 * it needs to be understood instead of hanging the run.
 */
async function follow(batch, { workers = [], deadlineMs = 90_000, onResult = async () => {} } = {}) {
  const results = [];
  const iterator = batch.results();
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    let timer;
    const late = new Promise((resolve) => (timer = setTimeout(() => resolve('late'), Math.max(0, deadline - Date.now()))));
    const next = await Promise.race([iterator.next(), late]);
    clearTimeout(timer);
    if (next === 'late') {
      const done = new Set(results.map((r) => r.index));
      const states = [];
      for (let i = 0; i < batch.total; i++) {
        if (!done.has(i)) states.push(`${batch.jobId(i)}: ${await Promise.race([batch.status(i), new Promise((r) => setTimeout(() => r('(no answer)'), 2000))])}`);
      }
      const logs = workers.map((w, k) => `worker ${k} (exit ${w.exitCode ?? w.signalCode}):\n${w.log().slice(-3000)}`);
      await batch.close(); // bounded: with Redis gone it drops the connection after 5 s
      throw new Error(`the batch did not finish within ${deadlineMs} ms; ${results.length} of ${batch.total} results.\nunfinished: ${states.join(', ')}\n${logs.join('\n')}`);
    }
    if (next.done) break;
    results.push(next.value);
    await onResult(next.value, results);
  }
  await batch.close();
  return results;
}

async function collect(batch, workers) {
  const results = await follow(batch, { workers });
  return results.sort((a, b) => a.index - b.index);
}

function checkOutputs(t, items) {
  for (const { input, output } of items) {
    t.true(Buffer.from(expected.get(input)).equals(fs.readFileSync(output)), `${output} differs from the local result`);
  }
  for (const dir of new Set(items.map((i) => path.dirname(i.output)))) {
    const leftovers = fs.readdirSync(dir).filter((n) => n.endsWith('.partial'));
    t.deepEqual(leftovers, [], `partial files left in ${dir}`);
  }
}

let queueCount = 0;
const newQueue = () => `t${process.pid}q${queueCount++}`;

queueTest('two workers finish a batch with outputs identical to local enhance; resubmission writes nothing', async (t) => {
  const { url } = await ensureRedis();
  const queue = newQueue();
  const workers = await Promise.all([startWorker(url, queue), startWorker(url, queue)]);
  const out = path.join(work, 'two-workers');
  const items = jobsFor(out, 2);
  const results = await collect(await submitBatch(items, { redis: url, queue, pollIntervalMs: 50 }), workers);
  t.is(results.length, items.length);
  t.true(results.every((r) => r.ok && r.status === 'written'), JSON.stringify(results.filter((r) => !r.ok)));
  t.is(new Set(results.map((r) => r.worker)).size, 2, 'both workers took jobs');
  checkOutputs(t, items);

  const mtimes = items.map((i) => fs.statSync(i.output).mtimeMs);
  const again = await collect(await submitBatch(items, { redis: url, queue, skipExisting: true, pollIntervalMs: 50 }), workers);
  t.true(again.every((r) => r.ok && r.status === 'exists'));
  t.deepEqual(items.map((i) => fs.statSync(i.output).mtimeMs), mtimes, 'no output was rewritten');
  t.deepEqual(await Promise.all(workers.map(stopWorker)), [0, 0], 'SIGTERM: workers exit 0');
});

queueTest('a BMP input is enhanced and reported at its size; an item in a lossless format leaves out the batch quality', async (t) => {
  const { url } = await ensureRedis();
  const queue = newQueue();
  const worker = await startWorker(url, queue);
  const out = path.join(work, 'bmp-and-lossless');
  fs.mkdirSync(out, { recursive: true });
  const { data, info } = await sharp(inputs[0]).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const bmp = path.join(work, 'photo.bmp');
  fs.writeFileSync(bmp, encodeBmp(data, info.width, info.height, 3));
  const items = [
    { input: bmp, output: path.join(out, 'from-bmp.jpg'), format: 'jpeg' },
    { input: inputs[0], output: path.join(out, 'lossless.png'), format: 'png' },
  ];
  const results = await collect(await submitBatch(items, { redis: url, queue, quality: 80, pollIntervalMs: 50 }), [worker]);
  t.true(results.every((r) => r.ok && r.status === 'written'), JSON.stringify(results.filter((r) => !r.ok)));
  t.deepEqual([results[0].width, results[0].height], [info.width, info.height]);
  const enhancer = await Enhancer.create({ weights: weightsPath, device: 'cpu', threads: 1 });
  const local = [
    await enhancer.enhance(fs.readFileSync(bmp), { format: 'jpeg', quality: 80 }),
    await enhancer.enhance(fs.readFileSync(inputs[0]), { format: 'png' }),
  ];
  await enhancer.close();
  items.forEach((item, i) => t.true(Buffer.from(local[i]).equals(fs.readFileSync(item.output)), `${item.output} differs from the local result`));
  await t.throwsAsync(submitBatch(items, { redis: url, queue, format: 'png', quality: 80 }), { code: 'ERR_FLWNET_INVALID_OPTION' });
  t.is(await stopWorker(worker), 0);
});

queueTest('a poison image fails at once with its error, an unwritable output is retried a bounded number of times, the batch goes on', async (t) => {
  const { url } = await ensureRedis();
  const queue = newQueue();
  const worker = await startWorker(url, queue, ['--concurrency', '2']);
  const out = path.join(work, 'poison');
  const poison = path.join(work, 'poison.jpg');
  fs.writeFileSync(poison, Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(500, 7)]));
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, 'blocked'), 'a file where a directory should be');
  const good = jobsFor(out);
  const items = [...good, { input: poison, output: path.join(out, 'poison.jpg') }, { input: inputs[0], output: path.join(out, 'blocked', 'x.jpg') }];
  const results = await collect(await submitBatch(items, { redis: url, queue, attempts: 3, backoffMs: 50, pollIntervalMs: 50 }), [worker]);
  t.true(results.slice(0, good.length).every((r) => r.ok));
  checkOutputs(t, good);
  const poisoned = results[good.length];
  t.false(poisoned.ok);
  t.is(poisoned.error.code, 'ERR_FLWNET_INVALID_INPUT');
  t.is(poisoned.attempts, 1, 'a bad image is not retried');
  t.false(fs.existsSync(path.join(out, 'poison.jpg')));
  const blocked = results[good.length + 1];
  t.false(blocked.ok);
  t.is(blocked.error.code, 'ERR_FLWNET_IO');
  t.is(blocked.attempts, 3, 'a storage error is retried, up to the attempts');
  t.is(await stopWorker(worker), 0);
});

queueTest('flwnet enhance --queue: progress, summary, and exit 1 when an image failed', async (t) => {
  const { url } = await ensureRedis();
  const queue = newQueue();
  const worker = await startWorker(url, queue);
  const dir = path.join(work, 'cli-in');
  fs.mkdirSync(dir, { recursive: true });
  for (const input of inputs) fs.copyFileSync(input, path.join(dir, path.basename(input)));
  const run = (args) =>
    promisify(execFile)(process.execPath, [cli, 'enhance', dir, ...args], { maxBuffer: 1 << 24 }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (err) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
    );
  const out = path.join(work, 'cli-out');
  const ok = await run(['-o', out, '--queue', url, '--queue-name', queue, '--json']);
  t.is(ok.code, 0, ok.stderr);
  const summary = JSON.parse(ok.stdout);
  t.is(summary.written, inputs.length);
  checkOutputs(t, inputs.map((input) => ({ input, output: path.join(out, path.basename(input)) })));
  const resumed = await run(['-o', out, '--queue', url, '--queue-name', queue, '--skip-existing']);
  t.is(resumed.code, 0);
  t.regex(resumed.stderr, new RegExp(`${inputs.length} skipped`));

  fs.writeFileSync(path.join(dir, 'zz-poison.jpg'), 'not an image');
  const failed = await run(['-o', path.join(work, 'cli-out2'), '--queue', url, '--queue-name', queue]);
  t.is(failed.code, 1);
  t.regex(failed.stderr, /1 failed/);
  t.regex(failed.stderr, /zz-poison\.jpg/);
  t.is(await stopWorker(worker), 0);
});

queueTest('a worker SIGKILLed mid-job: its job is taken over by another worker and the batch completes', async (t) => {
  const { url } = await ensureRedis();
  const queue = newQueue();
  const doomed = await startWorker(url, queue, ['--concurrency', '1']);
  const out = path.join(work, 'sigkill');
  const items = jobsFor(out, 2);
  const batch = await submitBatch(items, { redis: url, queue, pollIntervalMs: 50 });
  const observer = new Queue(queue, { connection: { host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: null } });
  const deadline = Date.now() + 60_000;
  while ((await observer.getActiveCount()) === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.true((await observer.getActiveCount()) > 0, 'the worker had a job in progress');
  doomed.kill('SIGKILL');
  const rescuer = await startWorker(url, queue);
  const results = await collect(batch, [doomed, rescuer]);
  await observer.close();
  t.true(results.every((r) => r.ok), JSON.stringify(results.filter((r) => !r.ok)));
  checkOutputs(t, items);
  t.is(await stopWorker(rescuer), 0);
});

queueTest('Redis killed and restarted mid-batch: workers and producer reconnect and the batch finishes (small inputs inline)', async (t) => {
  const server = await ensureRedis();
  const queue = newQueue();
  const workers = await Promise.all([startWorker(server.url, queue), startWorker(server.url, queue)]);
  const out = path.join(work, 'restart');
  const items = jobsFor(out, 4);
  let writtenBeforeRestart = -1;
  // Inputs under 10 kB travel inside the jobs (so they live in Redis through the restart), the rest by path.
  const inlined = items.filter((i) => fs.statSync(i.input).size <= 10_000).length;
  t.true(inlined > 0 && inlined < items.length);
  const batch = await submitBatch(items, { redis: server.url, queue, pollIntervalMs: 50, inlineBelowBytes: 10_000 });
  const results = await follow(batch, {
    workers,
    onResult: async (_, sofar) => {
      if (sofar.length !== 2) return;
      await server.stop(true); // SIGKILL: the append-only file (fsync always) keeps the queue
      writtenBeforeRestart = items.filter((i) => fs.existsSync(i.output)).length;
      await new Promise((r) => setTimeout(r, 1500));
      await server.start();
    },
  });
  t.true(writtenBeforeRestart >= 0 && writtenBeforeRestart < items.length, `${writtenBeforeRestart} of ${items.length} done before the restart`);
  t.is(results.length, items.length);
  t.true(results.every((r) => r.ok), JSON.stringify(results.filter((r) => !r.ok)));
  checkOutputs(t, items);
  t.deepEqual(await Promise.all(workers.map(stopWorker)), [0, 0]);
});

queueTest('closing a batch while Redis is down returns within seconds, and its pending calls settle', async (t) => {
  const server = await startRedis();
  const queue = newQueue();
  const items = jobsFor(path.join(work, 'close-while-down')).slice(0, 1);
  const batch = await submitBatch(items, { redis: server.url, queue, pollIntervalMs: 50 });
  await server.close(); // no worker ever runs the job, and now nothing answers
  const status = batch.status(0).then(
    (state) => `answered ${state}`,
    (err) => err.code,
  );
  const started = Date.now();
  await batch.close();
  const seconds = (Date.now() - started) / 1000;
  t.true(seconds < 10, `close() took ${seconds} s`);
  const late = new Promise((resolve) => setTimeout(() => resolve('still pending'), 5000).unref());
  t.is(await Promise.race([status, late]), 'ERR_FLWNET_CLOSED');
});

// A program that called startWorker() and then close() with Redis gone must end by itself: the
// client's reconnection, BullMQ's lock renewal and its stalled-job check must all stop.
const closingWorkerProgram = `
const { startWorker } = require(process.argv[1]);
(async () => {
  const worker = await startWorker({ redis: process.argv[2], queue: process.argv[3], weights: process.argv[4], device: 'cpu', threads: 1, closeTimeoutMs: 1000 });
  await worker.ready;
  process.on('warning', () => {}); // connection errors while Redis is down
  console.log('ready');
  process.stdin.once('data', async () => {
    process.stdin.destroy();
    await worker.close();
    console.log('closed');
  });
})();
`;

queueTest('a program whose worker closed while Redis is down exits on its own', async (t) => {
  const server = await startRedis();
  const child = spawn(process.execPath, ['-e', closingWorkerProgram, path.join(packageRoot, 'dist', 'queue', 'index.js'), server.url, newQueue(), weightsPath], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.add(child);
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  const until = async (text, ms) => {
    const deadline = Date.now() + ms;
    while (!output.includes(text) && child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    return output.includes(text);
  };
  t.true(await until('ready', 60_000), `worker not ready: ${output}`);
  await server.close();
  await new Promise((r) => setTimeout(r, 1500)); // the clients are now between reconnection attempts
  const started = Date.now();
  child.stdin.write('close\n');
  let timer;
  const late = new Promise((resolve) => (timer = setTimeout(() => resolve('late'), 20_000)));
  const outcome = await Promise.race([exited, late]);
  clearTimeout(timer);
  if (outcome === 'late') child.kill('SIGKILL');
  t.is(outcome, 0, `still running 20 s after close(): ${output.slice(-2000)}`);
  t.true(output.includes('closed'), output);
  t.log(`exited ${((Date.now() - started) / 1000).toFixed(1)} s after close()`);
});
