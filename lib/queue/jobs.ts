/**
 * What travels through the Redis queue between producers and workers: one job per image, naming
 * its input and output by path on storage every worker sees (small inputs may travel inline), and
 * the Redis connection settings both sides use.
 */
import type { ConnectionOptions } from 'bullmq';
import { InvalidOptionError, type FlwnetErrorCode } from '../errors';
import { type ExposureOption, checkExposure, checkFormat, checkInteger, describe, isPlainObject, type OutputFormat } from '../options';

export const DEFAULT_QUEUE = 'flwnet';
export const JOB_NAME = 'enhance';

export interface EnhanceJobData {
  /** The input image's path (absolute, on storage every worker sees); absent when `inline`. */
  input?: string;
  /** The input image itself, base64, for small images. */
  inline?: string;
  /** Where the worker writes the result (absolute path); written atomically. */
  output: string;
  exposure?: ExposureOption;
  format?: OutputFormat;
  quality?: number;
  /** Leave the output alone when it already exists. */
  skipExisting?: boolean;
}

export interface EnhanceJobResult {
  output: string;
  /** 'written', or 'exists' when the output was already there (skipExisting, or an earlier attempt of this job wrote it). */
  status: 'written' | 'exists';
  width: number;
  height: number;
  /** Seconds the worker spent on the job. */
  seconds: number;
  /** host:pid of the worker that did it. */
  worker: string;
}

/**
 * Connection settings for a redis:// URL. Commands wait for Redis to come back instead of
 * failing (maxRetriesPerRequest: null), and reconnection retries with a capped delay (0.1 to 2 s)
 * until `stopRetrying()` returns true: a Redis restart pauses a batch, it does not break it, and a
 * closed producer or worker does not keep its process alive retrying a Redis that is gone.
 */
export function redisConnection(url: string, stopRetrying: () => boolean = () => false): ConnectionOptions {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InvalidOptionError(`the Redis address must be a URL like redis://127.0.0.1:6379, got ${describe(url)}`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new InvalidOptionError(`the Redis address must start with redis:// or rediss://, got ${describe(url)}`);
  }
  const db = parsed.pathname.length > 1 ? Number(parsed.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) throw new InvalidOptionError(`the Redis database must be a number, got ${describe(parsed.pathname.slice(1))}`);
  return {
    host: parsed.hostname || '127.0.0.1',
    port: parsed.port ? Number(parsed.port) : 6379,
    db,
    username: parsed.username ? decodeURIComponent(parsed.username) : undefined,
    password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
    maxRetriesPerRequest: null,
    retryStrategy: (times: number) => (stopRetrying() ? null : Math.min(100 * times, 2000)),
  };
}

export function checkQueueName(name: unknown): string {
  if (name === undefined) return DEFAULT_QUEUE;
  if (typeof name !== 'string' || !/^[A-Za-z0-9._-]{1,100}$/.test(name)) {
    throw new InvalidOptionError(`the queue name must be 1-100 letters, digits, '.', '_' or '-', got ${describe(name)}`);
  }
  return name;
}

/** Validates job data read back from Redis (it may come from any producer). */
export function checkJobData(data: unknown): EnhanceJobData {
  if (!isPlainObject(data)) throw new InvalidOptionError('job data must be an object');
  const { input, inline, output, exposure, format, quality, skipExisting } = data;
  if ((typeof input === 'string') === (typeof inline === 'string')) {
    throw new InvalidOptionError('a job needs exactly one of input (a path) and inline (base64 bytes)');
  }
  if (typeof output !== 'string' || output === '') throw new InvalidOptionError('a job needs an output path');
  return {
    input: input as string | undefined,
    inline: inline as string | undefined,
    output,
    exposure: exposure === undefined ? undefined : checkExposure(exposure),
    format: checkFormat(format),
    quality: quality === undefined ? undefined : checkInteger('quality', quality, 1, 100, 0),
    skipExisting: skipExisting === true,
  };
}

/** Connection settings whose reconnection `giveUp()` switches off, for closeWithin(). */
export function closableConnection(url: string): { connection: ConnectionOptions; giveUp: () => void } {
  let givenUp = false;
  return { connection: redisConnection(url, () => givenUp), giveUp: () => (givenUp = true) };
}

/**
 * A graceful close that gives up after `timeoutMs`: with Redis unreachable, BullMQ's close() waits
 * for commands that may never be answered, so past the limit the connection is dropped instead.
 * Dropping it stops the client's reconnection at once, but a client that was between attempts
 * never reports that it ended, so that wait is bounded too (1 s); `giveUp` is called first, so that
 * such a client's pending retry finds reconnection switched off (see redisConnection) and no timer
 * keeps the process alive.
 */
export async function closeWithin(
  timeoutMs: number,
  client: { close(): Promise<void>; disconnect(): Promise<void> },
  giveUp: () => void = () => {},
): Promise<void> {
  if ((await settledWithin(client.close(), timeoutMs)) === 'late') {
    giveUp();
    await settledWithin(client.disconnect(), 1000);
  }
}

/** Waits for `promise` (its rejection included) at most `ms`. */
async function settledWithin(promise: Promise<unknown>, ms: number): Promise<'settled' | 'late'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), ms)));
  const outcome = await Promise.race([promise.then(() => 'settled' as const, () => 'settled' as const), late]);
  clearTimeout(timer);
  return outcome;
}

/** Failure reasons travel as "CODE: message" so the producer gets the typed code back. */
export function encodeFailure(code: FlwnetErrorCode, message: string): string {
  return `${code}: ${message}`;
}

export function decodeFailure(reason: string | undefined): { code: string; message: string } {
  const match = /^(ERR_[A-Z0-9_]+): ([\s\S]*)$/.exec(reason ?? '');
  if (match) return { code: match[1], message: match[2] };
  return { code: 'ERR_FLWNET_INTERNAL', message: reason || 'the job failed without a reason' };
}
