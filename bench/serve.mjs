// `npm run bench:serve`: the cost of the HTTP layer. For 640 x 480 JPEGs at several client
// concurrencies, measures requests/s and p50/p99 latency of (a) Enhancer.enhance() called
// in-process and (b) POST /v1/enhance on `flwnet serve`'s server (same Enhancer, keep-alive
// clients on 127.0.0.1 in this same process, so client costs count against the service). The two
// are interleaved round by round so background load hits both alike. Because a busy machine makes
// whole-throughput ratios noisy, the service's fixed cost per request is also measured directly:
// the latency difference on 32 x 24 images (where inference is cheap), as a share of the 640 x 480
// in-process latency. Writes bench/results/serve.json.
//
// Environment: FLWNET_BENCH_REQUESTS (per measurement, default 48), FLWNET_BENCH_ROUNDS (default 2),
// FLWNET_BENCH_CONCURRENCY (default "1,2,4,8"), FLWNET_BENCH_THREADS, FLWNET_BENCH_DEVICE (default cpu).
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import sharp from 'sharp';
import { Enhancer } from 'flwnet';
import { benchWeights, machineDescription, sharedDir, syntheticImage, writeResult } from './common.mjs';

const require = createRequire(import.meta.url);
const { createService } = require('flwnet/serve');

const REQUESTS = Number(process.env.FLWNET_BENCH_REQUESTS || 48);
const ROUNDS = Number(process.env.FLWNET_BENCH_ROUNDS || 2);
const CONCURRENCIES = (process.env.FLWNET_BENCH_CONCURRENCY || '1,2,4,8').split(',').map(Number);
const threads = Number(process.env.FLWNET_BENCH_THREADS || os.cpus().length);
const device = process.env.FLWNET_BENCH_DEVICE || 'cpu';

async function makeJpegs(count) {
  const dir = path.join(sharedDir, 'images', 'lowlight');
  const names = fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => /\.jpe?g$/i.test(n)).sort() : [];
  const out = [];
  for (let i = 0; i < count; i++) {
    let image;
    if (names.length > 0) image = sharp(path.join(dir, names[i % names.length])).rotate().resize(640, 480, { fit: 'cover' });
    else image = sharp(syntheticImage(640, 480, 3, i + 1).data, { raw: { width: 640, height: 480, channels: 3 } });
    out.push(await image.jpeg({ quality: 90 }).toBuffer());
  }
  return out;
}

/** Runs `count` calls of `call(i)` from `concurrency` loops; returns rate and latency percentiles. */
async function drive(concurrency, count, call) {
  const latencies = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        const t0 = performance.now();
        await call(i);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const pick = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
  return { requestsPerSecond: count / seconds, p50Ms: pick(0.5), p99Ms: pick(0.99), seconds };
}

function post(agent, port, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: '/v1/enhance', method: 'POST', agent, headers: { 'content-type': 'image/jpeg', 'content-length': body.length } },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks)) : reject(new Error(`HTTP ${res.statusCode}: ${Buffer.concat(chunks)}`))));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Median latency over HTTP minus median in-process, on tiny images, interleaved in blocks. */
async function measureFixedCost(enhancer, blocks = 10, perBlock = 50) {
  const tiny = await sharp(syntheticImage(32, 24, 3, 3).data, { raw: { width: 32, height: 24, channels: 3 } }).jpeg().toBuffer();
  const service = await createService({ enhancer, concurrency: 1, maxQueue: 10 });
  const port = Number(new URL(await service.listen({ port: 0, host: '127.0.0.1' })).port);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const direct = [];
  const served = [];
  for (let b = 0; b < blocks; b++) {
    direct.push((await drive(1, perBlock, () => enhancer.enhance(tiny))).p50Ms);
    served.push((await drive(1, perBlock, () => post(agent, port, tiny))).p50Ms);
  }
  agent.destroy();
  await service.close();
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  return { image: '32x24 JPEG', inProcessP50Ms: median(direct), serviceP50Ms: median(served), perRequestMs: median(served) - median(direct) };
}

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;

async function main() {
  const enhancer = await Enhancer.create({ weights: benchWeights(), device, threads });
  const jpegs = await makeJpegs(8);
  const reference = await enhancer.enhance(jpegs[0]);
  console.log(`device: ${enhancer.description}; ${REQUESTS} requests x ${ROUNDS} rounds per point`);
  const rows = [];
  for (const concurrency of CONCURRENCIES) {
    const service = await createService({ enhancer, concurrency, maxQueue: 10_000 });
    const address = await service.listen({ port: 0, host: '127.0.0.1' });
    const port = Number(new URL(address).port);
    const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
    const served = await post(agent, port, jpegs[0]);
    if (!served.equals(reference)) throw new Error('the service returned different bytes from enhance()');
    await drive(concurrency, concurrency * 2, (i) => enhancer.enhance(jpegs[i % jpegs.length])); // warm-up
    const inProcess = [];
    const overHttp = [];
    for (let round = 0; round < ROUNDS; round++) {
      inProcess.push(await drive(concurrency, REQUESTS, (i) => enhancer.enhance(jpegs[i % jpegs.length])));
      overHttp.push(await drive(concurrency, REQUESTS, (i) => post(agent, port, jpegs[i % jpegs.length])));
    }
    agent.destroy();
    await service.close();
    const summary = (runs) => ({
      requestsPerSecond: mean(runs.map((r) => r.requestsPerSecond)),
      p50Ms: mean(runs.map((r) => r.p50Ms)),
      p99Ms: mean(runs.map((r) => r.p99Ms)),
      rounds: runs,
    });
    const row = { concurrency, inProcess: summary(inProcess), service: summary(overHttp) };
    // Each round pairs an in-process run with the service run right after it; the median of the
    // paired ratios is robust to a round that other load on the machine slowed down.
    const paired = overHttp.map((r, i) => 100 * (1 - r.requestsPerSecond / inProcess[i].requestsPerSecond)).sort((a, b) => a - b);
    row.pairedOverheadsPercent = paired;
    row.overheadPercent = paired[Math.floor(paired.length / 2)];
    rows.push(row);
    console.log(
      `c=${concurrency}: in-process ${row.inProcess.requestsPerSecond.toFixed(2)} req/s (p50 ${row.inProcess.p50Ms.toFixed(0)} ms, p99 ${row.inProcess.p99Ms.toFixed(0)} ms); ` +
        `service ${row.service.requestsPerSecond.toFixed(2)} req/s (p50 ${row.service.p50Ms.toFixed(0)} ms, p99 ${row.service.p99Ms.toFixed(0)} ms); ` +
        `overhead ${row.overheadPercent.toFixed(1)}%`,
    );
  }
  const fixedCost = await measureFixedCost(enhancer);
  const base = rows.find((r) => r.concurrency === 1) ?? rows[0];
  fixedCost.shareOf640x480Percent = (100 * fixedCost.perRequestMs) / base.inProcess.p50Ms;
  console.log(`service cost per request: ${fixedCost.perRequestMs.toFixed(2)} ms = ${fixedCost.shareOf640x480Percent.toFixed(2)}% of a 640x480 in-process call`);
  await enhancer.close();
  writeResult('serve.json', {
    fixedCost,
    benchmark: 'serve',
    image: '640x480 JPEG (quality 90)',
    device: enhancer.description,
    machine: machineDescription(),
    loadAverage: os.loadavg(),
    requestsPerPoint: REQUESTS,
    rounds: ROUNDS,
    note: 'service clients run in the benchmark process (keep-alive, 127.0.0.1); overheadPercent = median over rounds of 1 - service req/s / in-process req/s of the same round',
    results: rows,
    worstOverheadPercent: Math.max(...rows.map((r) => r.overheadPercent)),
    date: new Date().toISOString(),
  });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
