/**
 * `flwnet enhance <inputs...> [-o output]`: enhance one image file, or many (files, directories,
 * patterns) through the batch pipeline, mirroring the input tree under the output directory.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomically } from '../atomic-write';
import type { BatchResult } from '../batch';
import { Enhancer } from '../enhancer';
import { AbortError } from '../errors';
import { checkQualityApplies } from '../formats';
import {
  checkDevice,
  checkExposure,
  checkFormat,
  checkInteger,
  checkPrecision,
  type DeviceOption,
  type ExposureOption,
  type OutputFormat,
  type PrecisionOption,
} from '../options';
import { checkWeightsGiven, numberOption, parseCommandLine, readStdin, UsageError } from './common';
import { planJobs, type EnhanceJob, type InputPlan } from './expand-inputs';
import { ProgressReporter } from './progress';

const HELP = `Usage: flwnet enhance <input> [-o output] [options]
       flwnet enhance <inputs...> -o <directory> [options]

Brightens low-light photos. Each output keeps its input's size, orientation and alpha, and its
format unless --format is given. With one input file, -o names the output file (default:
<input name>-enhanced.<ext> beside the input). Inputs may also be directories and patterns
(quoted patterns are expanded by flwnet: * and ? within a name, [abc], ** for any depth); their
images are written under the -o directory, mirroring the input tree; files that are not images
are listed as ignored. "-" as the input reads stdin, "-o -" writes stdout. An output that is its
own input is refused unless --overwrite is given. Outputs are written atomically: an interrupted
run (Ctrl-C) leaves no partial files, and --skip-existing resumes it. EXIF, ICC profile and XMP
are kept (orientation made upright) unless --strip-metadata is given.

Options:
  -o, --output <path>     output file (one input) or directory (several inputs)
  -r, --recursive         include images in subdirectories of directory inputs
  --exposure <v>          target mean brightness: a number in [0, 1] (default 0.4;
                          higher is brighter) or auto (predicted from each image)
  --weights <file>        .pth or .safetensors weights (default: $FLWNET_WEIGHTS, else the
                          package's own weights, MODEL.md)
  --format <name>         jpeg, png, webp, avif, tiff, gif or bmp
  --quality <1..100>      encoder quality for jpeg (default 92), webp (90), avif (70), tiff
  --strip-metadata        write no EXIF, ICC profile or XMP
  --overwrite             allow an output to replace its own input (in place)
  --device <name>         auto (default), cpu, cuda or cuda:N
  --precision <mode>      GPU arithmetic: exact (default) or fast
  --threads <n>           CPU threads (default: all cores)
  --concurrency <n>       images in flight in the pipeline (default: from the device)
  --skip-existing         leave inputs whose output already exists (resume a run)
  --dry-run               list what would be written, write nothing
  --json                  print a JSON summary on stdout
  --queue <redis-url>     send the images to queue workers ("flwnet worker") instead of
                          enhancing here; paths must be on storage the workers see
  --queue-name <name>     queue name (default flwnet)
  -h, --help              show this help

Exit status: 0 when every image was enhanced (ignored non-image files are listed but do not
fail the run), 1 when any failed, 2 for usage errors and bad option values, 130 when interrupted.
`;

const OPTIONS = {
  output: { type: 'string', short: 'o' },
  recursive: { type: 'boolean', short: 'r' },
  exposure: { type: 'string' },
  weights: { type: 'string' },
  format: { type: 'string' },
  quality: { type: 'string' },
  device: { type: 'string' },
  precision: { type: 'string' },
  threads: { type: 'string' },
  concurrency: { type: 'string' },
  'skip-existing': { type: 'boolean' },
  'strip-metadata': { type: 'boolean' },
  overwrite: { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  json: { type: 'boolean' },
  queue: { type: 'string' },
  'queue-name': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parseCommandLine<typeof OPTIONS>>['values'];

interface Settings {
  exposure: ExposureOption;
  format?: OutputFormat;
  quality?: number;
  concurrency?: number;
  device: DeviceOption;
  precision: PrecisionOption;
  threads?: number;
}

type Status = 'written' | 'skipped' | 'ignored' | 'failed' | 'planned' | 'not-run';

interface Outcome {
  input: string;
  output: string | null;
  status: Status;
  code?: string;
  message?: string;
}

interface RunTotals {
  outcomes: Outcome[];
  aborted: boolean;
  seconds: number;
  mpixPerSecond: number;
  device: string | null;
}

export async function runEnhance(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, OPTIONS);
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (positionals.length === 0) throw new UsageError('enhance needs an input: a file, a directory or a pattern');
  const settings = readSettings(values);
  checkStreams(positionals, values);
  const plan = await planOrUsageError(positionals, values, settings.format);
  // Queue workers hold their own weights: the producer needs none.
  if (!values['dry-run'] && !values.queue) checkWeightsGiven(values.weights);
  const skipped: EnhanceJob[] = [];
  const pending: EnhanceJob[] = [];
  for (const job of plan.jobs) (values['skip-existing'] && (await exists(job.output)) ? skipped : pending).push(job);
  const missing: Outcome[] = plan.missing.map(({ input, message }) => ({
    input, output: null, status: 'failed', code: 'ERR_FLWNET_INVALID_INPUT', message,
  }));
  const skippedOutcomes: Outcome[] = [
    ...skipped.map((job): Outcome => ({ input: job.input, output: job.output, status: 'skipped' })),
    ...plan.ignored.map(({ input, message }): Outcome => ({ input, output: null, status: 'ignored', message })),
  ];
  if (values['dry-run']) {
    const planned: Outcome[] = pending.map((job) => ({ input: job.input, output: job.output, status: 'planned' }));
    return report([...planned, ...skippedOutcomes, ...missing], emptyTotals(), values);
  }
  const totals = pending.length === 0 ? emptyTotals() : values.queue
    ? await (await import('./queue-submit')).enhanceJobsOnQueue(pending, { ...settings, redis: values.queue, queue: values['queue-name'], skipExisting: values['skip-existing'] === true })
    : await enhanceJobs(pending, settings, values);
  return report([...totals.outcomes, ...skippedOutcomes, ...missing], totals, values);
}

/** Validates the options before any file is touched or the engine is opened. */
function readSettings(values: Values): Settings {
  const quality = numberOption('quality', values.quality);
  const concurrency = numberOption('concurrency', values.concurrency);
  const threads = numberOption('threads', values.threads);
  const format = checkFormat(values.format);
  checkQualityApplies(format, quality);
  return {
    exposure: values.exposure === 'auto' ? 'auto' : checkExposure(numberOption('exposure', values.exposure)),
    format,
    quality: quality === undefined ? undefined : checkInteger('quality', quality, 1, 100, 0),
    concurrency: concurrency === undefined ? undefined : checkInteger('concurrency', concurrency, 1, 4096, 0),
    device: checkDevice(values.device),
    precision: checkPrecision(values.precision),
    threads: threads === undefined ? undefined : checkInteger('threads', threads, 1, 1024, 0),
  };
}

/** "-" (stdin or stdout) names one image: it cannot mix with other inputs or with --json on stdout. */
function checkStreams(inputs: string[], values: Values): void {
  if (inputs.includes('-') && inputs.length > 1) throw new UsageError('"-" (stdin) must be the only input');
  if (values.output === '-' && values.json) throw new UsageError('--json and "-o -" both write stdout; choose one');
  if (inputs.includes('-') && values.output === undefined) throw new UsageError('stdin input needs -o <file> or -o -');
}

async function planOrUsageError(inputs: string[], values: Values, format?: OutputFormat): Promise<InputPlan> {
  try {
    return await planJobs(inputs, { output: values.output, recursive: values.recursive === true, format, overwrite: values.overwrite === true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function emptyTotals(): RunTotals {
  return { outcomes: [], aborted: false, seconds: 0, mpixPerSecond: 0, device: null };
}

/** Runs the jobs through Enhancer.enhanceMany, writing each result as it arrives; SIGINT aborts. */
async function enhanceJobs(jobs: EnhanceJob[], settings: Settings, values: Values): Promise<RunTotals> {
  const enhancer = await Enhancer.create({
    weights: values.weights,
    device: settings.device,
    precision: settings.precision,
    threads: settings.threads,
  });
  const controller = new AbortController();
  const onInterrupt = () => controller.abort(new AbortError('interrupted'));
  const progress = new ProgressReporter(process.stderr, jobs.length);
  const outcomes: Outcome[] = jobs.map((job) => ({ input: job.input, output: job.output, status: 'not-run' }));
  const stdin = jobs.some((job) => job.input === '-') ? await readStdin() : undefined;
  const items = jobs.map((job, index) => ({ input: job.input === '-' ? (stdin as Buffer) : job.input, id: index, format: job.format }));
  const directories = new Set<string>();
  let aborted = false;
  process.once('SIGINT', onInterrupt);
  try {
    const run = enhancer.enhanceMany(items, {
      exposure: settings.exposure,
      quality: settings.quality,
      metadata: values['strip-metadata'] ? 'strip' : 'keep',
      concurrency: settings.concurrency,
      signal: controller.signal,
      onProgress: (p) => progress.update(p),
    });
    try {
      for await (const result of run) outcomes[result.index] = await saveResult(jobs[result.index], result, directories);
    } catch (err) {
      if (!(err instanceof AbortError)) throw err;
      aborted = true;
    }
    const { elapsedSeconds, mpixPerSecond } = run.progress;
    return { outcomes, aborted, seconds: elapsedSeconds, mpixPerSecond, device: enhancer.description };
  } finally {
    process.removeListener('SIGINT', onInterrupt);
    progress.finish();
    await enhancer.close();
  }
}

async function saveResult(job: EnhanceJob, result: BatchResult, directories: Set<string>): Promise<Outcome> {
  const base = { input: job.input, output: job.output };
  if (!result.ok) return { ...base, status: 'failed', code: result.error.code, message: result.error.message };
  try {
    if (job.output === '-') {
      await new Promise<void>((resolve, reject) => process.stdout.write(result.data, (err) => (err ? reject(err) : resolve())));
      return { ...base, status: 'written' };
    }
    const dir = path.dirname(job.output);
    if (!directories.has(dir)) {
      await fs.mkdir(dir, { recursive: true });
      directories.add(dir);
    }
    await writeFileAtomically(job.output, result.data);
    return { ...base, status: 'written' };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { ...base, status: 'failed', code: e.code ?? 'ERR_FLWNET_INTERNAL', message: `cannot write the output: ${e.message}` };
  }
}

function count(outcomes: Outcome[], status: Status): number {
  return outcomes.reduce((n, o) => n + (o.status === status ? 1 : 0), 0);
}

/** Prints the summary (stderr, and JSON on stdout with --json) and returns the exit code. */
function report(outcomes: Outcome[], totals: RunTotals, values: Values): number {
  const images = outcomes.filter((o) => o.status !== 'ignored');
  const failures = outcomes.filter((o) => o.status === 'failed');
  const written = count(outcomes, 'written');
  const exitCode = totals.aborted ? 130 : failures.length > 0 ? 1 : 0;
  if (values.json) {
    const summary = {
      ok: exitCode === 0,
      dryRun: values['dry-run'] === true,
      aborted: totals.aborted,
      device: totals.device,
      total: images.length,
      written,
      skipped: count(outcomes, 'skipped'),
      ignored: outcomes.filter((o) => o.status === 'ignored').map(({ input, message }) => ({ input, reason: message })),
      failed: failures.length,
      notRun: count(outcomes, 'not-run'),
      seconds: totals.seconds,
      imagesPerSecond: totals.seconds > 0 ? written / totals.seconds : 0,
      mpixPerSecond: totals.mpixPerSecond,
      outputs: images,
      failures: failures.map(({ input, output, code, message }) => ({ input, output, code, message })),
    };
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  } else if (values['dry-run']) {
    for (const o of outcomes) {
      if (o.status === 'planned') process.stdout.write(`${o.input} -> ${o.output}\n`);
      if (o.status === 'skipped') process.stdout.write(`${o.input} -> ${o.output} (exists, skipped)\n`);
    }
  }
  process.stderr.write(summaryText(outcomes, totals, values));
  return exitCode;
}

function summaryText(outcomes: Outcome[], totals: RunTotals, values: Values): string {
  const failures = outcomes.filter((o) => o.status === 'failed');
  const written = count(outcomes, 'written');
  const skipped = count(outcomes, 'skipped');
  const images = outcomes.length - skipped - count(outcomes, 'ignored');
  // One image on its own keeps the one-line form: "wrote <file>" or the error itself.
  if (outcomes.length === 1 && images === 1 && !values['dry-run'] && !totals.aborted) {
    const [only] = outcomes;
    const output = only.output === '-' ? 'stdout' : only.output;
    if (only.status === 'written') return `flwnet: wrote ${output} (${totals.device})\n`;
    if (only.status === 'failed') return `flwnet: ${only.input}: ${only.message?.split('\n')[0]}\n`;
  }
  const lines: string[] = [];
  if (values['dry-run']) {
    lines.push(`flwnet: dry run: ${count(outcomes, 'planned')} image(s) would be written, ${skipped} skipped`);
  } else if (totals.aborted) {
    lines.push(`flwnet: interrupted after writing ${written} of ${images} image(s); run again with --skip-existing to resume`);
  } else {
    const rate = totals.seconds > 0 ? `, ${(written / totals.seconds).toFixed(1)} images/s` : '';
    const skip = skipped > 0 ? `, ${skipped} skipped (output exists)` : '';
    lines.push(`flwnet: wrote ${written} of ${images} image(s) in ${totals.seconds.toFixed(1)} s${rate}${skip}` +
      (totals.device ? ` on ${totals.device}` : ''));
  }
  const ignored = outcomes.filter((o) => o.status === 'ignored');
  if (ignored.length > 0) {
    lines.push(`flwnet: ${ignored.length} file(s) ignored:`);
    for (const o of ignored) lines.push(`  ${o.input}: ${o.message}`);
  }
  if (failures.length > 0) {
    lines.push(`flwnet: ${failures.length} failed:`);
    for (const f of failures) lines.push(`  ${f.input}: ${f.message?.split('\n')[0]}`);
  }
  return `${lines.join('\n')}\n`;
}

async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}
