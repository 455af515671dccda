/**
 * `flwnet convert <input.pth|input.safetensors> <output.safetensors>`: validates FLW-Net weights
 * and writes them as safetensors. Reading a safetensors file and writing it again re-validates it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { FlwnetError } from '../errors';
import { loadWeights, saveSafetensors, FLWNET_PARAM_COUNT } from '../weights';
import { UsageError } from './common';

export const CONVERT_HELP = `Usage: flwnet convert [--force] <input> <output.safetensors>

Reads FLW-Net weights from a PyTorch checkpoint (.pth, the published format) or a
safetensors file (detected from the content), checks every tensor against the
FLW-Net architecture, and writes them as safetensors (float32).

The .pth reader never executes the checkpoint's pickle: it accepts only the
objects a state_dict is made of and refuses anything else.

Options:
  --force     overwrite <output> if it exists
  -h, --help  show this help
`;

export interface ConvertStreams {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

interface ConvertArgs {
  input: string;
  output: string;
  force: boolean;
}

function parseArgs(argv: readonly string[]): ConvertArgs | 'help' {
  const positional: string[] = [];
  let force = false;
  let optionsEnded = false;
  for (const arg of argv) {
    if (!optionsEnded && (arg === '-h' || arg === '--help')) return 'help';
    else if (!optionsEnded && arg === '--force') force = true;
    else if (!optionsEnded && arg === '--') optionsEnded = true;
    else if (!optionsEnded && arg.startsWith('-') && arg !== '-') throw new UsageError(`unknown option ${arg}`);
    else positional.push(arg);
  }
  if (positional.length !== 2) {
    throw new UsageError(`expected an input and an output file, got ${positional.length} argument(s)`);
  }
  const [input, output] = positional as [string, string];
  const extension = path.extname(output).toLowerCase();
  if (extension === '.pth' || extension === '.pt') {
    throw new UsageError('writing PyTorch checkpoints is not supported; give an output ending in .safetensors');
  }
  if (extension !== '.safetensors') throw new UsageError(`the output ${output} must end in .safetensors`);
  if (path.resolve(input) === path.resolve(output)) throw new UsageError('the output must differ from the input');
  return { input, output, force };
}

/**
 * Runs `flwnet convert` with the arguments after the command name. Returns the exit code:
 * 0 on success, 1 when the weights cannot be read or written, 2 for a usage error.
 */
export async function runConvert(argv: readonly string[], streams: ConvertStreams = process): Promise<number> {
  let args: ConvertArgs | 'help';
  try {
    args = parseArgs(argv);
  } catch (err) {
    streams.stderr.write(`flwnet convert: ${(err as Error).message} (see flwnet convert --help)\n`);
    return 2;
  }
  if (args === 'help') {
    streams.stdout.write(CONVERT_HELP);
    return 0;
  }
  if (isSameFile(args.input, args.output)) {
    streams.stderr.write(`flwnet convert: ${args.output} is the input itself (a link to it); the output must differ from the input\n`);
    return 2;
  }
  try {
    if (!args.force && fs.existsSync(args.output)) {
      streams.stderr.write(`flwnet convert: ${args.output} exists; pass --force to overwrite it\n`);
      return 1;
    }
    const weights = await loadWeights(args.input);
    await saveSafetensors(weights, args.output);
    const count = FLWNET_PARAM_COUNT.toLocaleString('en-US');
    streams.stdout.write(`wrote ${args.output}: ${count} parameters, sha256 ${weights.sha256()}\n`);
    return 0;
  } catch (err) {
    const message = err instanceof FlwnetError ? err.message : `unexpected error: ${(err as Error).message ?? String(err)}`;
    streams.stderr.write(`flwnet convert: ${message.split('\n')[0]}\n`);
    return 1;
  }
}

/** The same file reached by another path (symbolic or hard link, case-insensitive file system). */
function isSameFile(input: string, output: string): boolean {
  const a = fs.statSync(input, { throwIfNoEntry: false });
  const b = fs.statSync(output, { throwIfNoEntry: false });
  return a !== undefined && b !== undefined && a.dev === b.dev && a.ino === b.ino;
}
