/**
 * A queue worker: takes enhancement jobs from a BullMQ queue on Redis, runs them on one Enhancer
 * and writes each output atomically (temporary file + rename), so a job that is retried or taken
 * over from a dead worker never leaves a partial file. BullMQ does the distribution, locking,
 * stalled-job recovery and retries; this file only says how one job is done.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { writeFileAtomically } from '../atomic-write';
import { Enhancer, ENHANCER_KEYS, type EnhancerOptions } from '../enhancer';
import { FlwnetError, fromNativeError, InvalidInputError, InvalidOptionError, IoError, isRetryable } from '../errors';
import { probeImage } from '../image-io';
import { checkInteger } from '../options';
import { checkJobData, checkQueueName, closableConnection, closeWithin, encodeFailure, type EnhanceJobData, type EnhanceJobResult } from './jobs';

export interface WorkerOptions extends EnhancerOptions {
  /** redis://host:port[/db] */
  redis: string;
  /** Queue name (default 'flwnet'). */
  queue?: string;
  /** Jobs processed at once (default 2). */
  concurrency?: number;
  /** How long a job's lock lasts without renewal; a dead worker's jobs are taken over after it (default 30,000 ms). */
  lockDurationMs?: number;
  /** How often this worker looks for stalled jobs of dead workers (default 30,000 ms). */
  stalledIntervalMs?: number;
  /** How many times a job may stall (its worker died) before it is failed (default 2). */
  maxStalledCount?: number;
  /** How long close() waits for jobs in progress before giving them up to other workers (default 30,000 ms). */
  closeTimeoutMs?: number;
  /** Serve with this engine instead of creating one (it is not closed by close()). */
  enhancer?: Enhancer;
  /** Called after each job, successful or not (for logs). */
  onJob?: (event: { id: string; ok: boolean; output?: string; error?: string }) => void;
}

export interface FlwnetWorker {
  readonly worker: Worker<EnhanceJobData, EnhanceJobResult>;
  readonly enhancer: Enhancer;
  /** Resolves once the worker is connected to Redis and taking jobs. */
  readonly ready: Promise<void>;
  /** Finishes the jobs in progress, stops taking new ones and releases the engine. */
  close(): Promise<void>;
}

/**
 * BullMQ's worker with a way to stop its timers when close() gives up on Redis: its own close()
 * stops the lock renewal and the stalled-job check only after the jobs in progress have reported
 * to Redis, so while Redis is unreachable those timers would keep a closed worker's process alive.
 */
class EnhanceWorker extends Worker<EnhanceJobData, EnhanceJobResult> {
  async stopTimers(): Promise<void> {
    await this.lockManager.close();
    await this.pause(true); // without waiting for jobs: stops the stalled-job check's timer
  }
}

const identity = `${os.hostname()}:${process.pid}`;
const hostTag = os.hostname().replace(/[^A-Za-z0-9.-]/g, '_');

export async function startWorker(options: WorkerOptions): Promise<FlwnetWorker> {
  const { redis, queue, concurrency, lockDurationMs, stalledIntervalMs, maxStalledCount, closeTimeoutMs, enhancer: given, onJob, ...engineOptions } = options;
  const { connection, giveUp } = closableConnection(redis);
  const name = checkQueueName(queue);
  const limit = (label: string, value: number | undefined, fallback: number, min: number) =>
    checkInteger(label, value, min, Number.MAX_SAFE_INTEGER, fallback);
  const settings = {
    concurrency: limit('concurrency', concurrency, 2, 1),
    lockDuration: limit('lockDurationMs', lockDurationMs, 30_000, 100),
    stalledInterval: limit('stalledIntervalMs', stalledIntervalMs, 30_000, 100),
    maxStalledCount: limit('maxStalledCount', maxStalledCount, 2, 0),
  };
  const closeTimeout = limit('closeTimeoutMs', closeTimeoutMs, 30_000, 0);
  for (const key of Object.keys(engineOptions)) {
    if (!ENHANCER_KEYS.includes(key)) throw new InvalidOptionError(`startWorker: unknown option "${key}"`);
  }
  const enhancer = given ?? (await Enhancer.create(engineOptions));
  const worker = new EnhanceWorker(name, (job) => processJob(enhancer, job), {
    connection,
    ...settings,
    autorun: true,
  });
  // Connection errors are retried by the client; they are reported, never thrown from an emitter.
  worker.on('error', (err) => process.emitWarning(`flwnet worker: ${err.message}`, 'FlwnetWarning'));
  if (onJob) {
    worker.on('completed', (job, result) => onJob({ id: String(job.id), ok: true, output: result.output }));
    worker.on('failed', (job, err) => onJob({ id: String(job?.id), ok: false, error: err.message }));
  }
  let closing: Promise<void> | undefined;
  return {
    worker,
    enhancer,
    ready: worker.waitUntilReady().then(() => undefined),
    close() {
      closing ??= (async () => {
        // Jobs given up after the timeout keep their lock until it expires, then another worker
        // takes them over. Giving up also ends the reconnection attempts and the lock renewal,
        // so that nothing keeps the process alive once closed.
        await closeWithin(closeTimeout, worker, () => {
          giveUp();
          void worker.stopTimers().catch(() => undefined);
        });
        if (!given) await enhancer.close();
      })();
      return closing;
    },
  };
}

/** One job: read the input, enhance, write the output atomically. Errors say whether to retry. */
async function processJob(enhancer: Enhancer, job: Job<EnhanceJobData, EnhanceJobResult>): Promise<EnhanceJobResult> {
  const started = performance.now();
  try {
    const data = checkJobData(job.data);
    const existing = await fs.stat(data.output).catch(() => undefined);
    // An output newer than the job was written by an earlier attempt of this very job (its worker
    // died before reporting): keep it rather than write it twice.
    if (existing && (data.skipExisting || existing.mtimeMs >= job.timestamp)) {
      return { output: data.output, status: 'exists', width: 0, height: 0, seconds: 0, worker: identity };
    }
    const input = data.inline !== undefined ? Buffer.from(data.inline, 'base64') : await readInput(data.input as string);
    // The header gives the reported size: BMP is read too, a bad image fails before any work with a
    // typed error, and an animation's height is one frame's.
    const { width, height } = await probeImage(input);
    const output = await enhancer.enhance(input, { exposure: data.exposure, format: data.format, quality: data.quality });
    await writeOutput(data.output, output, String(job.id), job.attemptsStarted > 1);
    return { output: data.output, status: 'written', width, height, seconds: (performance.now() - started) / 1000, worker: identity };
  } catch (err) {
    const typed = err instanceof FlwnetError ? err : fromNativeError(err);
    const reason = encodeFailure(typed.code, typed.message);
    // A bad image or option fails the same way every time: fail the job now, without retries.
    throw isRetryable(typed) ? new Error(reason) : new UnrecoverableError(reason);
  }
}

async function readInput(file: string): Promise<Buffer> {
  try {
    return await fs.readFile(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT' || e.code === 'EISDIR' || e.code === 'EACCES') {
      throw new InvalidInputError(`cannot read ${file}: ${e.message}`, { cause: err });
    }
    throw new IoError(`cannot read ${file}: ${e.message}`, { cause: err }); // storage errors may pass: retried
  }
}

async function writeOutput(file: string, data: Uint8Array, jobId: string, retried: boolean): Promise<void> {
  try {
    await fs.mkdir(path.dirname(file), { recursive: true });
    if (retried) await removeStaleTemps(file, jobId);
    // The host in the tag keeps workers on different machines sharing the storage apart.
    await writeFileAtomically(file, data, `${hostTag}.${jobId}`);
  } catch (err) {
    throw new IoError(`cannot write ${file}: ${(err as Error).message}`, { cause: err });
  }
}

function tempPrefix(file: string): string {
  return `.${path.basename(file)}.`;
}

/** A worker killed while writing leaves its temporary file: the next attempt of the job removes it. */
async function removeStaleTemps(file: string, jobId: string): Promise<void> {
  const dir = path.dirname(file);
  const suffix = `.${jobId}.partial`;
  for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
    if (name.startsWith(tempPrefix(file)) && name.endsWith(suffix)) await fs.rm(path.join(dir, name), { force: true });
  }
}
