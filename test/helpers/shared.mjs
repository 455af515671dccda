// Locates the reference material (fixtures, weights, photos) that lives outside the repository.
// FLWNET_SHARED overrides the default ../shared beside the package root. Tests that need it are
// registered as skipped, with the reason in their title, when it is absent.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const sharedDir = path.resolve(process.env.FLWNET_SHARED ?? path.join(packageRoot, '..', 'shared'));
export const haveShared = fs.existsSync(path.join(sharedDir, 'SPEC.md'));
export const weightsPath = path.join(sharedDir, 'weights', 'flwnet-official.pth');
export const haveWeights = fs.existsSync(weightsPath);

const reason = `reference material not found at ${sharedDir} (set FLWNET_SHARED)`;

/** `test`, or a skipped test whose title says why, when ../shared (and its weights) is absent. */
export function sharedTest(title, fn) {
  if (haveShared && haveWeights) return test(title, fn);
  return test.skip(`${title} — skipped: ${reason}`, () => {});
}
sharedTest.serial = (title, fn) =>
  haveShared && haveWeights ? test.serial(title, fn) : test.skip(`${title} — skipped: ${reason}`, () => {});

/** Every golden enhancement case: { name, dir, json, input (Uint8Array RGB), expectedF32 (Float32Array) }. */
export function enhanceFixtures() {
  const root = path.join(sharedDir, 'fixtures', 'enhance');
  if (!fs.existsSync(root)) return [];
  return fs.readdirSync(root).sort().map((name) => {
    const dir = path.join(root, name);
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'case.json'), 'utf8'));
    const input = new Uint8Array(fs.readFileSync(path.join(dir, 'input.u8')));
    const raw = fs.readFileSync(path.join(dir, 'expected.f32'));
    const expectedF32 = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
    return { name, dir, json, input, expectedF32 };
  });
}

/** Every golden loss pair: { name, dir, json, a, b } with a and b as RGB images of the case's size. */
export function lossFixtures() {
  const root = path.join(sharedDir, 'fixtures', 'losses');
  if (!fs.existsSync(root)) return [];
  return fs.readdirSync(root).sort().map((name) => {
    const dir = path.join(root, name);
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'case.json'), 'utf8'));
    const raw = (file) => ({ data: new Uint8Array(fs.readFileSync(path.join(dir, file))), width: json.width, height: json.height, channels: 3 });
    return { name, dir, json, a: raw('a.u8'), b: raw('b.u8') };
  });
}
