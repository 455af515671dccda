// The HTTP routes through fastify's inject(): every route, every error status, authentication,
// metrics, the OpenAPI document, and the routes embedded in another fastify app or node:http.
import test from 'ava';
import http from 'node:http';
import { createRequire } from 'node:module';
import sharp from 'sharp';
import { sharedTest, weightsPath } from './helpers/shared.mjs';
import { json, multipart, request } from './helpers/http.mjs';

const require = createRequire(import.meta.url);
const { Enhancer, evaluate, ERROR_TABLE } = require('../dist/index.js');
const { createService, createRequestHandler, flwnetRoutes } = require('../dist/serve/index.js');
const Fastify = require('fastify');

let enhancer;
let service;
let photo; // a real low-light photo, 160 x 120 JPEG
let photoPng;

test.before(async () => {
  try {
    enhancer = await Enhancer.create({ weights: weightsPath, device: 'cpu' });
  } catch {
    return; // the tests below are skipped without the weights
  }
  const { sharedDir } = await import('./helpers/shared.mjs');
  photo = await sharp(`${sharedDir}/images/lowlight/dicm_05.jpg`).resize(160, 120).jpeg({ quality: 90 }).toBuffer();
  photoPng = await sharp(photo).png().toBuffer();
  service = await createService({ enhancer, maxBodyBytes: 1 << 20, maxPixels: 400 * 300 });
});

test.after.always(async () => {
  await service?.close();
  await enhancer?.close();
});

const post = (url, payload, headers = { 'content-type': 'image/jpeg' }) => service.app.inject({ method: 'POST', url, payload, headers });

sharedTest('POST /v1/enhance returns the enhanced image, byte-identical to enhance(), with its Content-Type', async (t) => {
  const response = await post('/v1/enhance?exposure=0.5', photo);
  t.is(response.statusCode, 200);
  t.is(response.headers['content-type'], 'image/jpeg');
  t.true(response.rawPayload.equals(await enhancer.enhance(photo, { exposure: 0.5 })));

  const png = await post('/v1/enhance?format=png', photo);
  t.is(png.headers['content-type'], 'image/png');
  t.true(png.rawPayload.equals(await enhancer.enhance(photo, { format: 'png' })));
  const webp = await post('/v1/enhance?format=webp&quality=70', photo, { 'content-type': 'application/octet-stream' });
  t.is(webp.headers['content-type'], 'image/webp');
  t.is((await sharp(webp.rawPayload).metadata()).format, 'webp');
});

sharedTest('POST /v1/enhance accepts multipart/form-data with an image file', async (t) => {
  const { payload, headers } = multipart({ image: photoPng });
  const response = await post('/v1/enhance', payload, headers);
  t.is(response.statusCode, 200, response.body);
  t.is(response.headers['content-type'], 'image/png');
  t.true(response.rawPayload.equals(await enhancer.enhance(photoPng)));
});

sharedTest('POST /v1/inspect returns features, curve and the chosen exposure', async (t) => {
  const response = await post('/v1/inspect?exposure=0.3', photo);
  t.is(response.statusCode, 200);
  const body = json({ body: response.rawPayload });
  const direct = await enhancer.inspect(photo, { exposure: 0.3 });
  t.deepEqual(body.features, direct.features);
  t.deepEqual(body.curve, direct.curve);
  t.is(body.exposure, 0.3);
  t.is(body.width, 160);
  t.is(body.height, 120);
});

sharedTest('POST /v1/evaluate returns the losses and metrics of two images', async (t) => {
  const enhanced = await enhancer.enhance(photoPng);
  const { payload, headers } = multipart({ enhanced, reference: photoPng });
  const response = await post('/v1/evaluate', payload, headers);
  t.is(response.statusCode, 200, response.body);
  const body = JSON.parse(response.body);
  const direct = await evaluate(enhanced, photoPng, { device: 'cpu' });
  for (const key of Object.keys(direct)) t.is(body[key], direct[key], key);
  const same = await post('/v1/evaluate', ...Object.values(multipart({ enhanced: photoPng, reference: photoPng })));
  t.is(JSON.parse(same.body).psnr, null, 'identical images: PSNR is infinite, sent as null');
  const missing = await post('/v1/evaluate', ...Object.values(multipart({ enhanced })));
  t.is(missing.statusCode, 415);
  t.is(JSON.parse(missing.body).error.code, 'ERR_FLWNET_INVALID_INPUT');
  const raw = await post('/v1/evaluate', photo);
  t.is(raw.statusCode, 415);
});

sharedTest('bad options get 400 with the typed error code and message', async (t) => {
  for (const query of ['exposure=2', 'exposure=abc', 'format=xyz', 'quality=0', 'colour=red', 'format=png&quality=50']) {
    const response = await post(`/v1/enhance?${query}`, photo);
    t.is(response.statusCode, 400, query);
    const { error } = JSON.parse(response.body);
    t.is(error.code, 'ERR_FLWNET_INVALID_OPTION', query);
    t.true(error.message.length > 0);
  }
  const extraField = multipart({ image: photo, other: photo });
  t.is((await post('/v1/enhance', extraField.payload, extraField.headers)).statusCode, 400);
});

sharedTest('413 past the body or pixel limit, 415 for unreadable images, 404 for unknown routes', async (t) => {
  const big = await post('/v1/enhance', Buffer.alloc((1 << 20) + 1));
  t.is(big.statusCode, 413);
  t.is(JSON.parse(big.body).error.code, 'ERR_FLWNET_TOO_LARGE');
  const bigFile = multipart({ image: Buffer.alloc((1 << 20) + 1) });
  t.is((await post('/v1/enhance', bigFile.payload, bigFile.headers)).statusCode, 413);
  const manyPixels = await sharp({ create: { width: 401, height: 300, channels: 3, background: '#123' } }).png().toBuffer();
  const pixels = await post('/v1/enhance', manyPixels);
  t.is(pixels.statusCode, 413);
  t.regex(JSON.parse(pixels.body).error.message, /over the limit of 120000/);

  for (const body of [Buffer.from('not an image at all'), Buffer.from('{"a":1}'), photo.subarray(0, 200)]) {
    const response = await post('/v1/enhance', body, { 'content-type': 'application/json' });
    t.is(response.statusCode, 415);
    t.is(JSON.parse(response.body).error.code, 'ERR_FLWNET_INVALID_INPUT');
  }
  const empty = await service.app.inject({ method: 'POST', url: '/v1/enhance' });
  t.is(empty.statusCode, 415);
  const unknown = await service.app.inject({ method: 'GET', url: '/v2/nothing' });
  t.is(unknown.statusCode, 404);
  t.deepEqual(Object.keys(JSON.parse(unknown.body).error).sort(), ['code', 'message']);
});

sharedTest('a per-request timeout answers 504 and one bad request never affects another', async (t) => {
  const slow = await createService({ enhancer, timeoutMs: 1 });
  const big = await sharp({ create: { width: 1200, height: 900, channels: 3, background: '#222' } }).jpeg().toBuffer();
  const timedOut = await slow.app.inject({ method: 'POST', url: '/v1/enhance', payload: big });
  t.is(timedOut.statusCode, 504);
  t.is(JSON.parse(timedOut.body).error.code, 'ERR_FLWNET_TIMEOUT');
  await slow.close();

  const mixed = await Promise.all(
    Array.from({ length: 12 }, (_, i) => (i % 3 === 0 ? post('/v1/enhance', Buffer.from('garbage')) : i % 3 === 1 ? post('/v1/enhance?exposure=9', photo) : post('/v1/enhance', photo))),
  );
  const expected = await enhancer.enhance(photo);
  mixed.forEach((response, i) => {
    if (i % 3 === 0) t.is(response.statusCode, 415);
    else if (i % 3 === 1) t.is(response.statusCode, 400);
    else t.true(response.statusCode === 200 && response.rawPayload.equals(expected));
  });
});

sharedTest('a full queue answers 503 with Retry-After', async (t) => {
  const tight = await createService({ enhancer, concurrency: 1, maxQueue: 1, retryAfterSeconds: 3 });
  const responses = await Promise.all(Array.from({ length: 6 }, () => tight.app.inject({ method: 'POST', url: '/v1/enhance', payload: photo })));
  const statuses = responses.map((r) => r.statusCode).sort();
  t.true(statuses.filter((s) => s === 200).length >= 2, statuses.join());
  const busy = responses.filter((r) => r.statusCode === 503);
  t.true(busy.length >= 1, statuses.join());
  for (const r of busy) {
    t.is(r.headers['retry-after'], '3');
    t.is(JSON.parse(r.body).error.code, 'ERR_FLWNET_BUSY');
  }
  await tight.close();
});

sharedTest('API key: 401 without it or with a wrong one, accepted as Bearer or X-API-Key; health routes stay open', async (t) => {
  const locked = await createService({ enhancer, apiKey: 's3cret-key' });
  const inject = (url, headers = {}) => locked.app.inject({ method: url.startsWith('/v1') ? 'POST' : 'GET', url, payload: url.startsWith('/v1') ? photo : undefined, headers });
  for (const headers of [{}, { authorization: 'Bearer wrong' }, { 'x-api-key': 's3cret-ke' }, { authorization: 's3cret-key' }]) {
    const response = await inject('/v1/enhance', headers);
    t.is(response.statusCode, 401, JSON.stringify(headers));
    t.is(JSON.parse(response.body).error.code, 'ERR_FLWNET_UNAUTHORIZED');
  }
  t.is((await inject('/metrics')).statusCode, 401);
  t.is((await inject('/v1/enhance', { authorization: 'Bearer s3cret-key' })).statusCode, 200);
  t.is((await inject('/v1/enhance', { 'x-api-key': 's3cret-key' })).statusCode, 200);
  t.is((await inject('/healthz')).statusCode, 200);
  t.is((await inject('/readyz')).statusCode, 200);
  t.is((await inject('/healthz')).headers['access-control-allow-origin'], undefined, 'CORS is off');
  await locked.close();
});

sharedTest('/healthz, /readyz, /metrics and /openapi.json', async (t) => {
  t.deepEqual(JSON.parse((await service.app.inject('/healthz')).body), { status: 'ok' });
  const ready = JSON.parse((await service.app.inject('/readyz')).body);
  t.true(ready.ready);
  t.is(ready.device, 'cpu');
  await post('/v1/enhance', photo);
  const metrics = await service.app.inject('/metrics');
  t.regex(metrics.headers['content-type'], /^text\/plain/);
  const text = metrics.body;
  t.regex(text, /flwnet_http_requests_total\{route="\/v1\/enhance",method="POST",status="200"\} \d+/);
  t.regex(text, /flwnet_http_request_duration_seconds_bucket\{le="0.5",route="\/v1\/enhance"/);
  t.regex(text, /flwnet_queue_depth \d+/);
  t.regex(text, /flwnet_images_processed_total\{route="\/v1\/enhance"\} \d+/);
  t.regex(text, /flwnet_megapixels_processed_total\{route="\/v1\/enhance"\} [0-9.]+/);
  t.regex(text, /flwnet_device_info\{device="cpu",description="cpu[^"]*"\} 1/);
  t.regex(text, /flwnet_process_resident_memory_bytes \d+/);

  const doc = JSON.parse((await service.app.inject('/openapi.json')).body);
  t.is(doc.openapi, '3.1.0');
  t.deepEqual(Object.keys(doc.paths).sort(), ['/healthz', '/metrics', '/openapi.json', '/readyz', '/v1/enhance', '/v1/evaluate', '/v1/inspect']);
  const exposure = doc.paths['/v1/enhance'].post.parameters.find((p) => p.name === 'exposure');
  t.is(exposure.schema.maximum, 1, 'the published schema is the validated one');
  for (const status of Object.keys(doc.paths['/v1/enhance'].post.responses).filter((s) => s !== '200')) {
    t.true(Object.values(ERROR_TABLE).some((e) => String(e.status) === status), `status ${status} is in the error table`);
  }
});

sharedTest('readyz answers 503 while the service shuts down', async (t) => {
  const app = Fastify();
  let ready = true;
  await app.register(flwnetRoutes, { enhancer, isReady: () => ready });
  t.is((await app.inject('/readyz')).statusCode, 200);
  ready = false;
  t.is((await app.inject('/readyz')).statusCode, 503);
  await app.close();
});

sharedTest('the routes embed in another fastify app under a prefix without touching its own routes', async (t) => {
  const app = Fastify();
  app.post('/echo', async (request) => ({ got: request.body }));
  await app.register(flwnetRoutes, { enhancer, prefix: '/img' });
  const echo = await app.inject({ method: 'POST', url: '/echo', payload: { a: 1 } });
  t.deepEqual(JSON.parse(echo.body), { got: { a: 1 } }, "the host's JSON parser still works");
  const response = await app.inject({ method: 'POST', url: '/img/v1/enhance', payload: photo, headers: { 'content-type': 'image/jpeg' } });
  t.is(response.statusCode, 200);
  t.true(response.rawPayload.equals(await enhancer.enhance(photo)));
  t.is((await app.inject({ method: 'POST', url: '/img/v1/enhance?exposure=7', payload: photo })).statusCode, 400);
  await app.close();
});

sharedTest('embedding next to a host app with its own @fastify/multipart keeps both working, with the service limits', async (t) => {
  const app = Fastify();
  await app.register(require('@fastify/multipart'));
  app.post('/upload', async (request) => ({ size: (await (await request.file()).toBuffer()).length }));
  await app.register(flwnetRoutes, { enhancer, prefix: '/img', maxBodyBytes: 256 << 10 });
  const upload = multipart({ file: Buffer.alloc(512 << 10) });
  t.deepEqual(JSON.parse((await app.inject({ method: 'POST', url: '/upload', ...upload })).body), { size: 512 << 10 });
  const image = multipart({ image: photo });
  const response = await app.inject({ method: 'POST', url: '/img/v1/enhance', ...image });
  t.is(response.statusCode, 200, response.body);
  t.true(response.rawPayload.equals(await enhancer.enhance(photo)));
  const tooBig = multipart({ image: Buffer.alloc((256 << 10) + 1) });
  t.is((await app.inject({ method: 'POST', url: '/img/v1/enhance', ...tooBig })).statusCode, 413);
  await app.close();
});

sharedTest('createRequestHandler serves the routes from node:http', async (t) => {
  const handler = await createRequestHandler({ enhancer });
  const server = http.createServer(handler);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  const response = await request(`${base}/v1/enhance`, { method: 'POST', body: photo, headers: { 'content-type': 'image/jpeg' } });
  t.is(response.status, 200);
  t.true(response.body.equals(await enhancer.enhance(photo)));
  t.is((await request(`${base}/healthz`)).status, 200);
  await new Promise((resolve) => server.close(resolve));
  await handler.close();
});

test('the error table gives every code a status and retryability', (t) => {
  for (const [code, entry] of Object.entries(ERROR_TABLE)) {
    t.regex(code, /^ERR_FLWNET_/);
    t.true(Number.isInteger(entry.status) && entry.status >= 400 && entry.status < 600, code);
    t.is(typeof entry.retryable, 'boolean', code);
  }
  t.is(ERROR_TABLE.ERR_FLWNET_INVALID_OPTION.status, 400);
  t.is(ERROR_TABLE.ERR_FLWNET_BUSY.status, 503);
  t.true(ERROR_TABLE.ERR_FLWNET_BUSY.retryable);
  t.false(ERROR_TABLE.ERR_FLWNET_INVALID_INPUT.retryable);
});

test('--max-body sizes and Redis URLs are parsed strictly', (t) => {
  const { parseByteSize } = require('../dist/cli/serve.js');
  const { redisConnection } = require('../dist/queue/index.js');
  t.is(parseByteSize('max-body', '64m'), 64 * 2 ** 20);
  t.is(parseByteSize('max-body', '1g'), 2 ** 30);
  t.is(parseByteSize('max-body', '512k'), 512 * 1024);
  t.is(parseByteSize('max-body', '1000'), 1000);
  for (const bad of ['', '12x', '-5', '1.5m']) t.throws(() => parseByteSize('max-body', bad), { code: 'ERR_FLWNET_INVALID_OPTION' });
  const c = redisConnection('redis://user:p%40ss@127.0.0.1:6390/3');
  t.like(c, { host: '127.0.0.1', port: 6390, db: 3, username: 'user', password: 'p@ss', maxRetriesPerRequest: null });
  for (const bad of ['127.0.0.1:6379', 'http://x', 'redis://h/abc']) t.throws(() => redisConnection(bad), { code: 'ERR_FLWNET_INVALID_OPTION' });
});
