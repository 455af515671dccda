/**
 * `flwnet enhance <inputs...> -o <dir> --queue redis://...`: the batch goes to queue workers
 * instead of the local engine; the progress bar and the summary are the local batch's.
 */
import type { ExposureOption } from '../options';
import { AbortError } from '../errors';
import type { OutputFormat } from '../options';
import { submitBatch } from '../queue/producer';
import type { EnhanceJob } from './expand-inputs';
import { ProgressReporter } from './progress';

export interface QueuedRunSettings {
  redis: string;
  queue?: string;
  exposure: ExposureOption;
  format?: OutputFormat;
  quality?: number;
  skipExisting: boolean;
  attempts?: number;
}

export interface QueuedOutcome {
  input: string;
  output: string | null;
  status: 'written' | 'failed' | 'not-run';
  code?: string;
  message?: string;
}

export interface QueuedTotals {
  outcomes: QueuedOutcome[];
  aborted: boolean;
  seconds: number;
  mpixPerSecond: number;
  device: string | null;
}

/** Submits the jobs and follows them to the end; Ctrl-C stops following (the jobs go on). */
export async function enhanceJobsOnQueue(jobs: EnhanceJob[], settings: QueuedRunSettings): Promise<QueuedTotals> {
  const batch = await submitBatch(
    jobs.map((job) => ({ input: job.input, output: job.output, format: job.format })),
    {
      redis: settings.redis,
      queue: settings.queue,
      exposure: settings.exposure,
      format: settings.format,
      quality: settings.quality,
      skipExisting: settings.skipExisting,
      attempts: settings.attempts,
    },
  );
  const progress = new ProgressReporter(process.stderr, jobs.length);
  const outcomes: QueuedOutcome[] = jobs.map((job) => ({ input: job.input, output: job.output, status: 'not-run' }));
  let aborted = false;
  const stop = new AbortController();
  const onInterrupt = () => stop.abort(new AbortError('interrupted'));
  process.once('SIGINT', onInterrupt);
  try {
    const results = batch.results();
    while (!stop.signal.aborted) {
      const next = await Promise.race([results.next(), new Promise<null>((resolve) => stop.signal.addEventListener('abort', () => resolve(null), { once: true }))]);
      if (next === null) break;
      if (next.done) break;
      const r = next.value;
      outcomes[r.index] = r.ok
        ? { input: jobs[r.index].input, output: jobs[r.index].output, status: 'written' }
        : { input: jobs[r.index].input, output: jobs[r.index].output, status: 'failed', code: r.error.code, message: r.error.message };
      progress.update(batch.progress);
    }
    aborted = stop.signal.aborted;
    const { elapsedSeconds, mpixPerSecond } = batch.progress;
    return { outcomes, aborted, seconds: elapsedSeconds, mpixPerSecond, device: `queue ${settings.queue ?? 'flwnet'} at ${settings.redis}` };
  } finally {
    process.removeListener('SIGINT', onInterrupt);
    progress.finish();
    await batch.close();
  }
}
