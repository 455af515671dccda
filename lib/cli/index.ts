/** `flwnet <command>`: the command-line entry point (bin/flwnet.js calls main). */
import { runConvert } from './convert';
import { reportError } from './common';
import { runEnhance } from './enhance';
import { runEval } from './eval';
import { runTrain } from './train';

const HELP = `flwnet — brighten low-light photos with FLW-Net (arXiv 2304.02978)

Usage:
  flwnet enhance <input> [-o output] [options]   enhance an image (see: flwnet enhance --help)
  flwnet enhance <inputs...> -o <dir> [options]  enhance files, directories (-r) and patterns
  flwnet convert <input> <output.safetensors>    check .pth or .safetensors weights, write .safetensors
  flwnet eval --enhanced <dir> --reference <dir> losses and metrics of enhanced images
  flwnet eval --low <dir> --reference <dir>      enhance low-light images, then evaluate them
  flwnet enhance <inputs...> -o <dir> --queue redis://HOST:PORT   send a batch to queue workers
  flwnet serve [--port 8080] [options]           serve enhancement over HTTP (see: flwnet serve --help)
  flwnet worker --redis redis://HOST:PORT        take enhancement jobs from a Redis queue
  flwnet train --photos <dir> -o <out>           train weights on the CPU (see: flwnet train --help)
  flwnet --version | --help

Exit status: 0 success, 1 when an image or file failed, 2 for usage errors and bad option
values, 130 when interrupted.

Weights: the package's own (weights/flwnet-default.safetensors, see MODEL.md) unless --weights
<file> or FLWNET_WEIGHTS names others: the published checkpoint (flwnet-official.pth), a
.safetensors file made by "flwnet convert", or weights made by "flwnet train".
`;

const COMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  enhance: runEnhance,
  convert: runConvert,
  eval: runEval,
  // Loaded on demand: the HTTP and queue stacks are not needed by the other commands.
  serve: async (argv) => (await import('./serve')).runServe(argv),
  worker: async (argv) => (await import('./worker')).runWorker(argv),
  train: runTrain,
};

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(HELP);
    return command === undefined ? 2 : 0;
  }
  if (command === '--version' || command === '-v') {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    process.stdout.write(`${(require('../../package.json') as { version: string }).version}\n`);
    return 0;
  }
  const run = COMMANDS[command];
  if (!run) {
    process.stderr.write(`flwnet: unknown command "${command}" (commands: ${Object.keys(COMMANDS).join(', ')}; see --help)\n`);
    return 2;
  }
  try {
    return await run(rest);
  } catch (err) {
    return reportError(err);
  }
}
