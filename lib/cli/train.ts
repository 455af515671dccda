/**
 * `flwnet train`: trains FLW-Net weights on the CPU from well-exposed photos (synthetic low-light
 * pairs) or paired directories, with a progress bar, a JSONL log, checkpoints that resume, and a
 * training-curve SVG beside the output.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { DegradationModel } from '../train/degrade';
import { siblingPath, toJson } from '../train/checkpoint';
import { addPredictorAfterTraining } from '../exposure/train';
import type { FitOptions, FitResult, TrainProgress } from '../train/fit';
import { trainingCurveSvg, type CurvePoint } from '../train/plot';
import { AUTHORS_SETTINGS, Trainer } from '../train/trainer';
import { numberOption, parseCommandLine, UsageError } from './common';
import { formatDuration, type ProgressStream } from './progress';

const HELP = `Usage: flwnet train --photos <dir> -o <out.safetensors> [options]
       flwnet train --low <dir> --high <dir> -o <out.safetensors> [options]

Trains FLW-Net weights on the CPU. --photos takes well-exposed photos and synthesises low-light
frames from them (the degradation options below); --low/--high take real pairs, matched by file
name as "flwnet eval" matches them. Validation uses the --val directories (each holding low/ and
high/), else a seeded --val-split of the data; it enhances each held-out image at its reference's
brightness and reports PSNR and SSIM.

Once the network is trained, fits the automatic-exposure predictor ('--exposure auto') on the
same data and stores it in the weights files.

Writes <out> (the last weights), <out>.best.safetensors (best validation PSNR),
<out>.optim.safetensors (Adam's state, for --resume), <out>.log.jsonl and <out>.curve.svg.
Ctrl-C stops after the current step and writes a checkpoint that --resume continues.

Options:
  -o, --output <file>      checkpoint to write (.safetensors)
  --steps <n>              total steps (default 2000)
  --batch <n>              crops per step (default 16)
  --crop <n>               crop side in pixels (default 100, the authors')
  --lr <x>                 peak learning rate (default 1e-3)
  --min-lr <x>             final learning rate of the cosine (default lr / 100)
  --warmup <n>             warm-up steps (default min(100, steps / 20))
  --schedule <s>           cosine (default) or constant
  --authors                the authors' settings: lr 1e-4 constant, batch 171, no clipping
  --seed <n>               seed for initialisation, split and batches (default 0)
  --init <file|random>     starting weights (default random)
  --resume                 continue the run saved at -o (same data and options)
  --device <name>          cpu (training runs on the CPU)
  --threads <n>            worker threads (default: all cores)
  --max-side <n>           downscale images to this longest side (default 1024)
  --val <dir>              validation pairs: <dir>/low and <dir>/high (repeatable)
  --val-split <f>          fraction of the data held out when no --val (default 0.1)
  --val-every <n>          validate every n steps (default steps / 20)
  --checkpoint-every <n>   write the checkpoint every n steps (default: val-every)
  --log <file>             JSONL log (default <out>.log.jsonl)
  --flips <f>              none, horizontal or both (default both)
Synthetic low light (--photos; see lib/train/degrade.ts):
  --exposure <lo,hi>       exposure factor range, log-uniform (default 0.01,0.2)
  --shot-noise <lo,hi>     shot-noise gain range (default 1e-4,1.2e-2)
  --read-noise <lo,hi>     read-noise variance range, or "coupled" (default)
  --noise-blur <lo,hi>     noise correlation blur sigma in pixels (default 0,1)
  --cast <x>               largest cool white-balance cast (default 0.1)
  --desaturate <x>         largest desaturation (default 0.3)
  --jpeg <p>               probability of a JPEG round trip (default 0.5)
  --jpeg-quality <lo,hi>   JPEG quality range (default 70,95)
  -h, --help               show this help

Exit status: 0 when training completed, 1 on errors or divergence, 130 when stopped by Ctrl-C.
`;

const OPTIONS = {
  photos: { type: 'string' }, low: { type: 'string' }, high: { type: 'string' }, val: { type: 'string', multiple: true },
  output: { type: 'string', short: 'o' }, steps: { type: 'string' }, batch: { type: 'string' }, crop: { type: 'string' },
  lr: { type: 'string' }, 'min-lr': { type: 'string' }, warmup: { type: 'string' }, schedule: { type: 'string' },
  authors: { type: 'boolean' }, seed: { type: 'string' }, init: { type: 'string' }, resume: { type: 'boolean' },
  device: { type: 'string' }, threads: { type: 'string' }, 'max-side': { type: 'string' }, 'val-split': { type: 'string' },
  'val-every': { type: 'string' }, 'checkpoint-every': { type: 'string' }, log: { type: 'string' }, flips: { type: 'string' },
  exposure: { type: 'string' }, 'shot-noise': { type: 'string' }, 'read-noise': { type: 'string' }, 'noise-blur': { type: 'string' },
  cast: { type: 'string' }, desaturate: { type: 'string' }, jpeg: { type: 'string' }, 'jpeg-quality': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parseCommandLine<typeof OPTIONS>>['values'];

function pairOption(name: string, value: string | undefined): [number, number] | undefined {
  if (value === undefined) return undefined;
  const parts = value.split(',');
  if (parts.length !== 2) throw new UsageError(`--${name} must be two numbers "low,high", got "${value}"`);
  return [numberOption(name, parts[0])!, numberOption(name, parts[1])!];
}

function degradationOptions(v: Values): Partial<DegradationModel> {
  const d: Partial<DegradationModel> = {};
  const set = <K extends keyof DegradationModel>(key: K, value: DegradationModel[K] | undefined) => {
    if (value !== undefined) d[key] = value;
  };
  set('exposure', pairOption('exposure', v.exposure));
  set('shotNoise', pairOption('shot-noise', v['shot-noise']));
  set('readNoise', v['read-noise'] === 'coupled' ? 'coupled' : pairOption('read-noise', v['read-noise']));
  set('noiseBlur', pairOption('noise-blur', v['noise-blur']));
  set('cast', numberOption('cast', v.cast));
  set('desaturate', numberOption('desaturate', v.desaturate));
  set('jpegProbability', numberOption('jpeg', v.jpeg));
  set('jpegQuality', pairOption('jpeg-quality', v['jpeg-quality']));
  return d;
}

function integer(name: string, value: string | undefined): number | undefined {
  const n = numberOption(name, value);
  if (n !== undefined && !Number.isInteger(n)) throw new UsageError(`--${name} must be an integer, got "${value}"`);
  return n;
}

interface Settings {
  out: string;
  log: string;
  resume: boolean;
  init?: string;
  seed?: number;
  threads?: number;
  fit: FitOptions;
}

function readSettings(v: Values): Settings {
  const out = v.output;
  if (out === undefined) throw new UsageError('train needs -o <out.safetensors>');
  if (v.photos !== undefined && (v.low !== undefined || v.high !== undefined)) throw new UsageError('give --photos or --low/--high, not both');
  if ((v.low === undefined) !== (v.high === undefined)) throw new UsageError('--low and --high go together');
  if (v.photos === undefined && v.low === undefined) throw new UsageError('train needs --photos <dir> or --low <dir> --high <dir>');
  if (v.device !== undefined && v.device !== 'cpu') throw new UsageError(`--device must be cpu (training runs on the CPU), got "${v.device}"`);
  if (v.resume && v.init !== undefined) throw new UsageError('give --init or --resume, not both');
  if (v.schedule !== undefined && v.schedule !== 'cosine' && v.schedule !== 'constant') throw new UsageError(`--schedule must be cosine or constant, got "${v.schedule}"`);
  if (v.val !== undefined && v['val-split'] !== undefined) throw new UsageError('give --val or --val-split, not both');
  const authors = v.authors ? AUTHORS_SETTINGS.fit : undefined;
  const fit: FitOptions = {
    data: v.photos !== undefined ? { photos: v.photos } : { low: v.low!, high: v.high! },
    validation: v.val?.map((dir) => ({ low: path.join(dir, 'low'), high: path.join(dir, 'high') })),
    valSplit: numberOption('val-split', v['val-split']),
    maxSide: integer('max-side', v['max-side']),
    steps: integer('steps', v.steps) ?? 2000,
    batch: integer('batch', v.batch) ?? authors?.batch,
    crop: integer('crop', v.crop) ?? authors?.crop,
    lr: numberOption('lr', v.lr) ?? authors?.lr,
    minLr: numberOption('min-lr', v['min-lr']),
    warmup: integer('warmup', v.warmup) ?? authors?.warmup,
    schedule: (v.schedule as 'cosine' | 'constant' | undefined) ?? authors?.schedule,
    valEvery: integer('val-every', v['val-every']),
    checkpointEvery: integer('checkpoint-every', v['checkpoint-every']),
    flips: v.flips as FitOptions['flips'],
    degradation: degradationOptions(v),
    out,
  };
  for (const key of Object.keys(fit) as Array<keyof FitOptions>) if (fit[key] === undefined) delete fit[key];
  return { out, log: v.log ?? siblingPath(out, 'log.jsonl'), resume: v.resume === true, init: v.init, seed: integer('seed', v.seed), threads: integer('threads', v.threads), fit };
}

/** One line per step on a terminal (redrawn), a plain line every few seconds otherwise. */
class TrainReporter {
  private lastDraw = 0;
  private drewBar = false;
  private lastPsnr: number | undefined;

  constructor(private readonly stream: ProgressStream, private readonly interval = 2000) {}

  step(p: Extract<TrainProgress, { type: 'step' }>): void {
    const now = performance.now();
    const tty = this.stream.isTTY === true;
    if (p.step < p.steps && now - this.lastDraw < (tty ? 100 : this.interval)) return;
    this.lastDraw = now;
    const val = this.lastPsnr === undefined ? '' : `  val ${this.lastPsnr.toFixed(2)} dB`;
    const text = `step ${p.step}/${p.steps}  loss ${p.losses.total.toFixed(4)}  lr ${p.lr.toExponential(2)}  ${p.mpixPerSecond.toFixed(2)} MPix/s  ETA ${formatDuration(p.etaSeconds)}${val}`;
    if (tty) {
      const width = Math.max(10, Math.min(30, (this.stream.columns ?? 100) - text.length - 4));
      const filled = Math.round((width * p.step) / p.steps);
      this.stream.write(`\r[${'='.repeat(filled)}${' '.repeat(width - filled)}] ${text}\x1b[K`);
      this.drewBar = true;
    } else {
      this.stream.write(`flwnet: ${text.replace(/ {2}/g, ', ')}\n`);
    }
  }

  line(text: string): void {
    this.finish();
    this.stream.write(`flwnet: ${text}\n`);
  }

  validation(p: Extract<TrainProgress, { type: 'validation' }>): void {
    this.lastPsnr = p.psnr;
    this.line(`step ${p.step}: validation PSNR ${p.psnr.toFixed(2)} dB, SSIM ${p.ssim.toFixed(4)}${p.best ? ' (best so far)' : ''}`);
  }

  finish(): void {
    if (this.drewBar) this.stream.write('\n');
    this.drewBar = false;
  }
}

/** Loss and PSNR points from an existing log (a resumed run's earlier part), then from this run. */
function readCurve(log: string): { loss: CurvePoint[]; psnr: CurvePoint[] } {
  const curve = { loss: [] as CurvePoint[], psnr: [] as CurvePoint[] };
  let text = '';
  try {
    text = fs.readFileSync(log, 'utf8');
  } catch {
    return curve;
  }
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line) as { type?: string; step?: number; losses?: { total?: number }; psnr?: number };
      if (r.type === 'step' && typeof r.step === 'number') curve.loss.push({ step: r.step, value: r.losses?.total ?? Number.NaN });
      if (r.type === 'validation' && typeof r.step === 'number') curve.psnr.push({ step: r.step, value: r.psnr ?? Number.NaN });
    } catch {
      // A line cut short by a crash: the rest of the log still counts.
    }
  }
  return curve;
}

function jsonLine(record: unknown): string {
  return `${toJson(record)}\n`;
}

export async function runTrain(argv: string[]): Promise<number> {
  const { values } = parseCommandLine(argv, OPTIONS, false);
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const s = readSettings(values);
  const trainer = await Trainer.create(
    s.resume ? { resume: s.out, seed: s.seed, threads: s.threads, adam: values.authors ? AUTHORS_SETTINGS.adam : undefined }
      : { init: s.init ?? 'random', seed: s.seed, threads: s.threads, adam: values.authors ? AUTHORS_SETTINGS.adam : undefined },
  );
  const reporter = new TrainReporter(process.stderr);
  const controller = new AbortController();
  const onSigint = () => {
    reporter.line('stopping after this step (Ctrl-C again to quit at once)');
    controller.abort();
    process.once('SIGINT', () => process.exit(130));
  };
  process.once('SIGINT', onSigint);
  const curve = s.resume ? readCurve(s.log) : { loss: [], psnr: [] };
  const log = fs.openSync(s.log, s.resume ? 'a' : 'w');
  const svg = siblingPath(s.out, 'curve.svg');
  const writeCurve = () => fs.writeFileSync(svg, trainingCurveSvg({ ...curve, title: `FLW-Net training: ${path.basename(s.out)}` }));
  let result: FitResult;
  try {
    fs.writeSync(log, jsonLine({ type: 'start', time: new Date().toISOString(), resumedAt: trainer.resumed ? trainer.nextBatch : undefined, seed: trainer.seed, options: { ...s.fit, signal: undefined } }));
    const run = trainer.fit({ ...s.fit, signal: controller.signal });
    for await (const record of run) {
      fs.writeSync(log, jsonLine(record));
      if (record.type === 'step') {
        curve.loss.push({ step: record.step, value: record.losses.total });
        reporter.step(record);
      } else if (record.type === 'validation') {
        curve.psnr.push({ step: record.step, value: record.psnr });
        reporter.validation(record);
        writeCurve();
      }
    }
    result = await run.result;
    fs.writeSync(log, jsonLine({ type: 'end', time: new Date().toISOString(), step: result.step, stopped: result.stopped, message: result.message, validation: result.validation }));
  } catch (err) {
    fs.writeSync(log, jsonLine({ type: 'error', time: new Date().toISOString(), message: (err as Error).message ?? String(err) }));
    throw err;
  } finally {
    reporter.finish();
    process.removeListener('SIGINT', onSigint);
    fs.closeSync(log);
    trainer.close();
  }
  writeCurve();
  if (result.stopped === 'completed') {
    // The automatic-exposure predictor: a quick fit on the same data once the network is trained.
    const files = [result.files.last, result.files.best].filter((f): f is string => typeof f === 'string');
    // The images fit() decoded and hashed: the exposure predictor's fit does not load them again.
    const fit = await addPredictorAfterTraining({ ...s.fit, data: result.data }, s.seed ?? 0, s.threads, files);
    if (fit) reporter.line(`exposure predictor: ${fit.samples} samples, RMS error ${fit.rmse.toFixed(4)} (a constant: ${fit.constantRmse.toFixed(4)})`);
  }
  return summarise(result, s, svg, reporter);
}

function summarise(result: FitResult, s: Settings, svg: string, reporter: TrainReporter): number {
  const v = result.validation;
  if (result.validationImages === 0) reporter.line('no validation images: give --val or keep --val-split above 0 with two or more images');
  if (v.first && v.last) {
    const best = v.best ? ` (best ${v.best.psnr.toFixed(2)} dB at step ${v.best.step})` : '';
    reporter.line(`validation PSNR ${v.first.psnr.toFixed(2)} dB at step ${v.first.step} -> ${v.last.psnr.toFixed(2)} dB at step ${v.last.step}${best}`);
  }
  const files = [result.files.last, result.files.best, result.files.optimizer, s.log, svg].filter(Boolean);
  if (result.stopped === 'diverged') {
    reporter.line(result.message!);
    return 1;
  }
  if (result.stopped === 'aborted') {
    reporter.line(`${result.message}; wrote ${files.join(', ')}`);
    return 130;
  }
  reporter.line(`trained ${result.step} steps on ${result.trainImages} images; wrote ${files.join(', ')}`);
  return 0;
}
