// Weight loading: the published checkpoint, the safetensors round trip, the convert command,
// and a matrix of damaged and hostile files built in memory, each refused with a WeightsError
// whose message names the problem.
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { sharedTest, weightsPath } from './helpers/shared.mjs';
import {
  checkpoint,
  checkpointEntries,
  checkpointWithPickle,
  floatBytes,
  op,
  packedOf,
  safetensorsBytes,
  safetensorsParts,
  stateDictPickle,
  syntheticTensors,
  zipArchive,
} from './helpers/hostile-weights.mjs';
import { FLWNET_PARAM_COUNT, FlwnetWeights, loadWeights, saveSafetensors, toSafetensors } from '../dist/weights/index.js';
import { WeightsError } from '../dist/errors.js';
import { runConvert } from '../dist/cli/convert.js';

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'flwnet-weights-test-'));
test.after.always(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

async function rejectsWeights(t, source, fragment) {
  const err = await t.throwsAsync(() => loadWeights(source), { instanceOf: WeightsError });
  t.is(err.code, 'ERR_FLWNET_WEIGHTS');
  t.true(err.message.includes(fragment), `message "${err.message}" should contain "${fragment}"`);
}

function sameFloats(t, actual, expected) {
  t.is(actual.length, expected.length);
  const firstDiff = actual.findIndex((v, i) => !Object.is(v, expected[i]));
  t.is(firstDiff, -1, `first difference at index ${firstDiff}`);
}

// ------------------------------------------------------------- the published checkpoint

sharedTest('the published checkpoint loads, with 17,373 parameters in packed order', async (t) => {
  const weights = await loadWeights(weightsPath);
  const packed = weights.packed();
  t.is(FLWNET_PARAM_COUNT, 17373);
  t.is(packed.length, 17373);
  t.is(weights.source, weightsPath);
  t.deepEqual(weights.tensors.get('e_conv1.depth_conv.weight').shape, [16, 4, 3, 3]);
  t.deepEqual(weights.tensors.get('g_conv3.point_conv.weight').shape, [16, 31, 1, 1]);
  // First values of e_conv1.weight and the last of g_conv5.bias, as stored in the checkpoint.
  t.is(packed[0], Math.fround(0.0627812072634697));
  t.is(packed[1], Math.fround(0.07279836386442184));
  t.is(packed[17372], Math.fround(-0.09375589340925217));
  t.is(weights.tensors.get('g_conv5.point_conv.bias').data[4], Math.fround(0.16071364283561707));
  t.is(weights.sha256(), 'e4ece090aedffb3b5087f44d394bdb4d6cc12e6c6134f288730ab831fed57cfc');
});

sharedTest('the published checkpoint round-trips through safetensors unchanged', async (t) => {
  const weights = await loadWeights(weightsPath);
  const file = path.join(tmpRoot, 'official.safetensors');
  await saveSafetensors(weights, file);
  const again = await loadWeights(file);
  sameFloats(t, again.packed(), weights.packed());
  t.is(again.sha256(), weights.sha256());
  const fromBytes = await loadWeights(fs.readFileSync(weightsPath));
  sameFloats(t, fromBytes.packed(), weights.packed());
});

sharedTest('convert turns the published checkpoint into safetensors', async (t) => {
  const out = path.join(tmpRoot, 'convert-official.safetensors');
  const io = captureStreams();
  t.is(await runConvert([weightsPath, out], io), 0, io.err());
  t.regex(io.out(), /17,373 parameters, sha256 e4ece090/);
  sameFloats(t, (await loadWeights(out)).packed(), (await loadWeights(weightsPath)).packed());
});

// ------------------------------------------------------------- synthetic valid files

test('a synthetic checkpoint loads and packs in schema order', async (t) => {
  const tensors = syntheticTensors();
  const weights = await loadWeights(checkpoint(tensors));
  sameFloats(t, weights.packed(), packedOf(tensors));
  t.is(weights.tensors.size, 24);
});

test('deflated entries, shared storages with offsets and strided tensors are honoured', async (t) => {
  const tensors = syntheticTensors();
  // e_conv1.weight [16,4,3,3] stored transposed as [4,16,3,3]: strides (9, 144, 3, 1) read it back.
  const w = tensors[0];
  const transposed = new Float32Array(w.data.length);
  for (let o = 0; o < 16; o++) for (let i = 0; i < 4; i++) for (let k = 0; k < 9; k++) transposed[i * 144 + o * 9 + k] = w.data[o * 36 + i * 9 + k];
  // e_conv1.bias lives after 5 padding floats in the same storage as e_conv2.bias.
  const shared = new Float32Array([9, 9, 9, 9, 9, ...tensors[1].data, ...tensors[3].data]);
  const entries = checkpointEntries(tensors, {
    mutate: (e) => {
      if (e.name === 'e_conv1.depth_conv.weight') return { ...e, stride: [9, 144, 3, 1] };
      if (e.name === 'e_conv1.depth_conv.bias') return { ...e, key: 'shared', numel: shared.length, offset: 5 };
      if (e.name === 'e_conv2.depth_conv.bias') return { ...e, key: 'shared', numel: shared.length, offset: 21 };
      return e;
    },
  }).map((e) => ({ ...e, method: 8 }));
  entries[1] = { ...entries[1], data: floatBytes(transposed), method: 8 };
  entries.push({ name: 'archive/data/shared', data: floatBytes(shared), method: 8 });
  const weights = await loadWeights(zipArchive(entries));
  sameFloats(t, weights.packed(), packedOf(tensors));
});

test('zip64 end records are read, and a zip64 record that disagrees is refused', async (t) => {
  const tensors = syntheticTensors();
  const bytes = zipArchive(checkpointEntries(tensors), { zip64: true });
  sameFloats(t, (await loadWeights(bytes)).packed(), packedOf(tensors));
  const forged = Buffer.from(bytes);
  const record = forged.lastIndexOf(Buffer.from([0x50, 0x4b, 0x06, 0x06]));
  forged.writeBigUInt64LE(BigInt(forged.length), record + 48);
  await rejectsWeights(t, forged, 'central directory at offset');
});

test('safetensors written by toSafetensors read back identically', async (t) => {
  const tensors = syntheticTensors();
  const weights = await loadWeights(checkpoint(tensors));
  const bytes = toSafetensors(weights);
  t.is(bytes.readBigUInt64LE(0) % 8n, 0n);
  sameFloats(t, (await loadWeights(bytes)).packed(), packedOf(tensors));
  const fromPacked = FlwnetWeights.fromPacked(packedOf(tensors));
  t.is(fromPacked.sha256(), weights.sha256());
  t.is(await loadWeights(weights), weights);
});

// ------------------------------------------------------------- hostile pickles

test('a pickle naming os.system is refused without running it', async (t) => {
  const pickle = Buffer.concat([op.proto(2), op.global('os', 'system'), op.mark, op.unicode('touch pwned'), op.tuple, op.reduce, op.stop]);
  await rejectsWeights(t, checkpointWithPickle(pickle), 'global os.system is not allowed');
});

test('a pickle naming posix.system the classic way is refused', async (t) => {
  const pickle = Buffer.from("cposix\nsystem\n(S'echo pwned'\ntR.", 'latin1');
  await rejectsWeights(t, checkpointWithPickle(pickle), 'global posix.system is not allowed');
});

test('builtins.eval through STACK_GLOBAL is refused', async (t) => {
  const pickle = Buffer.concat([op.proto(4), op.shortUnicode('builtins'), op.shortUnicode('eval'), op.stackGlobal, op.stop]);
  await rejectsWeights(t, checkpointWithPickle(pickle), 'global builtins.eval is not allowed');
});

test('REDUCE on a whitelisted name that is not a callable is refused', async (t) => {
  const pickle = Buffer.concat([op.proto(2), op.global('torch', 'FloatStorage'), op.emptyTuple, op.reduce, op.stop]);
  await rejectsWeights(t, checkpointWithPickle(pickle), 'REDUCE calls torch.FloatStorage');
});

test('an unknown opcode is refused by name', async (t) => {
  const pickle = Buffer.concat([op.proto(2), Buffer.from([0xff]), op.stop]);
  await rejectsWeights(t, checkpointWithPickle(pickle), 'opcode 0xff at byte 2 is not supported');
  const inst = Buffer.concat([op.proto(2), Buffer.from('ios\nsystem\n', 'latin1'), op.stop]);
  await rejectsWeights(t, checkpointWithPickle(inst), "opcode 0x69 'i'");
});

test('a truncated pickle is refused', async (t) => {
  const full = stateDictPickle(syntheticTensors().map((x, i) => ({ name: x.name, key: String(i), numel: x.data.length, shape: x.shape })));
  await rejectsWeights(t, checkpointWithPickle(full.subarray(0, Math.floor(full.length / 2))), 'pickle: truncated stream');
  await rejectsWeights(t, checkpointWithPickle(full.subarray(0, full.length - 1)), 'pickle: truncated stream');
});

test('deeply nested MARKs are bounded', async (t) => {
  const pickle = Buffer.concat([op.proto(2), Buffer.alloc(1000, '('), op.stop]);
  await rejectsWeights(t, checkpointWithPickle(pickle), 'nested MARKs');
});

test('an integer storage is refused as an unsupported dtype', async (t) => {
  const bytes = checkpoint(syntheticTensors(), { mutate: (e) => (e.key === '3' ? { ...e, storageType: 'LongStorage' } : e) });
  await rejectsWeights(t, bytes, 'torch.LongStorage holds int64; dtype not supported');
});

/** Synthetic tensors whose values are exact in float16 and bfloat16 (multiples of 1/64 in [-0.5, 0.5)). */
function halfExactTensors() {
  return syntheticTensors().map((x) => ({ ...x, data: Float32Array.from(x.data, (_, i) => ((i % 64) - 32) / 64) }));
}

/** float16 bits of a value that float16 holds exactly (normal or zero). */
function halfBits(v) {
  if (v === 0) return 0;
  const sign = v < 0 ? 0x8000 : 0;
  const a = Math.abs(v);
  const exponent = Math.floor(Math.log2(a));
  return sign | ((exponent + 15) << 10) | Math.round((a / 2 ** exponent - 1) * 1024);
}

const encoders = {
  HalfStorage: [2, (b, v, at) => b.writeUInt16LE(halfBits(v), at)],
  BFloat16Storage: [2, (b, v, at) => b.writeUInt16LE(Buffer.from(Float32Array.of(v).buffer).readUInt16LE(2), at)],
  DoubleStorage: [8, (b, v, at) => b.writeDoubleLE(v, at)],
};

function storedAs(storageType, tensors, prefix = '') {
  const [size, write] = encoders[storageType];
  const entries = checkpointEntries(tensors, { mutate: (e) => ({ ...e, name: prefix + e.name, storageType }) });
  // checkpointEntries writes float32 storages: rewrite each one in the storage's own precision.
  for (const entry of entries) {
    const match = /\/data\/(\d+)$/.exec(entry.name);
    if (!match) continue;
    const values = tensors[Number(match[1])].data;
    const data = Buffer.alloc(values.length * size);
    values.forEach((v, i) => write(data, v, i * size));
    entry.data = data;
  }
  entries[0].data = stateDictPickle(tensors.map((x, i) => ({ name: prefix + x.name, key: String(i), numel: x.data.length, shape: x.shape, storageType })));
  return zipArchive(entries);
}

test('float16, bfloat16 and float64 checkpoints load as float32; a DataParallel module. prefix is removed', async (t) => {
  const tensors = halfExactTensors();
  const expected = packedOf(tensors);
  for (const type of Object.keys(encoders)) {
    t.deepEqual((await loadWeights(storedAs(type, tensors))).packed(), expected, type);
  }
  t.deepEqual((await loadWeights(storedAs('DoubleStorage', tensors, 'module.'))).packed(), expected);
  t.deepEqual((await loadWeights(checkpoint(syntheticTensors().map((x) => ({ ...x, name: `module.${x.name}` }))))).packed(), packedOf(syntheticTensors()));
  // A prefix on only some keys is not DataParallel: those keys stay unknown.
  const mixed = syntheticTensors().map((x, i) => ({ ...x, name: i === 0 ? `module.${x.name}` : x.name }));
  await rejectsWeights(t, checkpoint(mixed), 'unknown key module.');
  // float64 values beyond float32 are not valid weights.
  const huge = halfExactTensors();
  huge[2].data[0] = 1e300;
  await rejectsWeights(t, storedAs('DoubleStorage', huge), 'non-finite value');
});

test('safetensors in F16, BF16 and F64 load as float32, with or without a module. prefix', async (t) => {
  const tensors = halfExactTensors();
  const expected = packedOf(tensors);
  const kinds = { F16: 'HalfStorage', BF16: 'BFloat16Storage', F64: 'DoubleStorage' };
  for (const [dtype, storage] of Object.entries(kinds)) {
    const [size, write] = encoders[storage];
    const header = {};
    const parts = [];
    let offset = 0;
    for (const x of tensors) {
      header[`module.${x.name}`] = { dtype, shape: x.shape, data_offsets: [offset, offset + x.data.length * size] };
      const data = Buffer.alloc(x.data.length * size);
      x.data.forEach((v, i) => write(data, v, i * size));
      parts.push(data);
      offset += data.length;
    }
    t.deepEqual((await loadWeights(safetensorsBytes(header, Buffer.concat(parts)))).packed(), expected, dtype);
  }
});

// ------------------------------------------------------------- damaged archives

test('a truncated zip is refused', async (t) => {
  const bytes = checkpoint(syntheticTensors());
  await rejectsWeights(t, bytes.subarray(0, Math.floor(bytes.length * 0.7)), 'no end of central directory record');
});

test('an entry whose CRC does not match is refused', async (t) => {
  const entries = checkpointEntries(syntheticTensors());
  entries[2] = { ...entries[2], crc: (zlib.crc32(entries[2].data) ^ 1) >>> 0 };
  await rejectsWeights(t, zipArchive(entries), 'CRC mismatch in entry archive/data/1');
});

test('zip bombs are refused whether they declare their size or lie about it', async (t) => {
  const huge = Buffer.alloc(80 * 1024 * 1024);
  const compressed = zlib.deflateRawSync(huge, { level: 9 });
  const entries = checkpointEntries(syntheticTensors());
  const honest = [...entries];
  honest[1] = { name: entries[1].name, data: huge, method: 8, compressed };
  await rejectsWeights(t, zipArchive(honest), 'above the limit of 67108864 (zip bomb?)');
  const lying = [...entries];
  lying[1] = { name: entries[1].name, data: huge, method: 8, compressed, declaredSize: entries[1].data.length };
  await rejectsWeights(t, zipArchive(lying), 'inflates past its declared 2304 bytes');
});

test('entries reaching beyond the file, duplicates, encryption and absurd counts are refused', async (t) => {
  const entries = checkpointEntries(syntheticTensors());
  const dup = zipArchive([...entries, entries[1]]);
  await rejectsWeights(t, dup, 'duplicate entry name archive/data/0');
  const encrypted = zipArchive(entries.map((e, i) => (i === 2 ? { ...e, flags: 1 } : e)));
  await rejectsWeights(t, encrypted, 'entry archive/data/1 is encrypted');
  await rejectsWeights(t, zipArchive(entries, { entryCountOverride: 60000 }), 'lists 60000 entries, above the limit');
  // Point the central directory's first local header offset far past the end of the file.
  const bytes = zipArchive(entries);
  const central = bytes.lastIndexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]), bytes.length - 22 - 46 * (entries.length - 1));
  const forged = Buffer.from(bytes);
  forged.writeUInt32LE(0x7fffffff, central + 42);
  await rejectsWeights(t, forged, 'lies beyond the entry data');
});

test('a storage shorter than its tensor is refused', async (t) => {
  const tensors = syntheticTensors();
  const entries = checkpointEntries(tensors, { mutate: (e) => (e.key === '0' ? { ...e, numel: 10 } : e) });
  entries[1] = { ...entries[1], data: floatBytes(tensors[0].data.subarray(0, 10)) };
  await rejectsWeights(t, zipArchive(entries), 'storage 0 holds 10 floats but tensor e_conv1.depth_conv.weight needs 576');
  const offsetPast = checkpoint(tensors, { mutate: (e) => (e.key === '1' ? { ...e, offset: 1 } : e) });
  await rejectsWeights(t, offsetPast, 'storage 1 holds 16 floats but tensor e_conv1.depth_conv.bias needs 17');
  const shortRecord = checkpointEntries(tensors);
  shortRecord[1] = { ...shortRecord[1], data: shortRecord[1].data.subarray(0, 100) };
  await rejectsWeights(t, zipArchive(shortRecord), 'storage 0 declares 576 floats but its record holds 100 bytes');
});

test('many tensors over one huge storage are refused before anything is allocated', async (t) => {
  const tensors = syntheticTensors();
  const base = checkpointEntries(tensors);
  const huge = Array.from({ length: 50 }, (_, i) => ({ name: `copy${i}`, key: '0', numel: 4_000_000, shape: [4_000_000] }));
  const pickle = stateDictPickle(huge);
  base[0] = { ...base[0], data: pickle };
  await rejectsWeights(t, zipArchive(base), 'describes 200000000 tensor values in 4000000 stored floats, above the limit');
});

// ------------------------------------------------------------- wrong contents

test('wrong shapes, missing and extra keys, and non-finite values are refused by key', async (t) => {
  const tensors = syntheticTensors();
  const wrongShape = tensors.map((x) => (x.name === 'e_conv3.depth_conv.weight' ? { ...x, shape: [16, 19, 3, 3], data: x.data.subarray(0, 16 * 19 * 9) } : x));
  await rejectsWeights(t, checkpoint(wrongShape), 'key e_conv3.depth_conv.weight has shape [16, 19, 3, 3], expected [16, 20, 3, 3]');
  await rejectsWeights(t, checkpoint(tensors.slice(0, -1)), 'missing key g_conv5.point_conv.bias');
  const extra = [...tensors, { name: 'e_conv8.depth_conv.bias', shape: [16], data: new Float32Array(16) }];
  await rejectsWeights(t, checkpoint(extra), 'unknown key e_conv8.depth_conv.bias');
  const nan = syntheticTensors();
  nan[5].data[7] = NaN;
  await rejectsWeights(t, checkpoint(nan), 'key e_conv3.depth_conv.bias has a non-finite value (NaN) at index 7');
  const inf = syntheticTensors();
  inf[20].data[0] = -Infinity;
  await rejectsWeights(t, safetensorsBytes(safetensorsParts(inf).header, safetensorsParts(inf).data), 'key g_conv4.point_conv.weight has a non-finite value (-Infinity)');
});

// ------------------------------------------------------------- hostile safetensors

test('safetensors with a lying header length is refused', async (t) => {
  const { header, data } = safetensorsParts(syntheticTensors());
  await rejectsWeights(t, safetensorsBytes(header, data, { headerLength: 1e6 }), 'runs past the end');
  await rejectsWeights(t, safetensorsBytes(header, data, { headerLength: 2 ** 40 }), 'exceeds the limit');
  await rejectsWeights(t, safetensorsBytes(header, data, { headerLength: 100 }), 'not valid JSON');
});

test('safetensors with overlapping or gapped offsets is refused', async (t) => {
  const { header, data } = safetensorsParts(syntheticTensors());
  const overlap = structuredClone(header);
  overlap['e_conv1.depth_conv.bias'].data_offsets = [2300, 2364];
  await rejectsWeights(t, safetensorsBytes(overlap, data), 'overlaps');
  const gap = structuredClone(header);
  for (const entry of Object.values(gap)) entry.data_offsets = entry.data_offsets.map((o) => o + 4);
  await rejectsWeights(t, safetensorsBytes(gap, Buffer.concat([Buffer.alloc(4), data])), 'gap of 4 bytes before tensor e_conv1.depth_conv.weight');
  const beyond = structuredClone(header);
  beyond['g_conv5.point_conv.bias'].data_offsets = beyond['g_conv5.point_conv.bias'].data_offsets.map((o) => o + 4);
  await rejectsWeights(t, safetensorsBytes(beyond, data), 'gap of 4 bytes');
  const mismatch = structuredClone(header);
  mismatch['e_conv1.depth_conv.bias'].shape = [17];
  await rejectsWeights(t, safetensorsBytes(mismatch, data), 'tensor e_conv1.depth_conv.bias of shape [17] needs 68 bytes');
});

test('safetensors with a dtype that is not a float is refused', async (t) => {
  const { header, data } = safetensorsParts(syntheticTensors());
  header['e_conv2.depth_conv.weight'].dtype = 'I32';
  await rejectsWeights(t, safetensorsBytes(header, data), 'tensor e_conv2.depth_conv.weight has dtype I32; only F32, F16, BF16 and F64 are supported');
});

test('safetensors whose recorded digest does not match its values is refused', async (t) => {
  const bytes = toSafetensors(await loadWeights(checkpoint(syntheticTensors())));
  bytes[bytes.length - 1] ^= 0x01;
  await rejectsWeights(t, bytes, 'params_sha256');
});

// ------------------------------------------------------------- not weights at all

test('empty files, random bytes, legacy checkpoints, directories and missing files are refused', async (t) => {
  await rejectsWeights(t, new Uint8Array(0), 'the file is empty');
  const empty = path.join(tmpRoot, 'empty.pth');
  fs.writeFileSync(empty, '');
  await rejectsWeights(t, empty, 'the file is empty');
  let seed = 12345;
  const random = Buffer.alloc(4096).map(() => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24);
  random[0] = 0x13;
  await rejectsWeights(t, random, 'not a PyTorch checkpoint (.pth zip) or a safetensors file');
  await rejectsWeights(t, Buffer.from([0x80, 0x02, 0x8a, 0x0a]), 'legacy (pre-zip) PyTorch checkpoint');
  await rejectsWeights(t, tmpRoot, 'is a directory');
  await rejectsWeights(t, path.join(tmpRoot, 'no-such-file.pth'), 'weights file not found');
});

// ------------------------------------------------------------- convert

function captureStreams() {
  let out = '';
  let err = '';
  return {
    stdout: { write: (s) => (out += s) },
    stderr: { write: (s) => (err += s) },
    out: () => out,
    err: () => err,
  };
}

test('convert: pth -> safetensors -> safetensors keeps the values', async (t) => {
  const tensors = syntheticTensors();
  const pth = path.join(tmpRoot, 'synthetic.pth');
  fs.writeFileSync(pth, checkpoint(tensors));
  const first = path.join(tmpRoot, 'first.safetensors');
  const second = path.join(tmpRoot, 'second.safetensors');
  const io = captureStreams();
  t.is(await runConvert([pth, first], io), 0, io.err());
  t.is(await runConvert([first, second], io), 0, io.err());
  sameFloats(t, (await loadWeights(second)).packed(), packedOf(tensors));
  t.is(io.err(), '');
  t.is(io.out().split('\n').filter(Boolean).length, 2);
});

test('convert: help, usage errors, existing outputs and bad inputs give exit codes and one-line errors', async (t) => {
  const help = captureStreams();
  t.is(await runConvert(['--help'], help), 0);
  t.regex(help.out(), /Usage: flwnet convert/);
  const cases = [
    [[], 2, 'expected an input and an output file'],
    [['a.pth', 'b.pth'], 2, 'writing PyTorch checkpoints is not supported'],
    [['a.pth', 'b.bin'], 2, 'must end in .safetensors'],
    [['--frobnicate', 'a.pth', 'b.safetensors'], 2, 'unknown option --frobnicate'],
    [[path.join(tmpRoot, 'missing.pth'), path.join(tmpRoot, 'x.safetensors')], 1, 'weights file not found'],
  ];
  for (const [argv, code, fragment] of cases) {
    const io = captureStreams();
    t.is(await runConvert(argv, io), code, argv.join(' '));
    t.true(io.err().includes(fragment), io.err());
    t.is(io.err().trimEnd().split('\n').length, 1);
  }
  const hostile = path.join(tmpRoot, 'hostile.pth');
  fs.writeFileSync(hostile, checkpointWithPickle(Buffer.concat([op.proto(2), op.global('os', 'system'), op.stop])));
  const io = captureStreams();
  const target = path.join(tmpRoot, 'never-written.safetensors');
  t.is(await runConvert([hostile, target], io), 1);
  t.true(io.err().includes('global os.system is not allowed'), io.err());
  t.false(fs.existsSync(target));
  const existing = path.join(tmpRoot, 'exists.safetensors');
  fs.writeFileSync(existing, 'keep');
  const pth = path.join(tmpRoot, 'synthetic-2.pth');
  fs.writeFileSync(pth, checkpoint(syntheticTensors()));
  const refused = captureStreams();
  t.is(await runConvert([pth, existing], refused), 1);
  t.true(refused.err().includes('pass --force'), refused.err());
  t.is(fs.readFileSync(existing, 'utf8'), 'keep');
  t.is(await runConvert(['--force', pth, existing], captureStreams()), 0);
  t.is((await loadWeights(existing)).packed().length, FLWNET_PARAM_COUNT);
});

test('convert refuses an output that is a link to its input, even with --force', async (t) => {
  const source = path.join(tmpRoot, 'linked.safetensors');
  fs.writeFileSync(source, toSafetensors(await loadWeights(checkpoint(syntheticTensors()))));
  const link = path.join(tmpRoot, 'link-to-linked.safetensors');
  fs.symlinkSync(source, link);
  const io = captureStreams();
  t.is(await runConvert(['--force', source, link], io), 2);
  t.true(io.err().includes('is the input itself'), io.err());
  t.true(fs.lstatSync(link).isSymbolicLink());
});
