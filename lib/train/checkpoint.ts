/**
 * Training checkpoints. The weights go to a normal flwnet safetensors file (loadable by
 * Enhancer.create and loadWeights, which verify `params_sha256`) whose metadata also records the
 * training state: step, options, data hashes and metrics. Adam's state goes alongside, in
 * `<out>.optim.safetensors`: m and v as F32 tensors, and in the metadata Adam's step count, the
 * seed and the next batch index (the data stream is derived from those two: see data.ts), and the
 * digest of the weights it belongs with, so a resume cannot pair the wrong files.
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomically } from '../atomic-write';
import { WeightsError } from '../errors';
import { FLWNET_PARAM_COUNT, FlwnetWeights, loadWeights } from '../weights';
import { readSafetensors, writeSafetensors } from '../weights/safetensors';
import type { OptimizerState } from './native-trainer';

export const TRAINING_METADATA_KEY = 'flwnet_training';

/** What a checkpoint records about its run (stored as JSON in the metadata). */
export interface TrainingRecord {
  /** Training steps completed (the next batch index). */
  step: number;
  seed: number;
  /** The options that shape the run (batch, crop, schedule, degradation, ...). */
  options: Record<string, unknown>;
  data: { hash: string; files: Array<{ file: string; sha256: string }> };
  /** The latest and best validation metrics, when there was validation. */
  metrics?: { last?: ValidationMetrics; best?: ValidationMetrics };
  /** Why this checkpoint was written: 'periodic', 'best', 'end', 'aborted', 'diverged'. */
  reason: string;
}

export interface ValidationMetrics {
  step: number;
  psnr: number;
  ssim: number;
  /** The paper's total loss on the validation images. */
  total: number;
}

export interface OptimizerCheckpoint {
  state: OptimizerState;
  seed: number;
  /** The next batch index. */
  nextBatch: number;
  paramsSha256: string;
}

/** `out.safetensors` -> `out.optim.safetensors`, `out.best.safetensors`, `out.curve.svg`, ... */
export function siblingPath(out: string, suffix: string): string {
  const ext = path.extname(out);
  const base = ext === '.safetensors' ? out.slice(0, -ext.length) : out;
  return `${base}.${suffix}`;
}

async function writeAtomically(file: string, bytes: Uint8Array): Promise<void> {
  try {
    await writeFileAtomically(file, bytes);
  } catch (err) {
    throw new WeightsError(`cannot write ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/** JSON with non-finite numbers written as null (JSON has no Infinity or NaN). */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v));
}

/** The weights as safetensors with the training record in the metadata. */
export async function saveWeightsCheckpoint(weights: FlwnetWeights, file: string, record?: TrainingRecord): Promise<void> {
  const tensors = weights.fileTensors();
  const metadata: Record<string, string> = { format: 'pt', producer: 'flwnet', params_sha256: weights.sha256() };
  if (record) metadata[TRAINING_METADATA_KEY] = toJson(record);
  await writeAtomically(file, writeSafetensors(tensors, metadata));
}

async function readFileOrThrow(file: string, what: string): Promise<Buffer> {
  try {
    return await fs.promises.readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new WeightsError(`cannot read the ${what} ${file}: ${code === 'ENOENT' ? 'it does not exist' : (err as Error).message}`, { cause: err });
  }
}

/** The weights and the training record of a checkpoint written by saveWeightsCheckpoint. */
export async function loadWeightsCheckpoint(file: string): Promise<{ weights: FlwnetWeights; record?: TrainingRecord }> {
  const bytes = await readFileOrThrow(file, 'checkpoint');
  const weights = await loadWeights(bytes).catch((err: Error) => {
    throw new WeightsError(`${file}: ${err.message}`, { cause: err });
  });
  const text = readSafetensors(bytes).metadata[TRAINING_METADATA_KEY];
  if (text === undefined) return { weights };
  try {
    return { weights, record: JSON.parse(text) as TrainingRecord };
  } catch (err) {
    throw new WeightsError(`${file}: the training record is not valid JSON`, { cause: err });
  }
}

export async function saveOptimizerCheckpoint(file: string, c: OptimizerCheckpoint): Promise<void> {
  const tensors = new Map([
    ['adam.m', { shape: [FLWNET_PARAM_COUNT], data: c.state.m }],
    ['adam.v', { shape: [FLWNET_PARAM_COUNT], data: c.state.v }],
  ]);
  const metadata = {
    producer: 'flwnet',
    adam_step: String(c.state.step),
    seed: String(c.seed),
    next_batch: String(c.nextBatch),
    rng: 'xoshiro128** seeded by SplitMix64; batch k item j draws from derive(seed, k, j)',
    params_sha256: c.paramsSha256,
  };
  await writeAtomically(file, writeSafetensors(tensors, metadata));
}

export async function loadOptimizerCheckpoint(file: string): Promise<OptimizerCheckpoint> {
  const bytes = await readFileOrThrow(file, 'optimiser state');
  try {
    const { tensors, metadata } = readSafetensors(bytes);
    const m = tensors.get('adam.m')?.data;
    const v = tensors.get('adam.v')?.data;
    if (!m || !v || m.length !== FLWNET_PARAM_COUNT || v.length !== FLWNET_PARAM_COUNT) {
      throw new WeightsError(`adam.m and adam.v must hold ${FLWNET_PARAM_COUNT} values each`);
    }
    const integer = (key: string) => {
      const n = Number(metadata[key]);
      if (metadata[key] === undefined || !Number.isSafeInteger(n) || n < 0) throw new WeightsError(`metadata ${key} is missing or not a count`);
      return n;
    };
    const paramsSha256 = metadata.params_sha256;
    if (typeof paramsSha256 !== 'string') throw new WeightsError('metadata params_sha256 is missing');
    return { state: { step: integer('adam_step'), m, v }, seed: integer('seed'), nextBatch: integer('next_batch'), paramsSha256 };
  } catch (err) {
    throw new WeightsError(`${file}: ${(err as Error).message}`, { cause: err });
  }
}
