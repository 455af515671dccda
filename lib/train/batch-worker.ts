/**
 * The batch worker: makes training batches off the main thread. It receives the decoded images
 * (SharedArrayBuffers: no copy) and the batch spec once, then answers { index } requests with the
 * batch's pixel buffers transferred, not copied.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { makeBatch, type BatchSpec, type TrainingImage } from './data';

interface WorkerInput {
  images: TrainingImage[];
  spec: BatchSpec;
}

const { images, spec } = workerData as WorkerInput;

parentPort!.on('message', (message: { index: number }) => {
  makeBatch(images, spec, message.index).then(
    (batch) => {
      const transfer = batch.flatMap((e) => [e.low.data.buffer, e.high.data.buffer]) as ArrayBuffer[];
      parentPort!.postMessage({ index: message.index, batch }, transfer);
    },
    (err: unknown) => {
      const e = err as { name?: string; message?: string; code?: string };
      parentPort!.postMessage({ index: message.index, error: { name: e?.name, message: e?.message ?? String(err), code: e?.code } });
    },
  );
});
