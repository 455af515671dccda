/** `flwnet worker --redis URL`: a queue worker (lib/queue/worker) until SIGTERM/SIGINT. */
import { checkDevice, checkPrecision } from '../options';
import { startWorker } from '../queue/worker';
import { integerOption, parseCommandLine, UsageError, waitForStopSignal } from './common';

const HELP = `Usage: flwnet worker --redis redis://HOST:PORT [options]

Takes enhancement jobs from a Redis queue (submitted with "flwnet enhance ... --queue URL" or
submitBatch()) and writes each output, atomically, at the path the job names. Inputs and outputs
are paths on storage every worker sees. Start as many workers, on as many machines, as you like.
Redis must run with maxmemory-policy noeviction (jobs must never be evicted).

Options:
  --redis <url>            the Redis server (required), e.g. redis://127.0.0.1:6379
  --queue <name>           queue name (default flwnet)
  --concurrency <n>        jobs processed at once (default 2)
  --weights <file>         .pth or .safetensors weights (default: $FLWNET_WEIGHTS)
  --device <name>          auto (default), cpu, cuda or cuda:N
  --precision <mode>       GPU arithmetic: exact (default) or fast
  --threads <n>            CPU threads (default: all cores)
  --lock-duration <ms>     a dead worker's jobs are taken over after this (default 30000)
  --stalled-interval <ms>  how often to look for jobs of dead workers (default 30000)
  --max-stalled <n>        times a job may lose its worker before it fails (default 2)
  --shutdown-timeout <ms>  how long SIGTERM waits for jobs in progress (default 30000)
  --verbose                a line per finished job on stderr
  -h, --help               show this help

Prints "flwnet: worker ready" once connected. SIGTERM or SIGINT finishes the jobs in progress
and exits 0.
`;

const OPTIONS = {
  redis: { type: 'string' },
  queue: { type: 'string' },
  concurrency: { type: 'string' },
  weights: { type: 'string' },
  device: { type: 'string' },
  precision: { type: 'string' },
  threads: { type: 'string' },
  'lock-duration': { type: 'string' },
  'stalled-interval': { type: 'string' },
  'max-stalled': { type: 'string' },
  'shutdown-timeout': { type: 'string' },
  verbose: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function runWorker(argv: string[]): Promise<number> {
  const { values } = parseCommandLine(argv, OPTIONS, false);
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (!values.redis) throw new UsageError('worker needs --redis redis://HOST:PORT');
  const worker = await startWorker({
    redis: values.redis,
    queue: values.queue,
    concurrency: integerOption('concurrency', values.concurrency, 1, 1024),
    weights: values.weights,
    device: checkDevice(values.device),
    precision: checkPrecision(values.precision),
    threads: integerOption('threads', values.threads, 1, 1024),
    lockDurationMs: integerOption('lock-duration', values['lock-duration'], 100, 86_400_000),
    stalledIntervalMs: integerOption('stalled-interval', values['stalled-interval'], 100, 86_400_000),
    maxStalledCount: integerOption('max-stalled', values['max-stalled'], 0, 1000),
    closeTimeoutMs: integerOption('shutdown-timeout', values['shutdown-timeout'], 0, 86_400_000),
    onJob: values.verbose
      ? (e) => process.stderr.write(`flwnet: job ${e.id} ${e.ok ? `wrote ${e.output}` : `failed: ${e.error}`}\n`)
      : undefined,
  });
  const stop = waitForStopSignal();
  await worker.ready;
  process.stdout.write(`flwnet: worker ready (${worker.enhancer.description}, pid ${process.pid})\n`);
  const signal = await stop;
  process.stderr.write(`flwnet: ${signal}: finishing jobs in progress\n`);
  await worker.close();
  // A Redis client still retrying an unreachable server would keep the process alive: the exit
  // code is set by then, so leave shortly even if it does.
  setTimeout(() => process.exit(0), 1000).unref();
  return 0;
}
