// The service over real sockets on 127.0.0.1: many clients past the queue limit, a client that
// disconnects, graceful shutdown of `flwnet serve` with requests in flight, a 1 GB upload refused
// without buffering, and a soak of thousands of small requests with memory flat.
import test from 'ava';
import { spawn } from 'node:child_process';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import sharp from 'sharp';
import { packageRoot, sharedDir, sharedTest, weightsPath } from './helpers/shared.mjs';
import { json, request } from './helpers/http.mjs';

const require = createRequire(import.meta.url);
const { Enhancer } = require('../dist/index.js');
const { createService } = require('../dist/serve/index.js');

const cli = path.join(packageRoot, 'bin', 'flwnet.js');
let enhancer;
let photo;

test.before(async () => {
  try {
    enhancer = await Enhancer.create({ weights: weightsPath, device: 'cpu' });
  } catch {
    return;
  }
  photo = await sharp(path.join(sharedDir, 'images', 'lowlight', 'dicm_12.jpg')).resize(160, 120).jpeg({ quality: 90 }).toBuffer();
});

test.after.always(async () => {
  await enhancer?.close();
});

async function listen(options) {
  const service = await createService({ enhancer, ...options });
  const url = await service.listen({ port: 0, host: '127.0.0.1' });
  return { service, url };
}

const metric = (text, name) => {
  const match = new RegExp(`^${name.replace(/[{}"=/.]/g, '\\$&')} ([0-9.e+-]+)$`, 'm').exec(text);
  return match ? Number(match[1]) : 0;
};

sharedTest.serial('concurrent clients past the queue limit get 503 + Retry-After, the rest succeed, the server stays up', async (t) => {
  const { service, url } = await listen({ concurrency: 1, maxQueue: 2 });
  const agent = new http.Agent({ keepAlive: false, maxSockets: 64 });
  const expected = await enhancer.enhance(photo);
  const responses = await Promise.all(
    Array.from({ length: 24 }, () => request(`${url}/v1/enhance`, { method: 'POST', body: photo, headers: { 'content-type': 'image/jpeg' }, agent })),
  );
  const ok = responses.filter((r) => r.status === 200);
  const busy = responses.filter((r) => r.status === 503);
  t.is(ok.length + busy.length, responses.length, responses.map((r) => r.status).join());
  t.true(ok.length >= 3 && busy.length >= 1, `${ok.length} ok, ${busy.length} busy`);
  t.true(ok.every((r) => r.body.equals(expected)));
  t.true(busy.every((r) => r.headers['retry-after'] === '1' && json(r).error.code === 'ERR_FLWNET_BUSY'));
  t.is((await request(`${url}/healthz`)).status, 200);
  const after = await request(`${url}/v1/enhance`, { method: 'POST', body: photo });
  t.is(after.status, 200, 'the server serves normally afterwards');
  agent.destroy();
  await service.close();
});

sharedTest.serial('a client that disconnects cancels its inference', async (t) => {
  const { service, url } = await listen({ concurrency: 1 });
  // Big enough that inference takes seconds on the CPU.
  const big = await sharp(path.join(sharedDir, 'images', 'lowlight', 'dicm_30.jpg')).resize(3600, 2280).jpeg().toBuffer();
  const port = new URL(url).port;
  const req = http.request({ host: '127.0.0.1', port, path: '/v1/enhance', method: 'POST', headers: { 'content-length': big.length } });
  req.on('error', () => {});
  req.end(big);
  const deadline = Date.now() + 60_000;
  while (enhancer.pending === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  t.is(enhancer.pending, 1, 'inference started');
  const disconnectedAt = performance.now();
  req.destroy();
  while (enhancer.pending > 0 && performance.now() - disconnectedAt < 20_000) await new Promise((r) => setTimeout(r, 10));
  const cancelSeconds = (performance.now() - disconnectedAt) / 1000;
  t.is(enhancer.pending, 0);
  t.log(`inference stopped ${cancelSeconds.toFixed(2)} s after the disconnect`);
  t.true(cancelSeconds < 3, `cancelled within 3 s (took ${cancelSeconds.toFixed(2)} s)`);
  const text = (await request(`${url}/metrics`)).body.toString();
  t.is(metric(text, 'flwnet_requests_cancelled_total{reason="disconnect"}'), 1);
  t.is((await request(`${url}/v1/enhance`, { method: 'POST', body: photo })).status, 200, 'later requests are unaffected');
  await service.close();
});

sharedTest.serial('shutdown is bounded: past shutdownTimeoutMs, connections are cut and inference cancelled', async (t) => {
  const service = await createService({ enhancer, concurrency: 1, shutdownTimeoutMs: 300 });
  const url = await service.listen({ port: 0, host: '127.0.0.1' });
  const big = await sharp(path.join(sharedDir, 'images', 'lowlight', 'dicm_30.jpg')).resize(3600, 2280).jpeg().toBuffer();
  const pending = request(`${url}/v1/enhance`, { method: 'POST', body: big }).then((r) => r.status, (err) => err.code);
  const deadline = Date.now() + 60_000;
  while (enhancer.pending === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  const started = performance.now();
  await service.close();
  const seconds = (performance.now() - started) / 1000;
  t.true(seconds < 5, `close took ${seconds.toFixed(2)} s`);
  t.is(await pending, 'ECONNRESET');
  const stopDeadline = performance.now() + 5000;
  while (enhancer.pending > 0 && performance.now() < stopDeadline) await new Promise((r) => setTimeout(r, 10));
  t.is(enhancer.pending, 0, 'the cut request stopped its inference');
});

sharedTest.serial('a 1 GB upload is refused with 413 without being buffered', async (t) => {
  const { service, url } = await listen({ maxBodyBytes: 8 << 20 });
  t.teardown(() => service.close());
  const port = Number(new URL(url).port);
  const chunk = Buffer.alloc(1 << 20, 0xab);
  const rssBefore = process.memoryUsage().rss;
  let peakRss = rssBefore;
  // The server answers 413 and closes while the client is still writing; on a loaded machine the
  // client's write can fail (EPIPE or ECONNRESET) before it has read that answer. Such an attempt
  // says nothing either way, so it is repeated (at most three times); any answer must be a 413.
  const upload = async (headers) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await uploadOnce(headers);
      } catch (err) {
        if (attempt === 3 || !['EPIPE', 'ECONNRESET'].includes(err.code)) throw err;
        t.log(`attempt ${attempt}: ${err.code} before the answer was read; retrying`);
      }
    }
  };
  const uploadOnce = (headers) =>
    new Promise((resolve, reject) => {
      let sent = 0;
      let answered = false;
      const req = http.request({ host: '127.0.0.1', port, path: '/v1/enhance', method: 'POST', headers }, (res) => {
        answered = true;
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks), sent }));
      });
      req.on('error', (err) => (answered ? undefined : reject(err)));
      const pump = () => {
        while (!answered && sent < 1 << 30) {
          peakRss = Math.max(peakRss, process.memoryUsage().rss);
          sent += chunk.length;
          if (!req.write(chunk)) return req.once('drain', pump);
        }
        if (!answered) req.end();
      };
      pump();
    });
  const chunked = await upload({ 'content-type': 'image/jpeg', 'transfer-encoding': 'chunked' });
  t.is(chunked.status, 413);
  t.is(JSON.parse(chunked.body).error.code, 'ERR_FLWNET_TOO_LARGE');
  const declared = await upload({ 'content-type': 'image/jpeg', 'content-length': String(1 << 30) });
  t.is(declared.status, 413);
  t.true(chunked.sent < 256 << 20 && declared.sent < 256 << 20, `stopped early: ${chunked.sent >> 20} MiB and ${declared.sent >> 20} MiB sent`);
  t.log(`sent before the 413: ${(chunked.sent / 2 ** 20).toFixed(0)} MiB chunked, ${(declared.sent / 2 ** 20).toFixed(0)} MiB with Content-Length: 1 GiB`);
  const growth = (peakRss - rssBefore) / 2 ** 20;
  t.log(`RSS growth during the uploads: ${growth.toFixed(1)} MiB`);
  t.true(growth < 128, `RSS grew ${growth.toFixed(1)} MiB`);
});

sharedTest.serial('soak: thousands of small requests with memory flat', async (t) => {
  const { service, url } = await listen({ concurrency: 4, maxQueue: 64 });
  const tiny = await sharp(photo).resize(32, 24).jpeg().toBuffer();
  const expected = await enhancer.enhance(tiny);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  const total = 3000;
  let next = 0;
  let failures = 0;
  let peakRss = 0;
  const rssAt = [];
  const client = async () => {
    while (next < total) {
      const i = next++;
      const r = await request(`${url}/v1/enhance`, { method: 'POST', body: tiny, headers: { 'content-type': 'image/jpeg' }, agent });
      if (r.status !== 200 || !r.body.equals(expected)) failures += 1;
      if (i % 100 === 0) {
        const rss = process.memoryUsage().rss;
        peakRss = Math.max(peakRss, rss);
        rssAt.push(rss);
      }
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: 8 }, client));
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  t.is(failures, 0);
  const warm = rssAt[Math.floor(rssAt.length / 4)];
  const last = rssAt[rssAt.length - 1];
  const mib = (b) => (b / 2 ** 20).toFixed(1);
  t.log(`${total} requests in ${seconds.toFixed(1)} s (${(total / seconds).toFixed(0)}/s); RSS after warm-up ${mib(warm)} MiB, at the end ${mib(last)} MiB, peak ${mib(peakRss)} MiB`);
  t.true(last - warm < 64 * 2 ** 20, `RSS grew ${mib(last - warm)} MiB after warm-up`);
  const text = (await request(`${url}/metrics`)).body.toString();
  t.true(metric(text, 'flwnet_http_requests_total{route="/v1/enhance",method="POST",status="200"}') >= total);
  await service.close();
});

sharedTest.serial('flwnet serve: SIGTERM finishes accepted requests, refuses new ones and exits 0', async (t) => {
  const child = spawn(process.execPath, [cli, 'serve', '--port', '0', '--device', 'cpu', '--weights', weightsPath, '--concurrency', '1'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const url = await new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      stdout += d;
      const match = /listening on (http:\/\/[^ ]+)/.exec(stdout);
      if (match) resolve(match[1]);
    });
    child.once('exit', () => reject(new Error(`serve exited: ${stderr}`)));
  });
  try {
    const medium = await sharp(photo).resize(640, 480).jpeg().toBuffer();
    const inFlight = Array.from({ length: 3 }, () => request(`${url}/v1/enhance`, { method: 'POST', body: medium, headers: { 'content-type': 'image/jpeg' } }));
    const deadline = Date.now() + 30_000;
    for (;;) {
      const text = (await request(`${url}/metrics`)).body.toString();
      if (metric(text, 'flwnet_requests_in_flight') + metric(text, 'flwnet_queue_depth') >= 3 || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    const refused = await request(`${url}/healthz`).then((r) => r.status, (err) => err.code);
    t.true(refused === 'ECONNREFUSED' || refused === 503, `a new request after SIGTERM: ${refused}`);
    const responses = await Promise.all(inFlight);
    t.deepEqual(responses.map((r) => r.status), [200, 200, 200]);
    t.deepEqual(await exited, { code: 0, signal: null });
    t.regex(stderr, /SIGTERM: finishing accepted requests/);
  } finally {
    child.kill('SIGKILL');
  }
});
