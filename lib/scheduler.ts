/**
 * Feeds inference requests to one native engine: at most `maxConcurrentRequests` native calls in
 * flight, the rest waiting in a FIFO that holds only references to the callers' inputs (outputs are
 * allocated when a request starts), small images packed into batches where the backend prefers it,
 * and AbortSignal support both while queued and while running.
 */
import { AbortError, ClosedError, fromNativeError } from './errors';
import type { NativeEngine, NativeGlobalResult, NativeImage } from './native';

export type OutputKind = 'uint8' | 'float32';

export interface InferenceResult {
  data: Uint8Array | Float32Array;
  global: NativeGlobalResult;
}

interface Job {
  image: NativeImage;
  exposure: number;
  output: OutputKind;
  signal?: AbortSignal;
  resolve(result: InferenceResult): void;
  reject(error: unknown): void;
  onAbort?: () => void;
}

/** Images up to this many pixels may share one native call when the backend batches. */
const BATCHABLE_PIXELS = 1 << 20;

export class Scheduler {
  private readonly queue: Job[] = [];
  private running = 0;

  constructor(
    private readonly engine: NativeEngine,
    private readonly concurrency: number,
    private readonly batchSize: number,
  ) {}

  /** Requests queued or running. */
  get pending(): number {
    return this.queue.length + this.running;
  }

  run(image: NativeImage, exposure: number, output: OutputKind, signal?: AbortSignal): Promise<InferenceResult> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    return new Promise<InferenceResult>((resolve, reject) => {
      const job: Job = { image, exposure, output, signal, resolve, reject };
      if (signal) {
        job.onAbort = () => {
          const index = this.queue.indexOf(job);
          if (index >= 0) {
            this.queue.splice(index, 1);
            reject(abortReason(signal));
          }
        };
        signal.addEventListener('abort', job.onAbort, { once: true });
      }
      this.queue.push(job);
      this.pump();
    });
  }

  private pump(): void {
    while (this.running < this.concurrency && this.queue.length > 0) {
      const batch = this.takeBatch();
      this.running += 1;
      this.execute(batch).finally(() => {
        this.running -= 1;
        this.pump();
      });
    }
  }

  private takeBatch(): Job[] {
    const first = this.queue.shift() as Job;
    const batch = [first];
    if (this.batchSize <= 1 || pixels(first.image) > BATCHABLE_PIXELS) return batch;
    while (batch.length < this.batchSize && this.queue.length > 0 && pixels(this.queue[0].image) <= BATCHABLE_PIXELS) {
      batch.push(this.queue.shift() as Job);
    }
    return batch;
  }

  private async execute(batch: Job[]): Promise<void> {
    // One cancel flag per native call; a batch of several small images is not interrupted midway.
    const cancel = new Int32Array(new SharedArrayBuffer(4));
    const cancelRunning = () => Atomics.store(cancel, 0, 1);
    if (batch.length === 1) {
      const job = batch[0];
      if (job.signal && job.onAbort) {
        job.signal.removeEventListener('abort', job.onAbort);
        job.onAbort = cancelRunning;
        job.signal.addEventListener('abort', cancelRunning, { once: true });
      }
    }
    try {
      const outputs = batch.map((job) => allocateOutput(job));
      const requests = batch.map((job, i) => ({ ...job.image, exposure: job.exposure, out: outputs[i] }));
      const results = await this.engine.enhance(requests, batch.length === 1 ? cancel : undefined);
      batch.forEach((job, i) => {
        if (job.signal?.aborted) job.reject(abortReason(job.signal));
        else job.resolve({ data: outputs[i], global: results[i] });
      });
    } catch (err) {
      for (const job of batch) {
        job.reject(job.signal?.aborted ? abortReason(job.signal) : fromNativeError(err));
      }
    } finally {
      batch.forEach(detach);
    }
  }
}

function allocateOutput(job: Job): Uint8Array | Float32Array {
  const length = job.image.width * job.image.height * job.image.channels;
  return job.output === 'float32' ? new Float32Array(length) : new Uint8Array(length);
}

function detach(job: Job): void {
  if (job.signal && job.onAbort) job.signal.removeEventListener('abort', job.onAbort);
}

function pixels(image: NativeImage): number {
  return image.width * image.height;
}

/** The error a call rejects with when its signal aborts: AbortError, or ClosedError for a forced close. */
export function abortReason(signal: AbortSignal): AbortError | ClosedError {
  const reason: unknown = signal.reason;
  if (reason instanceof AbortError) return reason;
  // One forced close aborts many calls: each gets its own error.
  if (reason instanceof ClosedError) return new ClosedError(reason.message);
  const detail = reason instanceof Error ? `: ${reason.message}` : '';
  return new AbortError(`the operation was aborted${detail}`, { cause: reason });
}

/**
 * A counting semaphore whose waiters can be aborted; `onChange` hears the slots taken and the
 * waiters after every change (for gauges).
 */
export class Semaphore {
  private readonly waiters: Array<() => void> = [];
  private available: number;

  constructor(
    readonly count: number,
    private readonly onChange: (running: number, waiting: number) => void = () => {},
  ) {
    this.available = count;
  }

  /** Slots taken. */
  get active(): number {
    return this.count - this.available;
  }

  /** Callers waiting for a slot. */
  get depth(): number {
    return this.waiters.length;
  }

  async acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) throw abortReason(signal);
    if (this.available > 0) {
      this.available -= 1;
      this.changed();
      return this.releaser();
    }
    await new Promise<void>((resolve, reject) => {
      const wake = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        const index = this.waiters.indexOf(wake);
        if (index >= 0) this.waiters.splice(index, 1);
        this.changed();
        reject(abortReason(signal as AbortSignal));
      };
      this.waiters.push(wake);
      this.changed();
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    return this.releaser();
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      // The slot passes straight to the next waiter, if any.
      const next = this.waiters.shift();
      if (next) next();
      else this.available += 1;
      this.changed();
    };
  }

  private changed(): void {
    this.onChange(this.active, this.waiters.length);
  }
}
