// A real redis-server per test file, on a free loopback port, with its data in a temporary
// directory. Tests that need it are skipped with the reason in their title when redis-server is
// not installed -- except under CI (CI=true), where its absence is a failure.
import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

function findRedisServer() {
  try {
    return execFileSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

export const redisServerPath = findRedisServer();
const inCI = process.env.CI === 'true';
const reason = 'redis-server is not installed (apt-get install redis-server; .ci/run installs it)';

/** `test`, or (without redis-server) a skipped test saying why; under CI a failing one. */
export function redisTest(title, fn) {
  if (redisServerPath) return test.serial(title, fn);
  if (inCI) return test.serial(title, (t) => t.fail(`CI=true but ${reason}`));
  return test.skip(`${title} — skipped: ${reason}`, () => {});
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function waitForPort(port, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.write('PING\r\n');
        socket.once('data', (data) => {
          socket.destroy();
          if (String(data).startsWith('+PONG')) resolve();
          else retry();
        });
      });
      socket.once('error', retry);
      function retry() {
        socket.destroy();
        if (Date.now() > deadline) reject(new Error(`redis did not answer on port ${port} within ${timeoutMs} ms`));
        else setTimeout(attempt, 50);
      }
    };
    attempt();
  });
}

/**
 * Starts redis-server. `persistent` keeps an append-only file (fsync always) in the temporary
 * directory, so a restart keeps the queue; otherwise nothing is written to disk.
 */
export async function startRedis({ persistent = false } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flwnet-redis-'));
  const port = await freePort();
  const args = [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '',
    '--maxmemory-policy', 'noeviction', '--protected-mode', 'yes',
    ...(persistent ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']),
  ];
  let child;
  const launch = async () => {
    child = spawn(redisServerPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.resume();
    child.stderr.resume();
    await waitForPort(port, 15_000);
  };
  await launch();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    /** Stops redis (SIGKILL when `hard`) and waits for it to exit. */
    async stop(hard = false) {
      if (!child || child.exitCode !== null || child.signalCode) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill(hard ? 'SIGKILL' : 'SIGTERM');
      await exited;
    },
    /** Starts it again on the same port and data directory. */
    async start() {
      await launch();
    },
    async close() {
      await this.stop(true);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
