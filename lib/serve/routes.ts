/**
 * The flwnet HTTP routes as a fastify plugin, to register on flwnet's own server (`flwnet serve`)
 * or on an application's:
 *
 *   const enhancer = await Enhancer.create({ weights });
 *   app.register(flwnetRoutes, { enhancer, prefix: '/flwnet' });
 *
 * The plugin is encapsulated: its body parsers, error format, authentication and metrics apply to
 * its routes only. Images come as the raw request body (any Content-Type but multipart) or as
 * multipart/form-data files; options come as query parameters validated by the schemas of
 * ./schemas (the same ones /openapi.json publishes).
 */
import crypto from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import type { Enhancer } from '../enhancer';
import { AbortError, InvalidInputError, InvalidOptionError, TimeoutError, TooLargeError } from '../errors';
import { outputFormatFor, probeImage, type ImageHeader } from '../image-io';
import { evaluate } from '../losses';
import { checkInteger, type DeviceOption, type OutputFormat } from '../options';
import { Admission } from './admission';
import { createMetrics, type ServiceMetrics } from './metrics';
import { enhanceQuery, evaluateQuery, inspectQuery, openApiDocument } from './schemas';
import { sendError, toServiceError } from './reply-errors';

export interface FlwnetRoutesOptions {
  /** The engine requests run on; the caller owns it (and closes it after the server). */
  enhancer: Enhancer;
  /** Requests processed at once (default 4). */
  concurrency?: number;
  /** Requests waiting for a slot before new ones get 503 (default 64). */
  maxQueue?: number;
  /** Largest request body in bytes (default 64 MiB). */
  maxBodyBytes?: number;
  /** Largest image in pixels (default: the enhancer's maxPixels). */
  maxPixels?: number;
  /** Per-request limit from arrival of the body to the reply, in milliseconds (default 60,000). */
  timeoutMs?: number;
  /** When set, every route but /healthz and /readyz needs `Authorization: Bearer <key>` or `X-API-Key: <key>`. */
  apiKey?: string;
  /** Seconds a client refused with 503 is told to wait (default 1). */
  retryAfterSeconds?: number;
  /** Device for /v1/evaluate (default: the enhancer's). */
  evaluateDevice?: DeviceOption;
  /** Metrics to update; by default the plugin makes its own, served at /metrics. */
  metrics?: ServiceMetrics;
  /** Extra readiness condition (e.g. false while the server drains). */
  isReady?: () => boolean;
}

const MIME: Record<OutputFormat, string> = {
  jpeg: 'image/jpeg', png: 'image/png', webp: 'image/webp', avif: 'image/avif', tiff: 'image/tiff', gif: 'image/gif', bmp: 'image/bmp',
};
const OPEN_PATHS = new Set(['/healthz', '/readyz']);

interface Settings {
  enhancer: Enhancer;
  admission: Admission;
  metrics: ServiceMetrics;
  maxBodyBytes: number;
  maxPixels: number;
  timeoutMs: number;
  evaluateDevice: DeviceOption;
}

export async function flwnetRoutes(app: FastifyInstance, options: FlwnetRoutesOptions): Promise<void> {
  const settings = resolveSettings(options);
  const { metrics, admission } = settings;
  metrics.device.set({ device: options.enhancer.device, description: options.enhancer.description }, 1);

  // Bodies are images: every content type but multipart is read as bytes. A host app that has
  // registered @fastify/multipart already keeps its parser (the limits are applied per request).
  if (app.hasRequestDecorator('isMultipart')) {
    for (const type of ['application/json', 'text/plain', '*']) if (app.hasContentTypeParser(type)) app.removeContentTypeParser(type);
  } else {
    app.removeAllContentTypeParsers();
    await app.register(multipart);
  }
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: settings.maxBodyBytes }, (_request, body, done) => done(null, body));

  app.setErrorHandler((err, request, reply) => {
    const serviceError = toServiceError(err);
    if (serviceError.code === 'ERR_FLWNET_INTERNAL') request.log.error({ err }, 'flwnet: internal error');
    return sendError(reply, serviceError);
  });
  if (options.apiKey) app.addHook('onRequest', apiKeyCheck(options.apiKey));
  app.addHook('onResponse', async (request, reply) => {
    const labels = { route: request.routeOptions.url ?? 'unmatched', method: request.method, status: String(reply.statusCode) };
    metrics.requests.inc(labels);
    metrics.latency.observe(labels, reply.elapsedTime / 1000);
  });
  // Refuse before the body is read when the line is already full: a busy server does not buffer uploads.
  const refuseWhenFull = async () => {
    if (admission.full) await admission.acquire(); // throws BusyError
  };

  const bodyRoute = { bodyLimit: settings.maxBodyBytes, onRequest: refuseWhenFull };
  app.post('/v1/enhance', { ...bodyRoute, schema: { querystring: enhanceQuery } }, (request, reply) => enhanceRoute(settings, request, reply));
  app.post('/v1/inspect', { ...bodyRoute, schema: { querystring: inspectQuery } }, (request, reply) => inspectRoute(settings, request, reply));
  app.post('/v1/evaluate', { ...bodyRoute, schema: { querystring: evaluateQuery } }, (request, reply) => evaluateRoute(settings, request, reply));

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const ready = options.isReady ? options.isReady() : true;
    reply.code(ready ? 200 : 503);
    return { ready, device: options.enhancer.device, description: options.enhancer.description, weights: 'loaded' };
  });
  app.get('/metrics', async (_request, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const document = openApiDocument((require('../../package.json') as { version: string }).version);
  app.get('/openapi.json', async () => document);
}

function resolveSettings(options: FlwnetRoutesOptions): Settings {
  if (!options || typeof options.enhancer?.enhance !== 'function') {
    throw new InvalidOptionError('flwnetRoutes needs { enhancer }: an Enhancer from Enhancer.create()');
  }
  const positive = (name: string, value: number | undefined, fallback: number, min = 1) =>
    checkInteger(name, value, min, Number.MAX_SAFE_INTEGER, fallback);
  const metrics = options.metrics ?? createMetrics();
  const retryAfter = positive('retryAfterSeconds', options.retryAfterSeconds, 1);
  const admission = new Admission(positive('concurrency', options.concurrency, 4), positive('maxQueue', options.maxQueue, 64, 0), retryAfter, (running, waiting) => {
    metrics.inFlight.set(running);
    metrics.queueDepth.set(waiting);
  });
  return {
    enhancer: options.enhancer,
    admission,
    metrics,
    maxBodyBytes: positive('maxBodyBytes', options.maxBodyBytes, 64 * 1024 * 1024),
    maxPixels: positive('maxPixels', options.maxPixels, options.enhancer.maxPixels),
    timeoutMs: positive('timeoutMs', options.timeoutMs, 60_000),
    evaluateDevice: (options.evaluateDevice ?? (options.enhancer.device === 'cpu' ? 'cpu' : options.enhancer.device)) as DeviceOption,
  };
}

function apiKeyCheck(apiKey: string) {
  const expected = crypto.createHash('sha256').update(apiKey).digest();
  return async (request: FastifyRequest, reply: FastifyReply) => {
    if (OPEN_PATHS.has(request.routeOptions.url ?? '')) return;
    const header = request.headers.authorization;
    const given = typeof header === 'string' && header.startsWith('Bearer ') ? header.slice(7) : request.headers['x-api-key'];
    // Digests have equal lengths, so timingSafeEqual compares in constant time whatever was sent.
    const digest = crypto.createHash('sha256').update(typeof given === 'string' ? given : '').digest();
    if (typeof given !== 'string' || !crypto.timingSafeEqual(digest, expected)) {
      reply.header('WWW-Authenticate', 'Bearer');
      return sendError(reply, { code: 'ERR_FLWNET_UNAUTHORIZED', message: 'a valid API key is needed (Authorization: Bearer <key> or X-API-Key)' });
    }
  };
}

/**
 * Runs `work` holding an admission slot, under a signal that fires when the client goes away or
 * the request's time is up. Errors come back as the typed error that says which.
 */
async function withSlot<T>(settings: Settings, reply: FastifyReply, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onClose = () => {
    if (!reply.raw.writableFinished) {
      settings.metrics.cancelled.inc({ reason: 'disconnect' });
      controller.abort(new AbortError('the client disconnected'));
    }
  };
  const timer = setTimeout(() => {
    settings.metrics.cancelled.inc({ reason: 'timeout' });
    controller.abort(new TimeoutError(`the request took longer than ${settings.timeoutMs} ms`));
  }, settings.timeoutMs);
  reply.raw.once('close', onClose);
  try {
    const release = await settings.admission.acquire(controller.signal);
    try {
      return await work(controller.signal);
    } finally {
      release();
    }
  } catch (err) {
    if (controller.signal.reason instanceof TimeoutError) throw controller.signal.reason;
    throw err;
  } finally {
    clearTimeout(timer);
    reply.raw.removeListener('close', onClose);
  }
}

async function enhanceRoute(settings: Settings, request: FastifyRequest, reply: FastifyReply) {
  const [image] = await readImages(request, ['image'], settings.maxBodyBytes);
  const query = request.query as { exposure?: number; format?: OutputFormat | 'jpg'; quality?: number };
  return withSlot(settings, reply, async (signal) => {
    const header = await checkImageHeader(image, settings.maxPixels, 'the image');
    const output = await settings.enhancer.enhance(image, { ...query, signal });
    countImage(settings, '/v1/enhance', header);
    const format = outputFormatFor(header.format, query.format === 'jpg' ? 'jpeg' : query.format);
    return reply.type(MIME[format]).send(output);
  });
}

async function inspectRoute(settings: Settings, request: FastifyRequest, reply: FastifyReply) {
  const [image] = await readImages(request, ['image'], settings.maxBodyBytes);
  const { exposure } = request.query as { exposure?: number };
  return withSlot(settings, reply, async () => {
    const header = await checkImageHeader(image, settings.maxPixels, 'the image');
    const result = await settings.enhancer.inspect(image, { exposure });
    countImage(settings, '/v1/inspect', header);
    return { width: header.width, height: header.height, ...result };
  });
}

async function evaluateRoute(settings: Settings, request: FastifyRequest, reply: FastifyReply) {
  if (!request.isMultipart()) {
    throw new InvalidInputError('evaluate needs multipart/form-data with two files: enhanced and reference');
  }
  const [enhanced, reference] = await readImages(request, ['enhanced', 'reference'], settings.maxBodyBytes);
  return withSlot(settings, reply, async () => {
    const header = await checkImageHeader(enhanced, settings.maxPixels, 'the enhanced image');
    await checkImageHeader(reference, settings.maxPixels, 'the reference image');
    const report = await evaluate(enhanced, reference, { device: settings.evaluateDevice });
    countImage(settings, '/v1/evaluate', header);
    // JSON has no Infinity: PSNR of identical images is sent as null.
    return Object.fromEntries(Object.entries(report).map(([k, v]) => [k, Number.isFinite(v) ? v : null]));
  });
}

function countImage(settings: Settings, route: string, header: { width: number; height: number }) {
  settings.metrics.images.inc({ route });
  settings.metrics.megapixels.inc({ route }, (header.width * header.height) / 1e6);
}

/** The images of a request: the raw body for one field, or the named multipart files. */
async function readImages(request: FastifyRequest, fields: string[], maxBodyBytes: number): Promise<Buffer[]> {
  if (!request.isMultipart()) {
    if (!Buffer.isBuffer(request.body) || request.body.length === 0) {
      throw new InvalidInputError('the request body must hold an encoded image');
    }
    return [request.body];
  }
  const found = new Map<string, Buffer>();
  const limits = { fileSize: maxBodyBytes, files: fields.length, fields: 0, parts: fields.length, headerPairs: 100 };
  for await (const part of request.parts({ limits })) {
    if (part.type !== 'file' || !fields.includes(part.fieldname) || found.has(part.fieldname)) {
      throw new InvalidOptionError(`unexpected multipart field "${part.fieldname}" (expected files: ${fields.join(', ')}; options go in the query string)`);
    }
    found.set(part.fieldname, await part.toBuffer());
  }
  return fields.map((field) => {
    const data = found.get(field);
    if (!data || data.length === 0) throw new InvalidInputError(`the multipart file "${field}" is missing or empty`);
    return data;
  });
}

/** Reads only the image header: 415 when it is not an image, 413 when it has too many pixels. */
async function checkImageHeader(data: Buffer, maxPixels: number, name: string): Promise<ImageHeader> {
  let header: ImageHeader;
  try {
    header = await probeImage(data);
  } catch (err) {
    throw new InvalidInputError(`${name}: ${(err as Error).message}`, { cause: err });
  }
  const { width, height, pages } = header;
  if (width * height * pages > maxPixels) {
    const what = pages > 1 ? `${pages} frames of ${width} x ${height}` : `${width} x ${height}`;
    throw new TooLargeError(`${name} is ${what} = ${width * height * pages} pixels, over the limit of ${maxPixels}`);
  }
  return header;
}
