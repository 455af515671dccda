/** Shared pieces of the command-line tools: argument parsing and one-line error reporting. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { FlwnetError, InvalidOptionError, WeightsError } from '../errors';
import { defaultWeightsAvailable, DEFAULT_WEIGHTS_PATH } from '../exposure';
import { checkInteger } from '../options';

/** A mistake in the command line: exit code 2. */
export class UsageError extends Error {}

/** parseArgs with usage errors turned into UsageError (exit code 2), each one line. */
export function parseCommandLine<T extends ParseArgsConfig['options']>(argv: string[], options: T, allowPositionals = true) {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (err) {
    throw new UsageError(oneLineParseError(err as Error & { code?: string }, argv));
  }
}

/** Node's messages for a value that starts with '-' run to three lines; say it in one. */
function oneLineParseError(err: Error & { code?: string }, argv: string[]): string {
  const [first] = err.message.split('\n');
  const ambiguous = /^Option '(-\w, )?(--[\w-]+)[^']*' argument is ambiguous/.exec(first);
  if (ambiguous) {
    const option = ambiguous[2];
    const value = argv[argv.indexOf(option) + 1] ?? '';
    return `${option} got "${value}", which looks like an option; write ${option}=${value} to pass it as the value`;
  }
  return first;
}

const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/** Parses a decimal number option (no hex, binary or Infinity); undefined stays undefined. */
export function numberOption(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!DECIMAL.test(value.trim())) throw new UsageError(`--${name} must be a decimal number, got "${value}"`);
  return Number(value);
}

/** An integer option in [min, max]; undefined stays undefined. */
export function integerOption(name: string, value: string | undefined, min: number, max: number): number | undefined {
  const parsed = numberOption(name, value);
  return parsed === undefined ? undefined : checkInteger(name, parsed, min, max, 0);
}

/** Resolves with the first SIGTERM or SIGINT: a long-running command then shuts down gracefully. */
export function waitForStopSignal(): Promise<NodeJS.Signals> {
  return new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
}

/** Refuses to start without weights, naming the command-line ways to give them. */
export function checkWeightsGiven(weights: string | undefined): void {
  // Without --weights or FLWNET_WEIGHTS the package's own weights run; only a package missing them fails here.
  if ((weights ?? '') === '' && (process.env.FLWNET_WEIGHTS ?? '') === '' && !defaultWeightsAvailable()) {
    throw new WeightsError(
      `no weights given and the package's default weights (${DEFAULT_WEIGHTS_PATH}) are missing: pass --weights <file> ` +
        '(a .safetensors file or the published flwnet-official.pth) or set FLWNET_WEIGHTS',
    );
  }
}

/** All of stdin, for the input "-". */
export async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * Prints one line for an error and returns the exit code: 2 for usage errors and bad option
 * values, 1 otherwise.
 */
export function reportError(err: unknown): number {
  if (err instanceof UsageError || err instanceof InvalidOptionError) {
    process.stderr.write(`flwnet: ${err.message.split('\n')[0]} (see --help)\n`);
    return 2;
  }
  const message = err instanceof FlwnetError || err instanceof Error ? err.message : String(err);
  process.stderr.write(`flwnet: ${message.split('\n')[0]}\n`);
  return 1;
}
