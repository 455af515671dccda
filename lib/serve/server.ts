/**
 * flwnet's own HTTP server (what `flwnet serve` runs) and a plain `(req, res)` handler for
 * node:http or express, both built from the fastify plugin in ./routes.
 */
import http from 'node:http';
import Fastify, { type FastifyInstance } from 'fastify';
import { Enhancer, ENHANCER_KEYS, type EnhancerOptions } from '../enhancer';
import { InvalidOptionError } from '../errors';
import { createMetrics, type ServiceMetrics } from './metrics';
import { sendError, toServiceError } from './reply-errors';
import { flwnetRoutes, type FlwnetRoutesOptions } from './routes';

export interface ServeOptions extends Omit<FlwnetRoutesOptions, 'enhancer' | 'isReady' | 'metrics'>, EnhancerOptions {
  /** An engine to serve with; by default one is created from the engine options and closed with the service. */
  enhancer?: Enhancer;
  /** Fastify's logger (pino) settings; default off. */
  logger?: boolean | object;
  /** How long close() waits for accepted requests before cutting their connections (default 30,000 ms). */
  shutdownTimeoutMs?: number;
}

export class FlwnetService {
  private draining = false;
  private closing?: Promise<void>;

  /** @internal use createService() */
  constructor(
    readonly app: FastifyInstance,
    readonly enhancer: Enhancer,
    readonly metrics: ServiceMetrics,
    private readonly ownsEnhancer: boolean,
    private readonly shutdownTimeoutMs: number,
  ) {}

  /** False once close() has begun (GET /readyz then answers 503). */
  get ready(): boolean {
    return !this.draining;
  }

  /** Starts listening; resolves with the address, e.g. http://127.0.0.1:8080. */
  async listen(options: { port?: number; host?: string } = {}): Promise<string> {
    return this.app.listen({ port: options.port ?? 8080, host: options.host ?? '127.0.0.1' });
  }

  /**
   * Stops accepting connections, lets accepted requests finish (up to shutdownTimeoutMs, after
   * which their connections are cut and their inference cancelled), then releases the engine.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.draining = true;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.app.server.closeAllConnections();
        resolve();
      }, this.shutdownTimeoutMs);
    });
    try {
      const closed = this.app.close();
      await Promise.race([closed, deadline]);
      await closed;
    } finally {
      clearTimeout(timer);
      if (this.ownsEnhancer) await this.enhancer.close();
    }
  }
}

/** Builds the service (engine, fastify instance, routes) without listening. */
export async function createService(options: ServeOptions = {}, serverFactory?: (handler: http.RequestListener) => http.Server): Promise<FlwnetService> {
  const { enhancer: given, logger, shutdownTimeoutMs, ...rest } = options;
  const engineOptions: Record<string, unknown> = {};
  const routeOptions: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(rest)) {
    if (value === undefined) continue;
    // maxPixels is both: the service's limit (413) and, for an engine made here, the engine's.
    if (key === 'maxPixels') routeOptions[key] = value;
    if (ENHANCER_KEYS.includes(key) && !(key === 'maxPixels' && given)) engineOptions[key] = value;
    else routeOptions[key] = value;
  }
  if (shutdownTimeoutMs !== undefined && (!Number.isInteger(shutdownTimeoutMs) || shutdownTimeoutMs < 0)) {
    throw new InvalidOptionError(`shutdownTimeoutMs must be an integer >= 0, got ${String(shutdownTimeoutMs)}`);
  }
  if (given && Object.keys(engineOptions).length > 0) {
    throw new InvalidOptionError(`engine options (${Object.keys(engineOptions).join(', ')}) cannot be combined with { enhancer }`);
  }
  const enhancer = given ?? (await Enhancer.create(engineOptions as EnhancerOptions));
  try {
    const app = Fastify({
      logger: logger ?? false,
      // Query strings are text: coerce them to the schema's types, and reject unknown parameters
      // (a misspelt option fails loudly instead of being dropped).
      ajv: { customOptions: { coerceTypes: true, removeAdditional: false, useDefaults: false, allErrors: false } },
      return503OnClosing: true,
      forceCloseConnections: 'idle',
      ...(serverFactory ? { serverFactory } : {}),
    });
    const metrics = createMetrics();
    let service: FlwnetService | undefined;
    app.setNotFoundHandler((request, reply) =>
      sendError(reply, { code: 'ERR_FLWNET_NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}` }),
    );
    app.setErrorHandler((err, _request, reply) => sendError(reply, toServiceError(err)));
    await app.register(flwnetRoutes, { ...(routeOptions as Omit<FlwnetRoutesOptions, 'enhancer'>), enhancer, metrics, isReady: () => service?.ready ?? false });
    await app.ready();
    service = new FlwnetService(app, enhancer, metrics, !given, shutdownTimeoutMs ?? 30_000);
    return service;
  } catch (err) {
    if (!given) await enhancer.close();
    throw err;
  }
}

export type FlwnetRequestHandler = http.RequestListener & {
  /** The service behind the handler (metrics, enhancer). */
  service: FlwnetService;
  /** Waits for accepted requests and releases the engine when the handler created it. */
  close(): Promise<void>;
};

/**
 * A `(req, res)` handler serving the flwnet routes, for node:http or express. Mount it before any
 * body parser (it reads the body itself); under express, `app.use('/flwnet', handler)` works.
 */
export async function createRequestHandler(options: ServeOptions = {}): Promise<FlwnetRequestHandler> {
  let routed: http.RequestListener | undefined;
  const service = await createService(options, (handler) => {
    routed = handler;
    return http.createServer();
  });
  const handler = ((req: http.IncomingMessage, res: http.ServerResponse) => (routed as http.RequestListener)(req, res)) as FlwnetRequestHandler;
  handler.service = service;
  handler.close = () => service.close();
  return handler;
}
