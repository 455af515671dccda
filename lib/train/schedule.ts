/**
 * Learning-rate schedule: linear warm-up from lr / warmup to lr over the first `warmup` steps,
 * then cosine decay to `minLr` at the last step (Loshchilov and Hutter, SGDR, without restarts),
 * or a constant rate (the authors train with a fixed 1e-4).
 */
import { InvalidOptionError } from '../errors';

/** The default peak learning rate (see trainer.ts for why). */
export const DEFAULT_LR = 1e-3;

export interface Schedule {
  kind: 'cosine' | 'constant';
  /** Peak learning rate. */
  lr: number;
  /** Final learning rate of the cosine. */
  minLr: number;
  /** Warm-up steps (0 = none). */
  warmup: number;
  /** Total number of steps of the run. */
  steps: number;
}

export function checkSchedule(s: Partial<Schedule>): Schedule {
  const kind = s.kind ?? 'cosine';
  if (kind !== 'cosine' && kind !== 'constant') throw new InvalidOptionError(`schedule must be 'cosine' or 'constant', got ${String(kind)}`);
  const positive = (name: string, v: unknown, allowZero: boolean) => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (!allowZero && v === 0) || v > 1) {
      throw new InvalidOptionError(`${name} must be a finite number in ${allowZero ? '[0' : '(0'}, 1], got ${String(v)}`);
    }
    return v;
  };
  const lr = positive('lr', s.lr, false);
  const minLr = positive('minLr', s.minLr ?? lr / 100, true);
  if (minLr > lr) throw new InvalidOptionError(`minLr (${minLr}) must not exceed lr (${lr})`);
  const steps = s.steps;
  if (!Number.isInteger(steps) || (steps as number) < 1 || (steps as number) > 1e9) throw new InvalidOptionError(`steps must be an integer in [1, 1e9], got ${String(steps)}`);
  const warmup = s.warmup ?? 0;
  if (!Number.isInteger(warmup) || warmup < 0 || warmup >= (steps as number)) {
    throw new InvalidOptionError(`warmup must be an integer in [0, steps), got ${String(warmup)}`);
  }
  return { kind, lr, minLr, warmup, steps: steps as number };
}

/** The learning rate for step `step` (0-based). */
export function learningRate(s: Schedule, step: number): number {
  if (step < s.warmup) return (s.lr * (step + 1)) / s.warmup;
  if (s.kind === 'constant') return s.lr;
  const span = s.steps - s.warmup;
  const t = span <= 1 ? 1 : Math.min(1, (step - s.warmup) / (span - 1));
  return s.minLr + 0.5 * (s.lr - s.minLr) * (1 + Math.cos(Math.PI * t));
}
