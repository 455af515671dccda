// Builds an earlier version of the package for `npm run bench` to time beside this one
// (FLWNET_BENCH_PREVIOUS_BUILD): a detached git worktree of the commit, sharing this checkout's
// node_modules (the benchmark only needs the earlier addon and its JavaScript), with the addon built
// for the CPU and the TypeScript compiled.
// Usage: node bench/prepare-previous-build.mjs COMMIT DIR
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { packageRoot } from './common.mjs';

function run(command, args, cwd, env = {}) {
  execFileSync(command, args, { cwd, stdio: 'inherit', env: { ...process.env, ...env } });
}

function main() {
  const [commit, dirArg] = process.argv.slice(2);
  if (!commit || !dirArg) {
    console.error('usage: node bench/prepare-previous-build.mjs COMMIT DIR');
    process.exit(2);
  }
  const dir = path.resolve(dirArg);
  if (fs.existsSync(dir)) {
    console.error(`prepare-previous-build: ${dir} exists; remove it (git worktree remove) or name another folder`);
    process.exit(2);
  }
  run('git', ['worktree', 'add', '--detach', dir, commit], packageRoot);
  fs.symlinkSync(path.join(packageRoot, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  run(process.execPath, ['scripts/build-addon.js'], dir, { FLWNET_CUDA: 'OFF' });
  run(process.execPath, [path.join(packageRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'], dir);
  run(process.execPath, ['scripts/make-esm-entry.js'], dir);
  console.log(`previous build ready: FLWNET_BENCH_PREVIOUS_BUILD=${dir} npm run bench`);
}

main();
