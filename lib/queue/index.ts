/** `flwnet/queue`: enhancement jobs on Redis through BullMQ — workers and the producer side. */
export { startWorker, type FlwnetWorker, type WorkerOptions } from './worker';
export { submitBatch, QueuedBatch, type QueueItem, type QueuedResult, type QueuedJobState, type SubmitOptions } from './producer';
export { DEFAULT_QUEUE, redisConnection, type EnhanceJobData, type EnhanceJobResult } from './jobs';
