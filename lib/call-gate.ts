/**
 * The lifetime of one engine's calls. Every public call an Enhancer accepts runs through the gate:
 * it is counted from acceptance (before decoding) until it settles, so `pending` sees it and
 * close() can wait for it. Once closing, the gate accepts nothing (ClosedError); a forced close
 * aborts the calls it holds, which then reject with ClosedError.
 */
import { setMaxListeners } from 'node:events';
import { ClosedError } from './errors';
import { abortReason } from './scheduler';

export class CallGate {
  private active = 0;
  private closing = false;
  private readonly forced = new AbortController();
  private idleWaiters: Array<() => void> = [];

  constructor() {
    // Every call in flight listens on the forced-close signal: many calls are no leak.
    setMaxListeners(0, this.forced.signal);
  }

  /** Calls accepted and not yet settled (decoding, queued, running or encoding). */
  get pending(): number {
    return this.active;
  }

  get closed(): boolean {
    return this.closing;
  }

  /** Throws ClosedError once closing. */
  assertOpen(): void {
    if (this.closing) throw new ClosedError();
  }

  /**
   * Runs `work` as one accepted call. Its signal aborts when the caller's `signal` does (the call
   * rejects with AbortError) or when the engine is closed with force (ClosedError).
   */
  run<T>(signal: AbortSignal | undefined, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (this.closing) return Promise.reject(new ClosedError());
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    this.active += 1;
    const link = linkSignals(signal, this.forced.signal);
    let result: Promise<T>;
    try {
      result = work(link.signal);
    } catch (err) {
      result = Promise.reject(err);
    }
    return result.finally(() => {
      link.dispose();
      this.active -= 1;
      // Woken a turn later, so close() resolves after the callers have seen their calls settle.
      if (this.active === 0 && this.idleWaiters.length > 0) setImmediate(() => this.wakeIdle());
    });
  }

  /** Stops accepting calls; resolves once every accepted call has settled. */
  close(): Promise<void> {
    this.closing = true;
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Aborts every call in flight; they reject with ClosedError. */
  abortAll(): void {
    this.closing = true;
    this.forced.abort(new ClosedError('the enhancer was closed with { force: true } while this call ran'));
  }

  private wakeIdle(): void {
    if (this.active > 0) return;
    for (const wake of this.idleWaiters.splice(0)) wake();
  }
}

/** A signal that aborts when either source does, with that source's reason; dispose() unhooks it. */
function linkSignals(caller: AbortSignal | undefined, forced: AbortSignal): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const sources = caller ? [forced, caller] : [forced];
  const hooks = sources.map((source) => {
    const onAbort = () => controller.abort(source.reason);
    source.addEventListener('abort', onAbort, { once: true });
    return () => source.removeEventListener('abort', onAbort);
  });
  const already = sources.find((source) => source.aborted);
  if (already) controller.abort(already.reason);
  return { signal: controller.signal, dispose: () => hooks.forEach((unhook) => unhook()) };
}

/** Throws the signal's reason (AbortError, or ClosedError after a forced close) once it is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortReason(signal);
}
