/**
 * Fitting the exposure predictor after a training run (`flwnet train` does it once the network is
 * trained): samples from the run's own data, a quick ridge fit, and the predictor added to the
 * weights files the run wrote. For photos, each sample is a seeded random crop (a quarter to all of
 * the image's side) degraded with the run's low-light model, its exposure range widened up to 1 so
 * that the predictor also sees frames that are only slightly dark or not dark at all (without them
 * a bright input lies outside what it was fitted on and its prediction is meaningless); for real pairs, the low images and
 * their references as they are. The target is the reference crop's mean brightness, the exposure
 * the paper evaluates at.
 */
import fs from 'node:fs';
import { writeFileAtomically } from '../atomic-write';
import { Enhancer } from '../enhancer';
import { WeightsError } from '../errors';
import { FLWNET_PARAM_COUNT, FlwnetWeights } from '../weights';
import { readSafetensors, writeSafetensors } from '../weights/safetensors';
import { cropImage, loadPairSet, loadPhotoSet, type TrainingImage, type TrainingSet } from '../train/data';
import { checkDegradationModel, degrade, sampleDegradation, type DegradationModel } from '../train/degrade';
import { Rng } from '../train/rng';
import { fitExposurePredictor, logit, type ExposurePredictor, type ExposureSample } from './predictor';
import { meanBrightness } from './index';

/** Stream id of the exposure samples: apart from batch, split and validation streams. */
const EXPOSURE_STREAM = 2 ** 52 + 17;
export const EXPOSURE_METADATA_KEY = 'flwnet_exposure';
/** Samples drawn from each photo. */
export const DEFAULT_SAMPLES_PER_PHOTO = 32;
export const DEFAULT_RIDGE = 1e-3;

export interface ExposureFitOptions {
  /** The run's data: directories, or the set the run already loaded (then `maxSide` is not used). */
  data: { photos: string } | { low: string; high: string } | TrainingSet;
  maxSide?: number;
  degradation?: Partial<DegradationModel>;
  seed?: number;
  samplesPerPhoto?: number;
  lambda?: number;
  threads?: number;
}

export interface ExposureFit {
  predictor: ExposurePredictor;
  samples: number;
  /** Root mean square error of the prediction on the samples, in brightness. */
  rmse: number;
  /** The same for a constant (the mean target): what the features add. */
  constantRmse: number;
  record: Record<string, unknown>;
}

/** Features of many images through one CPU engine (the features do not depend on the weights). */
async function featureEngine(threads?: number) {
  return Enhancer.create({ weights: FlwnetWeights.fromPacked(new Float32Array(FLWNET_PARAM_COUNT)), device: 'cpu', threads });
}

async function photoSamples(images: TrainingImage[], model: DegradationModel, seed: number, perPhoto: number, enhancer: Enhancer): Promise<ExposureSample[]> {
  const samples: ExposureSample[] = [];
  for (const [i, image] of images.entries()) {
    for (let k = 0; k < perPhoto; k++) {
      const rng = Rng.derive(seed, EXPOSURE_STREAM, i, k);
      const side = Math.min(image.width, image.height);
      const size = Math.max(16, Math.round(side * rng.uniform(0.25, 1)));
      const x0 = rng.int(image.width - size + 1);
      const y0 = rng.int(image.height - size + 1);
      const high = cropImage(image.high, image.width, x0, y0, size, false, false);
      const low = await degrade(high, size, size, sampleDegradation(model, rng), rng);
      const { features } = await enhancer.inspect({ data: new Uint8Array(low), width: size, height: size, channels: 3 }, { exposure: 0.4 });
      samples.push({ features, target: meanBrightness(high) });
    }
  }
  return samples;
}

async function pairSamples(images: TrainingImage[], enhancer: Enhancer): Promise<ExposureSample[]> {
  const samples: ExposureSample[] = [];
  for (const image of images) {
    const { features } = await enhancer.inspect({ data: new Uint8Array(image.low!), width: image.width, height: image.height, channels: 3 }, { exposure: 0.4 });
    samples.push({ features, target: meanBrightness(image.high) });
  }
  return samples;
}

function rms(values: number[]): number {
  return Math.sqrt(values.reduce((s, v) => s + v * v, 0) / values.length);
}

async function loadExposureData(data: ExposureFitOptions['data'], maxSide: number | undefined): Promise<TrainingSet> {
  if ('images' in data) return data;
  return 'photos' in data ? loadPhotoSet(data.photos, { maxSide }) : loadPairSet(data.low, data.high, { maxSide });
}

/** Draws the samples and fits the predictor. */
export async function fitExposureForData(options: ExposureFitOptions): Promise<ExposureFit> {
  const seed = options.seed ?? 0;
  const perPhoto = options.samplesPerPhoto ?? DEFAULT_SAMPLES_PER_PHOTO;
  const lambda = options.lambda ?? DEFAULT_RIDGE;
  const trained = checkDegradationModel(options.degradation ?? {});
  const model: DegradationModel = { ...trained, exposure: [trained.exposure[0], 1] };
  const enhancer = await featureEngine(options.threads);
  try {
    const set = await loadExposureData(options.data, options.maxSide);
    const photos = set.kind === 'photos';
    const samples = photos ? await photoSamples(set.images, model, seed, perPhoto, enhancer) : await pairSamples(set.images, enhancer);
    const predictor = fitExposurePredictor(samples, lambda);
    const targets = samples.map((s) => s.target);
    const constant = 1 / (1 + Math.exp(-targets.map(logit).reduce((a, b) => a + b, 0) / targets.length));
    const rmse = rms(samples.map((s) => predictor.predict(s.features) - s.target));
    const constantRmse = rms(targets.map((t) => constant - t));
    const record = {
      model: 'ridge regression of logit(reference mean brightness) on standardised features',
      features: 'hist0..11, vmin, vmax, meanV, logMeanV (lib/exposure/predictor.ts)',
      samples: samples.length, seed, lambda, samplesPerPhoto: photos ? perPhoto : undefined, dataHash: set.hash, rmse, constantRmse,
    };
    return { predictor, samples: samples.length, rmse, constantRmse, record };
  } finally {
    await enhancer.close();
  }
}

/**
 * Adds `fit`'s predictor to a weights file, keeping its parameters and metadata and recording the
 * fit under `flwnet_exposure`; written through a temporary file renamed into place.
 */
export async function addPredictorToFile(file: string, fit: ExposureFit): Promise<void> {
  const bytes = await fs.promises.readFile(file);
  const { tensors, metadata } = readSafetensors(bytes);
  const weights = new FlwnetWeights(tensors, file).withExposurePredictor(fit.predictor);
  const out = writeSafetensors(weights.fileTensors(), { ...metadata, [EXPOSURE_METADATA_KEY]: JSON.stringify(fit.record) });
  try {
    await writeFileAtomically(file, out);
  } catch (err) {
    throw new WeightsError(`cannot write ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/** After a completed `flwnet train` run: fits the predictor on the run's data and adds it to each file written. */
export async function addPredictorAfterTraining(
  run: { data: unknown; maxSide?: number; degradation?: Partial<DegradationModel> },
  seed: number,
  threads: number | undefined,
  files: string[],
): Promise<ExposureFit | undefined> {
  const data = run.data as ExposureFitOptions['data'] | undefined;
  if (!data || typeof data !== 'object' || !('photos' in data || 'low' in data || 'images' in data)) return undefined;
  const fit = await fitExposureForData({ data, maxSide: run.maxSide, degradation: run.degradation, seed, threads });
  for (const file of files) await addPredictorToFile(file, fit);
  return fit;
}
