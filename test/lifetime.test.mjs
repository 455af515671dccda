// Engine lifetime and the call API: shared engines of enhance(), close semantics, pending, signals
// on every call, construction, ImageData input, and stacks that point at the caller.
import test from 'ava';
import fs from 'node:fs';
import sharp from 'sharp';
import * as flwnet from 'flwnet';
import { sharedEngineUsers } from '../dist/shared-engines.js';
import { sharedTest, weightsPath } from './helpers/shared.mjs';

const { Enhancer, enhance, evaluate, losses, loadWeights, AbortError, ClosedError, InvalidInputError, InvalidOptionError } = flwnet;

/** A dark pseudo-random image, filled 4 bytes at a time. */
function darkImage(width, height, channels = 3, seed = 1) {
  const length = width * height * channels;
  const words = new Uint32Array(Math.ceil(length / 4));
  let s = seed >>> 0;
  for (let i = 0; i < words.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    words[i] = s & 0x3f3f3f3f;
  }
  return { data: new Uint8Array(words.buffer, 0, length), width, height, channels };
}

const png = (image, compressionLevel = 1) =>
  sharp(image.data, { raw: { width: image.width, height: image.height, channels: image.channels } }).png({ compressionLevel }).toBuffer();

/** Settles `promise` into { ok, value | error, at } (at: when it settled). */
const settle = (promise) =>
  promise.then(
    (value) => ({ ok: true, value, at: performance.now() }),
    (error) => ({ ok: false, error, at: performance.now() }),
  );

sharedTest.serial('enhance() shares one engine per weight bytes and never closes one under a call', async (t) => {
  const input = await png(darkImage(48, 32));
  // Weights passed as bytes read afresh for every call: identical bytes, one engine.
  const before = sharedEngineUsers().length;
  const byBytes = await Promise.all(
    Array.from({ length: 20 }, () => settle(enhance(input, { weights: fs.readFileSync(weightsPath), device: 'cpu', threads: 1 }))),
  );
  t.deepEqual(byBytes.filter((r) => !r.ok).map((r) => r.error.code), []);
  t.is(sharedEngineUsers().length, before + 1, 'one engine for the 20 calls');
  // More distinct settings in flight than the pool keeps: none is closed while it has calls.
  const distinct = await Promise.all(
    [1, 2, 3, 4, 5, 6].map((i) => settle(enhance(input, { weights: weightsPath, device: 'cpu', threads: 1, maxPixels: 1e7 + i }))),
  );
  t.deepEqual(distinct.filter((r) => !r.ok).map((r) => r.error.code), []);
  const users = sharedEngineUsers();
  t.true(users.length <= 4, `${users.length} shared engines kept`);
  t.deepEqual(users.filter((n) => n !== 0), [], 'no call holds an engine once all have settled');
  // The same settings again reuse an engine kept in the pool.
  const again = await enhance(input, { weights: weightsPath, device: 'cpu', threads: 1, maxPixels: 1e7 + 6 });
  t.deepEqual(again, distinct[5].value);
  t.is(sharedEngineUsers().length, users.length);
});

sharedTest('close() lets accepted calls finish, refuses new ones, and resolves once the engine is freed', async (t) => {
  const enhancer = await Enhancer.create({ weights: weightsPath, device: 'cpu', threads: 1 });
  const input = await png(darkImage(900, 600));
  const calls = [1, 2, 3].map(() => settle(enhancer.enhance(input)));
  t.is(enhancer.pending, 3, 'calls still decoding are pending');
  const closed = settle(enhancer.close());
  for (const late of [enhancer.enhance(input), enhancer.enhanceRaw(darkImage(4, 4)), enhancer.inspect(darkImage(4, 4))]) {
    await t.throwsAsync(late, { instanceOf: ClosedError, code: 'ERR_FLWNET_CLOSED' });
  }
  t.throws(() => enhancer.enhanceMany([input]), { instanceOf: ClosedError });
  const results = await Promise.all(calls);
  const closing = await closed;
  t.true(closing.ok);
  t.deepEqual(results.map((r) => r.ok), [true, true, true], String(results.find((r) => !r.ok)?.error));
  for (const r of results) t.true(r.at <= closing.at, 'close() resolved after every accepted call');
  t.is(enhancer.pending, 0);
  // The native engine is released: its own accessors now say so.
  t.throws(() => enhancer.engine.deviceName, { code: 'ERR_FLWNET_CLOSED' });
  await enhancer.close();
});

sharedTest('close({ force: true }) rejects decoding, queued and running calls with ClosedError', async (t) => {
  const enhancer = await Enhancer.create({ weights: weightsPath, device: 'cpu', threads: 1 });
  const big = darkImage(2400, 1600, 3, 5);
  const encoded = await png(darkImage(1200, 900, 3, 6));
  const calls = [settle(enhancer.enhanceRaw(big)), settle(enhancer.enhanceRaw(big)), settle(enhancer.enhance(encoded))];
  await new Promise((resolve) => setTimeout(resolve, 30));
  const gentle = settle(enhancer.close());
  const forced = settle(enhancer.close({ force: true }));
  const results = await Promise.all(calls);
  for (const r of results) {
    t.false(r.ok);
    t.true(r.error instanceof ClosedError, String(r.error));
    t.is(r.error.code, 'ERR_FLWNET_CLOSED');
  }
  const [a, b] = await Promise.all([gentle, forced]);
  t.true(a.ok && b.ok);
  for (const r of results) t.true(r.at <= a.at && r.at <= b.at);
  t.is(enhancer.pending, 0);
  await t.throwsAsync(enhancer.close({ force: 'yes' }), { instanceOf: InvalidOptionError });
});

sharedTest('enhanceMany items reaching inference after close() end as ClosedError results', async (t) => {
  const enhancer = await Enhancer.create({ weights: weightsPath, device: 'cpu', threads: 1 });
  const inputs = await Promise.all([1, 2, 3].map((seed) => png(darkImage(200, 150, 3, seed))));
  const run = enhancer.enhanceMany(inputs, { ordered: true, concurrency: 1 });
  const first = await run.next();
  t.true(first.value.ok);
  await enhancer.close();
  const rest = [];
  for await (const result of run) rest.push(result);
  t.deepEqual(rest.map((r) => r.index), [1, 2]);
  for (const r of rest) t.is(r.ok ? 'ok' : r.error.code, 'ERR_FLWNET_CLOSED');
});

sharedTest('inspect(), evaluate() and losses.* take a signal', async (t) => {
  const enhancer = await Enhancer.create({ weights: weightsPath, device: 'cpu', threads: 1 });
  const small = darkImage(32, 24);
  t.is((await enhancer.inspect(small, { signal: new AbortController().signal })).curve.length, 7);
  await t.throwsAsync(enhancer.inspect(small, { signal: AbortSignal.abort() }), { instanceOf: AbortError });
  const large = await png(darkImage(2000, 1500, 3, 9));
  const controller = new AbortController();
  const decoding = enhancer.inspect(large, { signal: controller.signal });
  controller.abort();
  await t.throwsAsync(decoding, { instanceOf: AbortError });
  await t.throwsAsync(enhancer.inspect(small, { signal: 'stop' }), { instanceOf: InvalidOptionError });
  await enhancer.close();

  const a = darkImage(1920, 1080, 3, 1);
  const b = darkImage(1920, 1080, 3, 2);
  await t.throwsAsync(evaluate(a, b, { signal: AbortSignal.abort() }), { instanceOf: AbortError });
  await t.throwsAsync(losses.l1(a, b, { signal: AbortSignal.abort() }), { instanceOf: AbortError });
  const running = new AbortController();
  const evaluation = settle(evaluate(a, b, { device: 'cpu', signal: running.signal }));
  await new Promise((resolve) => setTimeout(resolve, 5));
  const abortedAt = performance.now();
  running.abort();
  const aborted = await evaluation;
  t.true(aborted.error instanceof AbortError, String(aborted.error ?? 'resolved'));
  t.true(aborted.at - abortedAt < 100, `rejected ${(aborted.at - abortedAt).toFixed(0)} ms after abort`);
  t.true(Number.isFinite(await losses.total(small, small, { device: 'cpu', signal: new AbortController().signal })));
  await t.throwsAsync(flwnet.ciede2000Lab([50, 1, 2], [40, 3, 4], { signal: AbortSignal.abort() }), { instanceOf: AbortError });
  t.true((await flwnet.ciede2000Lab([50, 1, 2], [40, 3, 4], { signal: new AbortController().signal })) > 0);
});

test('new Enhancer() and new BatchRun() are refused with a typed error naming the factory', (t) => {
  const err = t.throws(() => new Enhancer(), { instanceOf: InvalidOptionError });
  t.regex(err.message, /Enhancer\.create/);
  t.is(err.code, 'ERR_FLWNET_INVALID_OPTION');
  t.throws(() => new flwnet.BatchRun([]), { instanceOf: InvalidOptionError, message: /enhanceMany/ });
});

sharedTest('enhanceRaw and evaluate take canvas ImageData (Uint8ClampedArray, no channels)', async (t) => {
  const enhancer = await Enhancer.create({ weights: weightsPath, device: 'cpu', threads: 1 });
  const rgba = darkImage(21, 13, 4, 3);
  const imageData = { data: new Uint8ClampedArray(rgba.data), width: 21, height: 13 };
  const out = await enhancer.enhanceRaw(imageData);
  t.is(out.channels, 4);
  t.deepEqual(out.data, (await enhancer.enhanceRaw(rgba)).data);
  t.like(await enhancer.inspect(imageData), await enhancer.inspect(rgba));
  const rgb = { data: new Uint8ClampedArray(darkImage(5, 4).data), width: 5, height: 4 };
  t.is((await enhancer.enhanceRaw(rgb)).channels, 3);
  await t.throwsAsync(enhancer.enhanceRaw({ data: new Uint8ClampedArray(10), width: 2, height: 2 }), {
    instanceOf: InvalidInputError,
    message: /neither 2 x 2 x 3 nor x 4/,
  });
  await enhancer.close();
  t.is((await evaluate(imageData, rgba, { device: 'cpu' })).psnr, Infinity);
});

sharedTest("a rejected call's stack points at the caller", async (t) => {
  const caller = /lifetime\.test\.mjs/;
  const enhancer = await Enhancer.create({ weights: weightsPath, device: 'cpu', threads: 1 });
  const corrupt = Buffer.from('not an image at all');
  const [a, b] = await Promise.all([png(darkImage(8, 8)), png(darkImage(8, 9))]);
  const controller = new AbortController();
  const running = enhancer.enhanceRaw(darkImage(2000, 1500), { signal: controller.signal });
  setTimeout(() => controller.abort(), 20);
  const failures = [
    running,
    enhancer.enhance(corrupt),
    enhancer.inspect(corrupt),
    enhance(corrupt, { weights: weightsPath, device: 'cpu', threads: 1 }),
    evaluate(a, b),
    losses.l1(a, b),
    loadWeights('/nonexistent/flwnet.pth'),
    Enhancer.create({ weights: '/nonexistent/flwnet.pth' }),
  ];
  for (const [i, failure] of failures.entries()) {
    const err = await t.throwsAsync(failure);
    t.true(err instanceof flwnet.FlwnetError, `call ${i}: ${err}`);
    t.regex(err.stack, caller, `call ${i}: ${err.stack}`);
    t.true(err.stack.startsWith(`${err.name}: ${err.message}`), `call ${i} keeps its message`);
  }
  const batchError = await t.throwsAsync(async () => {
    for await (const result of enhancer.enhanceMany([a], { signal: AbortSignal.abort() })) t.fail(String(result));
  }, { instanceOf: AbortError });
  t.regex(batchError.stack, caller);
  const sourceError = new Error('the source broke');
  const thrown = await t.throwsAsync(async () => {
    // eslint-disable-next-line require-yield
    for await (const result of enhancer.enhanceMany((function* broken() { throw sourceError; })())) t.fail(String(result));
  });
  t.is(thrown, sourceError, "the source's own error passes through untouched");
  const gone = enhancer.enhanceRaw(darkImage(1500, 1000));
  const queued = enhancer.enhanceRaw(darkImage(1500, 1000));
  await enhancer.close({ force: true });
  for (const failure of [gone, queued]) t.regex((await t.throwsAsync(failure, { instanceOf: ClosedError })).stack, caller);
});
