/**
 * The producer side: submitBatch() puts one BullMQ job per image on the queue and follows them to
 * the end. Results arrive as an async iterable, in the order jobs finish, across all workers.
 *
 *   const batch = await submitBatch(items, { redis: 'redis://127.0.0.1:6379' });
 *   for await (const r of batch.results()) console.log(r.ok ? r.output : r.error.code);
 *
 * Following is done by polling the jobs' records (not by listening to events), so a Redis
 * restart or a dropped connection delays results but never loses one.
 */
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Job, Queue } from 'bullmq';
import type { BatchProgress } from '../batch';
import { ClosedError, InvalidInputError, InvalidOptionError } from '../errors';
import { checkFormatAndQuality, takesQuality } from '../formats';
import { type ExposureOption, checkExposure, checkFormat, checkInteger, type OutputFormat } from '../options';
import { checkQueueName, closableConnection, closeWithin, decodeFailure, JOB_NAME, type EnhanceJobData, type EnhanceJobResult } from './jobs';

export interface QueueItem {
  /** Input image path, on storage every worker sees (made absolute here). */
  input: string;
  /** Output path, on the same storage. */
  output: string;
  /** This item's format, overriding the batch's. */
  format?: OutputFormat | 'jpg';
}

export interface SubmitOptions {
  redis: string;
  queue?: string;
  exposure?: ExposureOption;
  format?: OutputFormat | 'jpg';
  quality?: number;
  /** Workers leave outputs that already exist. */
  skipExisting?: boolean;
  /** Tries per job for retryable failures (default 3); bad images fail on the first. */
  attempts?: number;
  /** First retry delay, doubled each time (default 1000 ms). */
  backoffMs?: number;
  /** Inputs up to this many bytes travel inside the job instead of by path (default 0: none). */
  inlineBelowBytes?: number;
  /** How often job records are polled (default 250 ms). */
  pollIntervalMs?: number;
}

export type QueuedResult =
  | { ok: true; index: number; input: string; output: string; status: 'written' | 'exists'; width: number; height: number; worker: string }
  | { ok: false; index: number; input: string; output: string; error: { code: string; message: string }; attempts: number };

export type QueuedJobState = 'waiting' | 'active' | 'delayed' | 'completed' | 'failed' | 'unknown' | string;

const ADD_CHUNK = 500;
const POLL_CHUNK = 500;

export class QueuedBatch {
  private readonly pending = new Set<number>();
  private readonly started = performance.now();
  private succeeded = 0;
  private failed = 0;
  private megapixels = 0;
  private iterating = false;
  private closed = false;
  /** Rejects with ClosedError once close() is called, so that calls waiting on Redis end with it. */
  private readonly closing: Promise<never>;
  private closeNow: () => void = () => {};

  /** @internal use submitBatch() */
  constructor(
    readonly id: string,
    private readonly queue: Queue<EnhanceJobData, EnhanceJobResult>,
    private readonly items: QueueItem[],
    private readonly pollIntervalMs: number,
    /** Switches the connection's reconnection off (redisConnection) when close() gives up on Redis. */
    private readonly giveUp: () => void = () => {},
  ) {
    for (let i = 0; i < items.length; i++) this.pending.add(i);
    this.closing = new Promise<never>((_, reject) => {
      this.closeNow = () => reject(new ClosedError('the batch was closed'));
    });
    this.closing.catch(() => undefined);
  }

  get total(): number {
    return this.items.length;
  }

  /** Done, failed, rate across every worker (the same shape as local batches' progress). */
  get progress(): BatchProgress {
    const elapsedSeconds = (performance.now() - this.started) / 1000;
    return {
      done: this.succeeded + this.failed,
      succeeded: this.succeeded,
      failed: this.failed,
      total: this.items.length,
      mpixPerSecond: elapsedSeconds > 0 ? this.megapixels / elapsedSeconds : 0,
      elapsedSeconds,
    };
  }

  jobId(index: number): string {
    return `${this.id}-${index}`;
  }

  /** The state of one job of the batch, as BullMQ reports it (ClosedError once the batch is closed). */
  async status(index: number): Promise<QueuedJobState> {
    return this.untilClosed(this.queue.getJobState(this.jobId(index)));
  }

  /** Every job's result as it finishes (any order); ends when all have finished (or close()). Iterate once. */
  async *results(): AsyncGenerator<QueuedResult> {
    if (this.iterating) throw new InvalidOptionError('results() can be iterated once per batch');
    this.iterating = true;
    while (this.pending.size > 0 && !this.closed) {
      // close() ends the iteration even while a poll waits for an unreachable Redis.
      const finished = await this.untilClosed(this.poll()).catch((err) => {
        if (err instanceof ClosedError) return [];
        throw err;
      });
      for (const result of finished) yield result;
      if (this.pending.size > 0 && finished.length === 0) await new Promise((r) => setTimeout(r, this.pollIntervalMs));
    }
  }

  /**
   * Closes the producer's connection (jobs go on in the workers). With Redis unreachable it waits
   * at most 5 s for commands in flight, then drops the connection.
   */
  close(): Promise<void> {
    this.closed = true;
    this.closeNow();
    return closeWithin(5000, this.queue, this.giveUp);
  }

  private untilClosed<T>(promise: Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new ClosedError('the batch was closed'));
    return Promise.race([promise, this.closing]);
  }

  /** Looks at up to POLL_CHUNK unfinished jobs; a connection error just means "nothing yet". */
  private async poll(): Promise<QueuedResult[]> {
    const indices = [...this.pending].slice(0, POLL_CHUNK);
    let jobs: Array<Job<EnhanceJobData, EnhanceJobResult> | undefined>;
    try {
      jobs = await Promise.all(indices.map((i) => Job.fromId<EnhanceJobData, EnhanceJobResult>(this.queue, this.jobId(i))));
    } catch {
      return [];
    }
    const finished: QueuedResult[] = [];
    indices.forEach((index, k) => {
      const result = this.resultOf(index, jobs[k]);
      if (!result) return;
      this.pending.delete(index);
      if (result.ok) {
        this.succeeded += 1;
        this.megapixels += (result.width * result.height) / 1e6;
      } else {
        this.failed += 1;
      }
      finished.push(result);
    });
    return finished;
  }

  private resultOf(index: number, job: Job<EnhanceJobData, EnhanceJobResult> | undefined): QueuedResult | undefined {
    const { input, output } = this.items[index];
    if (!job) {
      // Removed before we saw it finish (Redis lost its data, or someone cleaned the queue): said, not dropped.
      return { ok: false, index, input, output, error: { code: 'ERR_FLWNET_QUEUE', message: `job ${this.jobId(index)} is gone from the queue` }, attempts: 0 };
    }
    if (!job.finishedOn) return undefined;
    const value = job.returnvalue as EnhanceJobResult | null | undefined;
    if (value && typeof value === 'object' && typeof value.status === 'string') {
      return { ok: true, index, input, output, status: value.status, width: value.width, height: value.height, worker: value.worker };
    }
    return { ok: false, index, input, output, error: decodeFailure(job.failedReason), attempts: job.attemptsMade };
  }
}

/** Puts one job per item on the queue and returns the batch to follow. */
export async function submitBatch(items: Iterable<QueueItem>, options: SubmitOptions): Promise<QueuedBatch> {
  const settings = checkSubmitOptions(options);
  const list = [...items].map((item) => ({ ...item, input: path.resolve(item.input), output: path.resolve(item.output) }));
  const batchId = `b${Date.now().toString(36)}${crypto.randomBytes(4).toString('hex')}`;
  const { connection, giveUp } = closableConnection(options.redis);
  const queue = new Queue<EnhanceJobData, EnhanceJobResult>(settings.queue, { connection });
  queue.on('error', () => {}); // reconnection is automatic; polling reports what matters
  const batch = new QueuedBatch(batchId, queue, list, settings.pollIntervalMs, giveUp);
  try {
    for (let start = 0; start < list.length; start += ADD_CHUNK) {
      const chunk = list.slice(start, start + ADD_CHUNK);
      const jobs = await Promise.all(chunk.map(async (item, k) => ({
        name: JOB_NAME,
        data: await jobData(item, settings),
        opts: {
          jobId: batch.jobId(start + k),
          attempts: settings.attempts,
          backoff: { type: 'exponential', delay: settings.backoffMs },
          // Records stay a day so the producer (or a later `status`) can read them, then go.
          removeOnComplete: { age: 86_400 },
          removeOnFail: { age: 86_400 },
        },
      })));
      await queue.addBulk(jobs);
    }
  } catch (err) {
    await queue.close();
    throw err;
  }
  return batch;
}

function checkSubmitOptions(options: SubmitOptions) {
  if (!options || typeof options.redis !== 'string') throw new InvalidOptionError('submitBatch needs { redis: "redis://host:port" }');
  const { format, quality } = checkFormatAndQuality(options.format, options.quality);
  return {
    queue: checkQueueName(options.queue),
    exposure: options.exposure === undefined ? undefined : checkExposure(options.exposure),
    format,
    quality,
    skipExisting: options.skipExisting === true,
    attempts: checkInteger('attempts', options.attempts, 1, 100, 3),
    backoffMs: checkInteger('backoffMs', options.backoffMs, 0, 3_600_000, 1000),
    inlineBelowBytes: checkInteger('inlineBelowBytes', options.inlineBelowBytes, 0, 16 * 1024 * 1024, 0),
    pollIntervalMs: checkInteger('pollIntervalMs', options.pollIntervalMs, 10, 60_000, 250),
  };
}

async function jobData(item: QueueItem, settings: ReturnType<typeof checkSubmitOptions>): Promise<EnhanceJobData> {
  if (typeof item.input !== 'string' || typeof item.output !== 'string') {
    throw new InvalidInputError('each queue item needs { input, output } paths');
  }
  const format = checkFormat(item.format) ?? settings.format;
  const data: EnhanceJobData = {
    output: item.output,
    exposure: settings.exposure,
    format,
    // An item's own lossless format takes no quality: the batch's quality is for the lossy ones.
    quality: format && !takesQuality(format) ? undefined : settings.quality,
    skipExisting: settings.skipExisting,
  };
  if (settings.inlineBelowBytes > 0) {
    const size = await fs.stat(item.input).then((s) => s.size, () => Infinity);
    if (size <= settings.inlineBelowBytes) return { ...data, inline: (await fs.readFile(item.input)).toString('base64') };
  }
  return { ...data, input: item.input };
}
