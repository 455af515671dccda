/**
 * Stack traces that point at the caller. Most errors flwnet rejects with are made after an await
 * (in the scheduler, or from a native error), so their own stacks hold only flwnet's frames. Every
 * public async entry runs through `publicCall`, which captures the stack at the call, before any
 * await, and gives a failing call's FlwnetError that stack (name and message kept). Errors that
 * are not flwnet's (thrown by a batch's source, say) pass through with their own stacks.
 */
import { FlwnetError } from './errors';

/** Errors whose stack was already set for one call; another call gets its own copy. */
const stamped = new WeakSet<object>();

/** Runs one public call; its rejection carries the stack of the code that called it. */
export function publicCall<T>(work: () => Promise<T>): Promise<T> {
  const site: { stack?: string } = {};
  Error.captureStackTrace(site, publicCall);
  let result: Promise<T>;
  try {
    result = work();
  } catch (err) {
    return Promise.reject(withCallerStack(err, site.stack));
  }
  return result.catch((err: unknown) => {
    throw withCallerStack(err, site.stack);
  });
}

function withCallerStack(err: unknown, siteStack: string | undefined): unknown {
  if (!(err instanceof FlwnetError) || siteStack === undefined) return err;
  const frames = siteStack.indexOf('\n');
  if (frames < 0) return err;
  // One error object can reject several calls (a signal's reason, an error thrown by a source):
  // each call then gets a copy, so no call's stack overwrites another's.
  const target = stamped.has(err) ? copyError(err) : err;
  target.stack = `${target.name}: ${target.message}${siteStack.slice(frames)}`;
  stamped.add(target);
  return target;
}

/** A native Error with the same class, own properties (code, cause, ...) and message. */
function copyError(err: Error): Error {
  const copy = new Error(err.message);
  Object.setPrototypeOf(copy, Object.getPrototypeOf(err));
  for (const key of Reflect.ownKeys(err)) {
    if (key === 'stack') continue;
    Object.defineProperty(copy, key, Object.getOwnPropertyDescriptor(err, key) as PropertyDescriptor);
  }
  return copy;
}
