/**
 * The package's default weights and automatic exposure: where the shipped weights file lives, the
 * predictor that answers `exposure: 'auto'` for a given set of weights (fitting: ./train.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { InvalidOptionError } from '../errors';
import { loadWeights, type FlwnetWeights } from '../weights';
import type { ExposurePredictor } from './predictor';

export * from './predictor';

/** weights/flwnet-default.safetensors in the installed package (trained by `npm run train:default`; see MODEL.md). */
export const DEFAULT_WEIGHTS_PATH = path.join(__dirname, '..', '..', 'weights', 'flwnet-default.safetensors');

export function defaultWeightsAvailable(): boolean {
  return fs.existsSync(DEFAULT_WEIGHTS_PATH);
}

let defaultWeights: Promise<FlwnetWeights> | undefined;

/** The shipped weights, loaded once. */
export function loadDefaultWeights(): Promise<FlwnetWeights> {
  defaultWeights ??= loadWeights(DEFAULT_WEIGHTS_PATH).catch((err: unknown) => {
    defaultWeights = undefined;
    throw err;
  });
  return defaultWeights;
}

/** Where the predictor used for 'auto' comes from: the weights' own, or the default weights' (for weights without one, such as the published .pth). */
export type ExposurePredictorSource = 'weights' | 'default';

/** The predictor for `weights`: theirs, else the shipped weights' one, else undefined. */
export async function predictorFor(weights: FlwnetWeights): Promise<{ predictor: ExposurePredictor; source: ExposurePredictorSource } | undefined> {
  if (weights.exposurePredictor) return { predictor: weights.exposurePredictor, source: 'weights' };
  if (!defaultWeightsAvailable()) return undefined;
  const fallback = (await loadDefaultWeights()).exposurePredictor;
  return fallback ? { predictor: fallback, source: 'default' } : undefined;
}

export function noPredictorError(weights: FlwnetWeights): InvalidOptionError {
  return new InvalidOptionError(
    `exposure 'auto' needs an exposure predictor: ${weights.source} has none and the package's default weights are missing; give a number instead`,
  );
}

/** Mean over pixels of max(R, G, B) / 255 of interleaved RGB bytes: the paper's exposure of a reference. */
export function meanBrightness(rgb: Uint8Array, channels = 3): number {
  let sum = 0;
  const pixels = rgb.length / channels;
  for (let i = 0; i < rgb.length; i += channels) sum += Math.max(rgb[i]!, rgb[i + 1]!, rgb[i + 2]!);
  return sum / pixels / 255;
}
