/** Shared pieces of the command-line tools: argument parsing and one-line error reporting. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { FlwnetError } from '../errors';

export class UsageError extends Error {}

/** parseArgs with usage errors turned into UsageError (exit code 2). */
export function parseCommandLine<T extends ParseArgsConfig['options']>(argv: string[], options: T, allowPositionals = true) {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** Parses a number option; undefined stays undefined. */
export function numberOption(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isFinite(parsed)) throw new UsageError(`--${name} must be a number, got "${value}"`);
  return parsed;
}

/** Prints one line for an error and returns the exit code: 2 for usage errors, 1 otherwise. */
export function reportError(err: unknown): number {
  if (err instanceof UsageError) {
    process.stderr.write(`flwnet: ${err.message} (see --help)\n`);
    return 2;
  }
  const message = err instanceof FlwnetError || err instanceof Error ? err.message : String(err);
  process.stderr.write(`flwnet: ${message.split('\n')[0]}\n`);
  return 1;
}
