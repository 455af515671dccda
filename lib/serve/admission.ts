/**
 * Backpressure for the service: at most `concurrency` requests hold an inference slot, at most
 * `maxQueue` wait for one, and anything past that is refused at once with BusyError (HTTP 503 and
 * Retry-After) instead of piling up memory. Waiters leave the line when their signal aborts.
 */
import { AbortError, BusyError } from '../errors';

interface Waiter {
  grant(): void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

export class Admission {
  private running = 0;
  private readonly waiting: Waiter[] = [];

  constructor(
    readonly concurrency: number,
    readonly maxQueue: number,
    /** Seconds a refused client is told to wait (Retry-After). */
    readonly retryAfter: number,
    private readonly onChange: (running: number, waiting: number) => void = () => {},
  ) {}

  /** True when a new request would be refused now. */
  get full(): boolean {
    return this.running >= this.concurrency && this.waiting.length >= this.maxQueue;
  }

  get depth(): number {
    return this.waiting.length;
  }

  get active(): number {
    return this.running;
  }

  /** Waits for a slot (or throws BusyError when the line is full); call the returned function once done. */
  async acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) throw signal.reason ?? new AbortError();
    if (this.running < this.concurrency) {
      this.running += 1;
      this.changed();
      return this.releaser();
    }
    if (this.waiting.length >= this.maxQueue) {
      throw new BusyError(`the server is busy: ${this.running} requests running and ${this.waiting.length} queued; retry later`, this.retryAfter);
    }
    await new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { grant: resolve, signal };
      if (signal) {
        waiter.onAbort = () => {
          const index = this.waiting.indexOf(waiter);
          if (index >= 0) this.waiting.splice(index, 1);
          this.changed();
          reject(signal.reason ?? new AbortError());
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.waiting.push(waiter);
      this.changed();
    });
    return this.releaser();
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) {
        // The slot passes straight to the next waiter: `running` is unchanged.
        if (next.onAbort) next.signal?.removeEventListener('abort', next.onAbort);
        next.grant();
      } else {
        this.running -= 1;
      }
      this.changed();
    };
  }

  private changed(): void {
    this.onChange(this.running, this.waiting.length);
  }
}
