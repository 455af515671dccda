/**
 * Backpressure for the service: at most `concurrency` requests hold an inference slot, at most
 * `maxQueue` wait for one, and anything past that is refused at once with BusyError (HTTP 503 and
 * Retry-After) instead of piling up memory. Waiters leave the line when their signal aborts.
 */
import { BusyError } from '../errors';
import { Semaphore } from '../scheduler';

export class Admission extends Semaphore {
  constructor(
    concurrency: number,
    readonly maxQueue: number,
    /** Seconds a refused client is told to wait (Retry-After). */
    readonly retryAfter: number,
    onChange: (running: number, waiting: number) => void = () => {},
  ) {
    super(concurrency, onChange);
  }

  /** True when a new request would be refused now. */
  get full(): boolean {
    return this.active >= this.count && this.depth >= this.maxQueue;
  }

  /** Waits for a slot (or throws BusyError when the line is full); call the returned function once done. */
  override async acquire(signal?: AbortSignal): Promise<() => void> {
    if (this.full && !signal?.aborted) {
      throw new BusyError(`the server is busy: ${this.active} requests running and ${this.depth} queued; retry later`, this.retryAfter);
    }
    return super.acquire(signal);
  }
}
