/**
 * The engines behind the one-call `enhance()`: one per distinct engine setting, shared by every
 * call with that setting. Each engine counts the calls using it; only an idle one is ever closed,
 * the least recently used first, and only while more than SHARED_ENGINE_LIMIT are open. Engines
 * busy with calls are never closed under them, so the limit is exceeded only while more distinct
 * settings are in use at once.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { checkEngineOptions, Enhancer, type EnhancerOptions } from './enhancer';
import { FlwnetWeights } from './weights';

export const SHARED_ENGINE_LIMIT = 4;

interface SharedEngine {
  key: string;
  enhancer: Promise<Enhancer>;
  /** Calls holding this engine. */
  users: number;
}

/** In order of last use, least recent first. */
const engines = new Map<string, SharedEngine>();

/** Runs `use` on the shared engine for `options`, opening it on first use. */
export async function withSharedEnhancer<T>(options: EnhancerOptions, use: (enhancer: Enhancer) => Promise<T>): Promise<T> {
  const key = engineKey(options);
  if (key === undefined) return useOnce(options, use); // no weights: Enhancer.create says why
  let entry = engines.get(key);
  if (!entry) {
    const created: SharedEngine = { key, enhancer: Enhancer.create(options), users: 0 };
    created.enhancer.catch(() => {
      if (engines.get(key) === created) engines.delete(key);
    });
    engines.set(key, created);
    entry = created;
  }
  entry.users += 1;
  try {
    return await use(await entry.enhancer);
  } finally {
    entry.users -= 1;
    if (engines.get(key) === entry) {
      engines.delete(key); // re-inserted as the most recently used
      engines.set(key, entry);
    }
    closeIdleEngines();
  }
}

async function useOnce<T>(options: EnhancerOptions, use: (enhancer: Enhancer) => Promise<T>): Promise<T> {
  const enhancer = await Enhancer.create(options);
  try {
    return await use(enhancer);
  } finally {
    await enhancer.close();
  }
}

/** Open shared engines and the calls using each (for tests and diagnostics). */
export function sharedEngineUsers(): number[] {
  return [...engines.values()].map((entry) => entry.users);
}

function closeIdleEngines(): void {
  for (const entry of [...engines.values()]) {
    if (engines.size <= SHARED_ENGINE_LIMIT) return;
    if (entry.users > 0) continue;
    engines.delete(entry.key);
    entry.enhancer.then((enhancer) => enhancer.close()).catch(() => undefined);
  }
}

/**
 * Settings that open the same engine give the same key: weights by path, or by the SHA-256 of
 * their bytes (a Buffer read afresh for every call shares one engine), and the other options as
 * Enhancer.create resolves them (option, else environment variable, else default), so a changed
 * variable opens a new engine rather than reusing one built with the old setting. Undefined when
 * no weights are given at all.
 */
function engineKey(options: EnhancerOptions): string | undefined {
  const weights = options.weights ?? process.env.FLWNET_WEIGHTS;
  let weightsKey: string;
  if (typeof weights === 'string' && weights !== '') weightsKey = `path:${path.resolve(weights)}`;
  else if (weights instanceof Uint8Array) weightsKey = `bytes:${createHash('sha256').update(weights).digest('hex')}`;
  else if (weights instanceof FlwnetWeights) weightsKey = `params:${weights.sha256()}`;
  else return undefined;
  const { cpuIsa, ...settings } = checkEngineOptions(options);
  return JSON.stringify([weightsKey, { ...settings, cpuIsa: cpuIsa.value }]);
}
