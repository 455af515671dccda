/**
 * The trainer's random numbers: xoshiro128** (Blackman and Vigna, 2018) for the streams, seeded
 * through SplitMix64 (Steele, Lea and Flood, 2014) as its authors recommend. Both are written
 * here so every platform and Node.js version draws the same numbers for a seed.
 *
 * Streams are derived, not continued: the numbers for batch k come from `Rng.derive(seed, k)`,
 * so a resumed run draws exactly what an uninterrupted one would without carrying RNG state.
 */
import { InvalidOptionError } from '../errors';

const MASK64 = (1n << 64n) - 1n;
const GOLDEN_GAMMA = 0x9e3779b97f4a7c15n;

/** One SplitMix64 output from `state` (already advanced by the caller). */
function mix64(z: bigint): bigint {
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return z ^ (z >> 31n);
}

/** A seed must be an integer in [0, 2^53): it is stored in checkpoints as a JSON number. */
export function checkSeed(value: unknown, name = 'seed'): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidOptionError(`${name} must be an integer in [0, 2^53), got ${String(value)}`);
  }
  return value;
}

export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** From four 32-bit words of state (not all zero). */
  constructor(state: readonly number[]) {
    if (state.length !== 4 || state.every((w) => (w >>> 0) === 0)) throw new InvalidOptionError('xoshiro128** state must be four words, not all zero');
    [this.s0, this.s1, this.s2, this.s3] = state.map((w) => w >>> 0);
  }

  /** The stream for `seed` and a path of stream ids (e.g. [batchIndex] or [VALIDATION, i]). */
  static derive(seed: number, ...ids: number[]): Rng {
    let state = BigInt(checkSeed(seed)) & MASK64;
    for (const id of ids) state = mix64((state + (BigInt(checkSeed(id, 'stream id')) + 1n) * GOLDEN_GAMMA) & MASK64);
    const words: number[] = [];
    for (let i = 0; i < 2; i++) {
      state = (state + GOLDEN_GAMMA) & MASK64;
      const out = mix64(state);
      words.push(Number(out & 0xffffffffn), Number(out >> 32n));
    }
    return new Rng(words);
  }

  state(): number[] {
    return [this.s0, this.s1, this.s2, this.s3];
  }

  /** The next 32-bit unsigned integer (xoshiro128**). */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  next(): number {
    const hi = this.nextU32() >>> 5; // 27 bits
    const lo = this.nextU32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  uniform(low: number, high: number): number {
    return low + (high - low) * this.next();
  }

  /** Log-uniform in [low, high] (both > 0): every factor of two equally likely. */
  logUniform(low: number, high: number): number {
    return Math.exp(this.uniform(Math.log(low), Math.log(high)));
  }

  /** An integer in [0, n), without modulo bias (n <= 2^32). */
  int(n: number): number {
    if (n <= 1) return 0;
    const limit = Math.floor(4294967296 / n) * n;
    for (;;) {
      const x = this.nextU32();
      if (x < limit) return x % n;
    }
  }

  bool(probability = 0.5): boolean {
    return this.next() < probability;
  }

  /** Standard normal samples into `out` (Box–Muller, both values of each pair used). */
  fillNormal(out: Float32Array | Float64Array): void {
    for (let i = 0; i < out.length; i += 2) {
      const u = 1 - this.next(); // (0, 1]: log stays finite
      const r = Math.sqrt(-2 * Math.log(u));
      const angle = 2 * Math.PI * this.next();
      out[i] = r * Math.cos(angle);
      if (i + 1 < out.length) out[i + 1] = r * Math.sin(angle);
    }
  }

  normal(): number {
    const pair = new Float64Array(1);
    this.fillNormal(pair);
    return pair[0];
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
