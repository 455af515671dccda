/**
 * `flwnet eval`: the losses and metrics of enhanced images against references, pairing the files
 * of two directories by base name. With --low, the low-light images are enhanced first (exposure
 * from each reference, as the paper evaluates) and their float output is evaluated directly.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { Enhancer } from '../enhancer';
import { meanBrightness } from '../exposure';
import { FlwnetError } from '../errors';
import { isImageFile } from '../formats';
import { decodeStillImage, type RawImage } from '../image-io';
import { evaluate, type Evaluation, type LossImage } from '../losses';
import { pairFiles, type Pair } from '../pairs';
import { checkDevice, checkExposure, MAX_PIXELS_LIMIT, type DeviceOption } from '../options';
import { checkWeightsGiven, numberOption, parseCommandLine, UsageError } from './common';

const HELP = `Usage: flwnet eval --enhanced <dir> --reference <dir> [options]
       flwnet eval --low <dir> --reference <dir> [--weights <file>] [--exposure reference|auto|<0..1>] [options]

Computes, for each image paired by base name (extension ignored), the paper's losses (L1, SSIM
loss, colour, brightness, structure and their total L_ALL) and the metrics PSNR, SSIM and
CIEDE2000, then their means. With --low, each low-light image is enhanced first and its
unrounded output (clamped to [0, 1]) is evaluated; --exposure reference (the default) sets the
target brightness to the reference's mean V = max(R, G, B), as the paper does; --exposure auto
predicts it from the low-light image alone, as 'flwnet enhance --exposure auto' does. The JSON
output gives, for each pair, the exposure used and the reference's brightness.

Options:
  --enhanced <dir>        enhanced images
  --low <dir>             low-light images to enhance (instead of --enhanced)
  --reference <dir>       reference (ground-truth) images
  --weights <file>        .pth or .safetensors weights for --low (default: $FLWNET_WEIGHTS)
  --exposure <v>          reference (default), auto, or a number in [0, 1], for --low
  --device <name>         auto (default), cpu, cuda or cuda:N
  --json                  print the results as JSON
  --csv                   print the results as CSV
  -h, --help              show this help

Files present in only one directory are listed on stderr and left out. Progress goes to stderr.
Exit status: 0 when every pair was evaluated, 1 when any failed or there was nothing to pair,
2 for usage errors and bad option values.
`;

const OPTIONS = {
  enhanced: { type: 'string' },
  low: { type: 'string' },
  reference: { type: 'string' },
  weights: { type: 'string' },
  exposure: { type: 'string' },
  device: { type: 'string' },
  json: { type: 'boolean' },
  csv: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const METRICS = ['psnr', 'ssim', 'ciede2000', 'l1', 'ssimLoss', 'color', 'brightness', 'structure', 'total'] as const;
const PROGRESS_INTERVAL_MS = 2000;

interface Settings {
  mode: 'enhanced' | 'low';
  inputDir: string;
  referenceDir: string;
  exposure: 'reference' | 'auto' | number;
  device: DeviceOption;
  weights?: string;
  output: 'table' | 'json' | 'csv';
}

interface PairResult {
  name: string;
  metrics?: Evaluation;
  exposure?: number;
  /** The reference's mean brightness (what --exposure reference uses). */
  referenceExposure?: number;
  error?: { code: string; message: string };
}

export async function runEval(argv: string[]): Promise<number> {
  const { values } = parseCommandLine(argv, OPTIONS, false);
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const settings = readSettings(values);
  const [inputs, references] = await Promise.all([listImages(settings.inputDir), listImages(settings.referenceDir)]);
  const { pairs, unpaired } = pairFiles(inputs, references);
  for (const file of unpaired) process.stderr.write(`flwnet: unpaired, left out: ${file}\n`);
  if (pairs.length === 0) {
    process.stderr.write('flwnet: no image pairs to evaluate (files are paired by name without extension)\n');
    return 1;
  }
  const results = await evaluatePairs(pairs, settings);
  process.stdout.write(formatResults(results, unpaired, settings));
  return results.every((r) => r.metrics) ? 0 : 1;
}

function readSettings(values: ReturnType<typeof parseCommandLine<typeof OPTIONS>>['values']): Settings {
  if (values.enhanced !== undefined && values.low !== undefined) throw new UsageError('give --enhanced or --low, not both');
  const inputDir = values.enhanced ?? values.low;
  if (inputDir === undefined) throw new UsageError('eval needs --enhanced <dir> or --low <dir>');
  if (values.reference === undefined) throw new UsageError('eval needs --reference <dir>');
  if (values.json && values.csv) throw new UsageError('give --json or --csv, not both');
  const mode = values.low !== undefined ? 'low' : 'enhanced';
  if (mode === 'low') checkWeightsGiven(values.weights);
  if (mode === 'enhanced' && (values.weights !== undefined || values.exposure !== undefined)) {
    throw new UsageError('--weights and --exposure apply to --low only');
  }
  const exposure = values.exposure === undefined || values.exposure === 'reference' ? 'reference' : values.exposure === 'auto' ? 'auto' : checkExposure(numberOption('exposure', values.exposure));
  return {
    mode,
    inputDir,
    referenceDir: values.reference,
    exposure,
    device: checkDevice(values.device),
    weights: values.weights,
    output: values.json ? 'json' : values.csv ? 'csv' : 'table',
  };
}

async function listImages(dir: string): Promise<string[]> {
  let entries;
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch (err) {
    throw new UsageError(`cannot read directory ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return entries
    .filter((e) => e.isFile() && isImageFile(e.name))
    .map((e) => path.join(dir, e.name))
    .sort();
}

async function evaluatePairs(pairs: Pair[], settings: Settings): Promise<PairResult[]> {
  const enhancer = settings.mode === 'low' ? await Enhancer.create({ weights: settings.weights, device: settings.device }) : undefined;
  const results: PairResult[] = [];
  const started = performance.now();
  let lastLine = started;
  try {
    for (const [index, pair] of pairs.entries()) {
      results.push(await evaluatePair(pair, settings, enhancer));
      const now = performance.now();
      if (now - lastLine >= PROGRESS_INTERVAL_MS && index + 1 < pairs.length) {
        lastLine = now;
        const seconds = ((now - started) / 1000).toFixed(1);
        process.stderr.write(`flwnet: eval ${index + 1}/${pairs.length} pairs, ${seconds} s\n`);
      }
    }
  } finally {
    await enhancer?.close();
  }
  return results;
}

async function evaluatePair(pair: Pair, settings: Settings, enhancer?: Enhancer): Promise<PairResult> {
  try {
    const [input, reference] = await Promise.all([readImage(pair.input), readImage(pair.reference)]);
    if (!enhancer) return { name: pair.name, metrics: await evaluate(input, reference, { device: settings.device }) };
    const referenceExposure = meanBrightness(reference.data, reference.channels);
    const exposure = settings.exposure === 'reference' ? referenceExposure : settings.exposure === 'auto' ? (await enhancer.inspect(input, { exposure: 'auto' })).exposure : settings.exposure;
    const enhanced = await enhancer.enhanceRaw(input, { exposure, output: 'float32' });
    const clamped: LossImage = { ...enhanced, data: clampUnit(enhanced.data) };
    return { name: pair.name, exposure, referenceExposure, metrics: await evaluate(clamped, reference, { device: settings.device }) };
  } catch (err) {
    const code = err instanceof FlwnetError ? err.code : 'ERR_FLWNET_INTERNAL';
    return { name: pair.name, error: { code, message: (err as Error).message } };
  }
}

async function readImage(file: string): Promise<RawImage> {
  const bytes = await fs.readFile(file);
  try {
    return await decodeStillImage(bytes, MAX_PIXELS_LIMIT, 'eval');
  } catch (err) {
    if (err instanceof FlwnetError) err.message = `${file}: ${err.message}`;
    throw err;
  }
}

function clampUnit(values: Float32Array): Float32Array {
  for (let i = 0; i < values.length; i++) values[i] = Math.min(1, Math.max(0, values[i]));
  return values;
}

function means(results: PairResult[]): Record<(typeof METRICS)[number], number> | null {
  const ok = results.flatMap((r) => (r.metrics ? [r.metrics] : []));
  if (ok.length === 0) return null;
  const out = {} as Record<(typeof METRICS)[number], number>;
  for (const key of METRICS) out[key] = ok.reduce((s, m) => s + m[key], 0) / ok.length;
  return out;
}

function formatResults(results: PairResult[], unpaired: string[], settings: Settings): string {
  const mean = means(results);
  if (settings.output === 'json') {
    // JSON has no Infinity: an identical pair's PSNR is written as null.
    const finite = (_key: string, value: unknown) => (typeof value === 'number' && !Number.isFinite(value) ? null : value);
    return `${JSON.stringify({ mode: settings.mode, pairs: results, mean, evaluated: results.filter((r) => r.metrics).length, unpaired }, finite, 2)}\n`;
  }
  if (settings.output === 'csv') {
    const header = ['name', ...METRICS, 'error'].join(',');
    const rows = results.map((r) => [csvField(r.name), ...METRICS.map((k) => (r.metrics ? String(r.metrics[k]) : '')), csvField(r.error?.message ?? '')].join(','));
    if (mean) rows.push(['mean', ...METRICS.map((k) => String(mean[k])), ''].join(','));
    return `${[header, ...rows].join('\n')}\n`;
  }
  return formatTable(results, mean);
}

function csvField(text: string): string {
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function formatTable(results: PairResult[], mean: ReturnType<typeof means>): string {
  const digits: Record<(typeof METRICS)[number], number> = {
    psnr: 3, ssim: 4, ciede2000: 3, l1: 4, ssimLoss: 4, color: 4, brightness: 4, structure: 4, total: 4,
  };
  const cell = (key: (typeof METRICS)[number], value: number) => (Number.isFinite(value) ? value.toFixed(digits[key]) : 'inf');
  const rows: string[][] = [['image', ...METRICS]];
  for (const r of results) if (r.metrics) rows.push([r.name, ...METRICS.map((k) => cell(k, r.metrics![k]))]);
  if (mean) rows.push([`mean (${rows.length - 1})`, ...METRICS.map((k) => cell(k, mean[k]))]);
  const widths = rows[0].map((_, col) => Math.max(...rows.map((row) => row[col].length)));
  const lines = rows.map((row) => row.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  '));
  for (const r of results) if (r.error) lines.push(`${r.name}: failed: ${r.error.message}`);
  return `${lines.join('\n')}\n`;
}
