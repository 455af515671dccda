import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeFileAtomically } from '../dist/atomic-write.js';

const temporaries = (dir) => fs.readdirSync(dir).filter((n) => n.endsWith('.partial'));

test('writeFileAtomically replaces the file whole, with or without a tag, and leaves no temporary file', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flwnet-atomic-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'out.bin');
  await writeFileAtomically(file, Buffer.from('first'));
  await writeFileAtomically(file, Buffer.from('second'), 'job-7');
  t.is(fs.readFileSync(file, 'utf8'), 'second');
  t.deepEqual(temporaries(dir), []);
});

test('writeFileAtomically: a failed rename removes the tagged temporary file and rethrows', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flwnet-atomic-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const blocked = path.join(dir, 'taken');
  fs.mkdirSync(path.join(blocked, 'inside'), { recursive: true }); // a non-empty directory cannot be renamed over
  await t.throwsAsync(writeFileAtomically(blocked, Buffer.from('data'), 'host.job-1'));
  t.deepEqual(temporaries(dir), []);
  t.true(fs.statSync(blocked).isDirectory());
});
