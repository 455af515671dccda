/**
 * The service's Prometheus metrics (prom-client), on a registry of their own so that embedding
 * the routes never collides with metrics the host application registers.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface ServiceMetrics {
  registry: Registry;
  requests: Counter<'route' | 'method' | 'status'>;
  latency: Histogram<'route' | 'method' | 'status'>;
  queueDepth: Gauge;
  inFlight: Gauge;
  images: Counter<'route'>;
  megapixels: Counter<'route'>;
  cancelled: Counter<'reason'>;
  device: Gauge<'device' | 'description'>;
}

export function createMetrics(options: { defaultMetrics?: boolean; prefix?: string } = {}): ServiceMetrics {
  const registry = new Registry();
  const prefix = options.prefix ?? 'flwnet_';
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix });
  const registers = [registry];
  const labels = ['route', 'method', 'status'] as const;
  return {
    registry,
    requests: new Counter({ name: `${prefix}http_requests_total`, help: 'HTTP requests by route, method and status', labelNames: labels, registers }),
    latency: new Histogram({
      name: `${prefix}http_request_duration_seconds`,
      help: 'HTTP request latency in seconds, from arrival to the last byte sent',
      labelNames: labels,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    }),
    queueDepth: new Gauge({ name: `${prefix}queue_depth`, help: 'Requests waiting for an inference slot', registers }),
    inFlight: new Gauge({ name: `${prefix}requests_in_flight`, help: 'Requests holding an inference slot', registers }),
    images: new Counter({ name: `${prefix}images_processed_total`, help: 'Images processed successfully, by route', labelNames: ['route'], registers }),
    megapixels: new Counter({ name: `${prefix}megapixels_processed_total`, help: 'Input megapixels processed successfully, by route', labelNames: ['route'], registers }),
    cancelled: new Counter({
      name: `${prefix}requests_cancelled_total`,
      help: 'Requests whose work was cancelled, by reason (disconnect: the client went away or its connection was cut at shutdown; timeout)',
      labelNames: ['reason'],
      registers,
    }),
    device: new Gauge({ name: `${prefix}device_info`, help: 'The device the engine runs on (value 1)', labelNames: ['device', 'description'], registers }),
  };
}
