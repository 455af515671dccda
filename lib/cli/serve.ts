/** `flwnet serve`: the HTTP service (lib/serve) on a port, stopped gracefully by SIGTERM/SIGINT. */
import { InvalidOptionError } from '../errors';
import { checkDevice, checkPrecision } from '../options';
import { createService } from '../serve/server';
import { integerOption, parseCommandLine, waitForStopSignal } from './common';

const HELP = `Usage: flwnet serve [options]

Serves FLW-Net over HTTP (see the README for the routes; GET /openapi.json describes them):
  POST /v1/enhance   image body -> enhanced image     (?exposure=&format=&quality=)
  POST /v1/inspect   image body -> features and curve (?exposure=)
  POST /v1/evaluate  multipart enhanced + reference -> losses and metrics
  GET /healthz, /readyz, /metrics (Prometheus), /openapi.json

Options:
  --port <n>              port to listen on (default 8080; 0 picks a free one)
  --host <addr>           address to listen on (default 127.0.0.1)
  --weights <file>        .pth or .safetensors weights (default: $FLWNET_WEIGHTS)
  --device <name>         auto (default), cpu, cuda or cuda:N
  --precision <mode>      GPU arithmetic: exact (default) or fast
  --threads <n>           CPU threads (default: all cores)
  --concurrency <n>       requests processed at once (default 4)
  --max-queue <n>         requests waiting before new ones get 503 + Retry-After (default 64)
  --max-body <bytes>      largest request body; k/m/g suffixes allowed (default 64m)
  --max-pixels <n>        largest image in pixels (default 100000000)
  --timeout <ms>          per-request time limit (default 60000)
  --shutdown-timeout <ms> how long SIGTERM waits for accepted requests (default 30000)
  --api-key <key>         require "Authorization: Bearer <key>" (default: $FLWNET_API_KEY; none)
  --log                   log requests (JSON lines on stdout)
  -h, --help              show this help

The first line on stdout is "flwnet: listening on <url>". SIGTERM or SIGINT stops accepting,
finishes accepted requests and exits 0.
`;

const OPTIONS = {
  port: { type: 'string' },
  host: { type: 'string' },
  weights: { type: 'string' },
  device: { type: 'string' },
  precision: { type: 'string' },
  threads: { type: 'string' },
  concurrency: { type: 'string' },
  'max-queue': { type: 'string' },
  'max-body': { type: 'string' },
  'max-pixels': { type: 'string' },
  timeout: { type: 'string' },
  'shutdown-timeout': { type: 'string' },
  'api-key': { type: 'string' },
  log: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** "64m", "1g", "500000" -> bytes. */
export function parseByteSize(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const match = /^(\d+)([kmg]?)i?b?$/i.exec(value.trim());
  if (!match) throw new InvalidOptionError(`--${name} must be a byte count like 1048576, 512k, 64m or 1g, got "${value}"`);
  const scale = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[match[2].toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Number(match[1]) * scale;
}

export async function runServe(argv: string[]): Promise<number> {
  const { values } = parseCommandLine(argv, OPTIONS, false);
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const port = integerOption('port', values.port, 0, 65535) ?? 8080;
  const apiKey = values['api-key'] ?? (process.env.FLWNET_API_KEY || undefined);
  const service = await createService({
    weights: values.weights,
    device: checkDevice(values.device),
    precision: checkPrecision(values.precision),
    threads: integerOption('threads', values.threads, 1, 1024),
    concurrency: integerOption('concurrency', values.concurrency, 1, 4096),
    maxQueue: integerOption('max-queue', values['max-queue'], 0, 1_000_000),
    maxBodyBytes: parseByteSize('max-body', values['max-body']),
    maxPixels: integerOption('max-pixels', values['max-pixels'], 1, 2 ** 28),
    timeoutMs: integerOption('timeout', values.timeout, 1, 86_400_000),
    shutdownTimeoutMs: integerOption('shutdown-timeout', values['shutdown-timeout'], 0, 86_400_000),
    apiKey,
    logger: values.log === true,
  });
  let address: string;
  try {
    address = await service.listen({ port, host: values.host ?? '127.0.0.1' });
  } catch (err) {
    await service.close();
    throw err;
  }
  process.stdout.write(`flwnet: listening on ${address} (${service.enhancer.description}${apiKey ? ', API key required' : ''})\n`);
  const signal = await waitForStopSignal();
  process.stderr.write(`flwnet: ${signal}: finishing accepted requests\n`);
  await service.close();
  process.stderr.write('flwnet: stopped\n');
  return 0;
}
