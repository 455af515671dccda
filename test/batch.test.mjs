// Enhancer.enhanceMany: ordering, per-item failures, abort, backpressure, progress and validation.
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import sharp from 'sharp';
import * as flwnet from 'flwnet';
import { sharedTest, weightsPath } from './helpers/shared.mjs';

const { Enhancer, AbortError, InvalidInputError, InvalidOptionError, BatchRun } = flwnet;

let shared;
const getEnhancer = async () => (shared ??= await Enhancer.create({ weights: weightsPath, device: 'cpu' }));

/** A dark noisy PNG, different for every seed. */
async function darkPng(width, height, seed = 1) {
  const data = Buffer.alloc(width * height * 3);
  let s = seed >>> 0;
  for (let i = 0; i < data.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    data[i] = (s >>> 16) & 0x3f;
  }
  return sharp(data, { raw: { width, height, channels: 3 } }).png({ compressionLevel: 1 }).toBuffer();
}

async function collect(run) {
  const results = [];
  for await (const result of run) results.push(result);
  return results;
}

/** An async source that counts how far it has been pulled. */
function countingSource(items, counter) {
  return (async function* generate() {
    for (const item of items) {
      counter.pulled += 1;
      counter.maxAhead = Math.max(counter.maxAhead, counter.pulled - counter.consumed);
      yield item;
    }
  })();
}

test('enhanceMany is exported and validates its options and source before any work', async (t) => {
  t.is(typeof BatchRun, 'function');
  if (!fs.existsSync(weightsPath)) return;
  const enhancer = await getEnhancer();
  const bad = [
    [{ concurrency: 0 }, /concurrency/],
    [{ concurrency: 2.5 }, /concurrency/],
    [{ ordered: 'yes' }, /ordered/],
    [{ exposure: 3 }, /exposure/],
    [{ format: 'png', quality: 50 }, /quality does not apply/],
    [{ onProgress: 'often' }, /onProgress/],
    [{ colour: 'red' }, /unknown option "colour"/],
  ];
  for (const [options, message] of bad) {
    t.throws(() => enhancer.enhanceMany([], options), { instanceOf: InvalidOptionError, message });
  }
  for (const source of [42, 'photo.jpg', Buffer.from([1]), null]) {
    t.throws(() => enhancer.enhanceMany(source), { instanceOf: InvalidInputError, message: /iterable/ });
  }
  t.deepEqual(await collect(enhancer.enhanceMany([])), []);
});

sharedTest('ordered: results come in input order and match enhance() byte for byte', async (t) => {
  const enhancer = await getEnhancer();
  const inputs = await Promise.all([[900, 700], [20, 10], [64, 48], [33, 17], [120, 80], [8, 8]].map(([w, h], i) => darkPng(w, h, i + 1)));
  const items = inputs.map((input, i) => ({ input, id: `image-${i}` }));
  const results = await collect(enhancer.enhanceMany(items, { ordered: true, concurrency: 4 }));
  t.deepEqual(results.map((r) => r.index), [0, 1, 2, 3, 4, 5]);
  t.deepEqual(results.map((r) => r.id), items.map((item) => item.id));
  for (const result of results) {
    t.true(result.ok);
    t.is(result.format, 'png');
    t.true(result.seconds > 0);
  }
  t.is(results[0].width, 900);
  t.is(results[0].height, 700);
  t.deepEqual(results[2].data, await enhancer.enhance(inputs[2]));
  t.deepEqual(results[4].data, await enhancer.enhance(inputs[4]));
});

sharedTest('unordered: small images overtake a large one that came first', async (t) => {
  const enhancer = await getEnhancer();
  const inputs = [await darkPng(2400, 1600, 9), ...(await Promise.all([1, 2, 3, 4, 5].map((s) => darkPng(16, 12, s))))];
  const results = await collect(enhancer.enhanceMany(inputs, { concurrency: 8 }));
  t.deepEqual(results.map((r) => r.index).sort((a, b) => a - b), [0, 1, 2, 3, 4, 5]);
  t.not(results[0].index, 0, `yielded in order ${results.map((r) => r.index)}`);
  t.true(results.every((r) => r.ok));
});

sharedTest('a corrupt item mid-batch fails alone; the others succeed', async (t) => {
  const enhancer = await getEnhancer();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flwnet-batch-'));
  const onDisk = path.join(dir, 'ok.png');
  fs.writeFileSync(onDisk, await darkPng(30, 20, 3));
  const good = await darkPng(40, 30, 4);
  const source = [good, onDisk, Buffer.from('not an image'), path.join(dir, 'missing.png'), 42, { input: good, format: 'jpeg' }];
  const progress = [];
  const results = await collect(enhancer.enhanceMany(source, { ordered: true, onProgress: (p) => progress.push(p) }));
  t.deepEqual(results.map((r) => r.ok), [true, true, false, false, false, true]);
  t.is(results[1].path, onDisk);
  t.is(results[3].path, path.join(dir, 'missing.png'));
  for (const failure of results.filter((r) => !r.ok)) {
    t.true(failure.error instanceof InvalidInputError, String(failure.error));
    t.is(failure.error.code, 'ERR_FLWNET_INVALID_INPUT');
  }
  t.regex(results[2].error.message, /not a readable image/);
  t.regex(results[3].error.message, /cannot read/);
  t.is(results[5].format, 'jpeg');
  t.is((await sharp(results[5].data).metadata()).format, 'jpeg');
  const last = progress.at(-1);
  t.is(progress.length, 6);
  t.like(last, { done: 6, succeeded: 3, failed: 3, total: 6 });
});

sharedTest('the source is pulled only as results drain: never more than the window ahead', async (t) => {
  const enhancer = await getEnhancer();
  const image = await darkPng(24, 16, 5);
  for (const ordered of [false, true]) {
    const counter = { pulled: 0, consumed: 0, maxAhead: 0 };
    const run = enhancer.enhanceMany(countingSource(Array(40).fill(image), counter), { concurrency: 3, ordered });
    await sleep(50);
    t.is(counter.pulled, 0, 'nothing is read before iteration starts');
    for await (const result of run) {
      counter.consumed += 1;
      t.true(result.ok);
      if (counter.consumed % 10 === 0) await sleep(30); // a slow consumer: the source must wait
    }
    t.is(counter.consumed, 40);
    t.true(counter.maxAhead <= 3, `pulled up to ${counter.maxAhead} items ahead of the consumer`);
  }
});

sharedTest('progress is emitted as events too, with a rate', async (t) => {
  const enhancer = await getEnhancer();
  const inputs = await Promise.all([1, 2, 3, 4].map((s) => darkPng(100, 80, s)));
  const run = enhancer.enhanceMany(inputs);
  const events = [];
  run.on('progress', (p) => events.push(p));
  await collect(run);
  t.deepEqual(events.map((p) => p.done), [1, 2, 3, 4]);
  t.true(events.at(-1).mpixPerSecond > 0);
  t.true(events.at(-1).elapsedSeconds > 0);
  t.is(run.progress.succeeded, 4);
});

sharedTest('abort stops pulling, cancels work in flight and rejects with AbortError promptly', async (t) => {
  const enhancer = await getEnhancer();
  const image = await darkPng(1600, 1200, 6);
  const counter = { pulled: 0, consumed: 0, maxAhead: 0 };
  const controller = new AbortController();
  const run = enhancer.enhanceMany(countingSource(Array(50).fill(image), counter), { signal: controller.signal, concurrency: 4 });
  let abortedAt = 0;
  const error = await t.throwsAsync(async () => {
    for await (const result of run) {
      counter.consumed += 1;
      t.true(result.ok);
      // Abort while the loop is waiting for the next result, with large images still in flight.
      if (counter.consumed === 1) {
        setTimeout(() => {
          abortedAt = performance.now();
          controller.abort();
        }, 5);
      }
    }
  }, { instanceOf: AbortError });
  const latency = performance.now() - abortedAt;
  t.true(abortedAt > 0);
  t.is(error.code, 'ERR_FLWNET_ABORTED');
  t.true(latency < 1000, `rejected ${latency.toFixed(0)} ms after abort`);
  const pulledAtAbort = counter.pulled;
  await sleep(200);
  t.is(counter.pulled, pulledAtAbort, 'no pulls after abort');
  t.true(pulledAtAbort <= counter.consumed + 4, `pulled ${pulledAtAbort}, consumed ${counter.consumed}`);
  t.true(counter.consumed < 50);
  await t.throwsAsync(collect(enhancer.enhanceMany([image], { signal: AbortSignal.abort() })), { instanceOf: AbortError });
  t.is((await enhancer.enhanceRaw({ data: new Uint8Array(12), width: 2, height: 2, channels: 3 })).data.length, 12);
});

sharedTest('breaking out of the loop stops the batch; a throwing source ends it after what was pulled', async (t) => {
  const enhancer = await getEnhancer();
  const image = await darkPng(32, 24, 7);
  const counter = { pulled: 0, consumed: 0, maxAhead: 0 };
  for await (const result of enhancer.enhanceMany(countingSource(Array(30).fill(image), counter), { concurrency: 2 })) {
    t.true(result.ok);
    break;
  }
  await sleep(100);
  t.true(counter.pulled <= 3, `pulled ${counter.pulled}`);
  async function* failing() {
    yield image;
    yield image;
    throw new Error('source broke');
  }
  const seen = [];
  await t.throwsAsync(async () => {
    for await (const result of enhancer.enhanceMany(failing())) seen.push(result.ok);
  }, { message: 'source broke' });
  t.deepEqual(seen, [true, true]);
});

sharedTest('an item that fails before decoding keeps its id in the result', async (t) => {
  const enhancer = await getEnhancer();
  const good = await darkPng(12, 8, 8);
  const source = [{ id: 'no-input' }, { id: 7, input: 42 }, { id: 'bad-format', input: good, format: 'xyz' }, { id: 'fine', input: good }];
  const results = await collect(enhancer.enhanceMany(source, { ordered: true }));
  t.deepEqual(results.map((r) => [r.id, r.ok]), [['no-input', false], [7, false], ['bad-format', false], ['fine', true]]);
  t.true(results[0].error instanceof InvalidInputError);
  t.true(results[2].error instanceof InvalidOptionError);
});
