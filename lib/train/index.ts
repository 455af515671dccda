/** Training FLW-Net: the Trainer API, the data pipeline and the native core's types. */
export { Trainer, randomWeights, AUTHORS_SETTINGS, DEFAULT_ADAM, DEFAULT_LR, type TrainerOptions } from './trainer';
export { TrainingRun, validate, type DataSource, type FitOptions, type FitResult, type TrainProgress } from './fit';
export {
  loadPhotoSet, loadPairSet, splitSet, validationPairs, makeBatch, checkBatchSpec, cropImage,
  type BatchSpec, type Flips, type LoadOptions, type TrainingImage, type TrainingSet, type ValidationPair,
} from './data';
export { DEFAULT_DEGRADATION, checkDegradationModel, sampleDegradation, degrade, degradeLinear, type Degradation, type DegradationModel } from './degrade';
export { checkSchedule, learningRate, type Schedule } from './schedule';
export { Rng } from './rng';
export { loadWeightsCheckpoint, siblingPath, type TrainingRecord, type ValidationMetrics } from './checkpoint';
export {
  lossAndGradients, AUTHORS_ADAM, TrainerCore,
  type AdamConfig, type OptimizerState, type StepResult, type TrainExample, type TrainImage, type TrainLosses,
} from './native-trainer';
