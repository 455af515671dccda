/** `flwnet enhance <input> [-o output]`: enhance one image file. */
import fs from 'node:fs/promises';
import path from 'node:path';
import { Enhancer } from '../enhancer';
import { checkFormat, type DeviceOption, type OutputFormat } from '../options';
import { numberOption, parseCommandLine, UsageError } from './common';

const HELP = `Usage: flwnet enhance <input> [-o output] [options]

Brightens a low-light photo. The output keeps the input's size, orientation and alpha, and its
format unless --format is given. Without -o, writes <input name>-enhanced.<ext> beside the input.

Options:
  -o, --output <file>     where to write the result
  --exposure <0..1>       target mean brightness (default 0.4; higher is brighter)
  --weights <file>        .pth or .safetensors weights (default: $FLWNET_WEIGHTS)
  --format <name>         jpeg, png, webp, avif, tiff or gif
  --quality <1..100>      encoder quality for jpeg, webp, avif and tiff
  --device <name>         auto (default), cpu, cuda or cuda:N
  --precision <mode>      GPU arithmetic: exact (default) or fast
  --threads <n>           CPU threads (default: all cores)
  -h, --help              show this help
`;

const OPTIONS = {
  output: { type: 'string', short: 'o' },
  exposure: { type: 'string' },
  weights: { type: 'string' },
  format: { type: 'string' },
  quality: { type: 'string' },
  device: { type: 'string' },
  precision: { type: 'string' },
  threads: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function runEnhance(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, OPTIONS);
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('enhance takes exactly one input file');
  const input = positionals[0];
  const format = checkFormat(values.format);
  const output = values.output ?? defaultOutputPath(input, format);
  const enhancer = await Enhancer.create({
    weights: values.weights,
    device: values.device as DeviceOption | undefined,
    precision: values.precision as 'exact' | 'fast' | undefined,
    threads: numberOption('threads', values.threads),
  });
  try {
    const bytes = await fs.readFile(input);
    const result = await enhancer.enhance(bytes, {
      exposure: numberOption('exposure', values.exposure),
      format: format ?? formatFromExtension(output),
      quality: numberOption('quality', values.quality),
    });
    await writeAtomically(output, result);
    process.stderr.write(`flwnet: wrote ${output} (${enhancer.device})\n`);
    return 0;
  } finally {
    await enhancer.close();
  }
}

function defaultOutputPath(input: string, format?: OutputFormat): string {
  const ext = path.extname(input);
  const base = input.slice(0, input.length - ext.length);
  return `${base}-enhanced${format ? `.${format === 'jpeg' ? 'jpg' : format}` : ext}`;
}

/** The format named by an output file's extension, when it is one flwnet writes. */
export function formatFromExtension(file: string): OutputFormat | undefined {
  const ext = path.extname(file).slice(1).toLowerCase();
  const byExt: Record<string, OutputFormat> = {
    jpg: 'jpeg', jpeg: 'jpeg', png: 'png', webp: 'webp', avif: 'avif', tif: 'tiff', tiff: 'tiff', gif: 'gif',
  };
  return byExt[ext];
}

/** Writes through a temporary file and a rename, so no partial output is left behind. */
export async function writeAtomically(file: string, data: Uint8Array): Promise<void> {
  const temp = `${file}.${process.pid}.partial`;
  try {
    await fs.writeFile(temp, data);
    await fs.rename(temp, file);
  } catch (err) {
    await fs.rm(temp, { force: true });
    throw err;
  }
}
