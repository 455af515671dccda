/**
 * Batches made ahead in a worker thread: while step k runs on the native threads, the worker
 * crops and degrades batch k + 1 (and up to `depth` ahead), so the event loop never does pixel work.
 */
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { ClosedError } from '../errors';
import { rebuildError, type BatchSpec, type TrainingImage } from './data';
import type { TrainExample } from './native-trainer';

type Pending = { resolve: (batch: TrainExample[]) => void; reject: (err: Error) => void; promise: Promise<TrainExample[]> };

export class BatchPrefetcher {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private failure: Error | undefined;
  private closed = false;

  constructor(images: TrainingImage[], spec: BatchSpec, private readonly depth = 2) {
    this.worker = new Worker(path.join(__dirname, 'batch-worker.js'), { workerData: { images, spec } });
    this.worker.on('message', (msg: { index: number; batch?: TrainExample[]; error?: { message: string; code?: string } }) => {
      const entry = this.pending.get(msg.index);
      if (!entry) return;
      if (msg.error) entry.reject(rebuildError(msg.error));
      else entry.resolve(msg.batch!);
    });
    const fail = (err: Error) => {
      this.failure = err;
      for (const entry of this.pending.values()) entry.reject(err);
    };
    this.worker.on('error', (err: Error) => fail(rebuildError({ message: err.message })));
    this.worker.on('exit', (code) => {
      if (!this.closed) fail(rebuildError({ message: `the batch worker exited (code ${code})` }));
    });
  }

  private request(index: number): Pending {
    let entry = this.pending.get(index);
    if (entry) return entry;
    let resolve!: Pending['resolve'];
    let reject!: Pending['reject'];
    const promise = new Promise<TrainExample[]>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    promise.catch(() => undefined); // a prefetched batch nobody asks for must not be an unhandled rejection
    entry = { resolve, reject, promise };
    this.pending.set(index, entry);
    if (this.failure) reject(this.failure);
    else this.worker.postMessage({ index });
    return entry;
  }

  /** Batch `index`; asks the worker for the next `depth` batches too. */
  async get(index: number): Promise<TrainExample[]> {
    if (this.closed) throw new ClosedError('the batch prefetcher is closed');
    const entry = this.request(index);
    for (let k = 1; k <= this.depth; k++) this.request(index + k);
    try {
      return await entry.promise;
    } finally {
      this.pending.delete(index);
      for (const key of this.pending.keys()) if (key < index) this.pending.delete(key);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const entry of this.pending.values()) entry.reject(new ClosedError('the batch prefetcher is closed'));
    this.pending.clear();
    await this.worker.terminate();
  }
}
