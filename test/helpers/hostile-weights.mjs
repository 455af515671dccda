// Builds weight files byte by byte for the loader tests: valid FLW-Net checkpoints with synthetic
// values, and damaged or hostile variants of them. Nothing here uses a pickle or zip library, so
// the tests can produce exactly the malformed structures they need.
import zlib from 'node:zlib';

export const SCHEMA = (() => {
  const convs = [[4, 16], [16, 16], [20, 16], [16, 16], [16, 16], [32, 16], [16, 6]];
  const denses = [[15, 16], [16, 16], [31, 16], [16, 16], [16, 7]];
  const out = [];
  convs.forEach(([cin, cout], i) => {
    out.push([`e_conv${i + 1}.depth_conv.weight`, [cout, cin, 3, 3]], [`e_conv${i + 1}.depth_conv.bias`, [cout]]);
  });
  denses.forEach(([cin, cout], i) => {
    out.push([`g_conv${i + 1}.point_conv.weight`, [cout, cin, 1, 1]], [`g_conv${i + 1}.point_conv.bias`, [cout]]);
  });
  return out;
})();

const count = (shape) => shape.reduce((a, b) => a * b, 1);

/** Synthetic FLW-Net tensors: [{ name, shape, data }] in packed order, values distinct per parameter. */
export function syntheticTensors() {
  let k = 0;
  return SCHEMA.map(([name, shape]) => {
    const data = new Float32Array(count(shape));
    for (let i = 0; i < data.length; i++, k++) data[i] = Math.sin(k * 0.37) * 0.25;
    return { name, shape: [...shape], data };
  });
}

export function packedOf(tensors) {
  const out = new Float32Array(tensors.reduce((n, t) => n + t.data.length, 0));
  let offset = 0;
  for (const t of tensors) {
    out.set(t.data, offset);
    offset += t.data.length;
  }
  return out;
}

// ---------------------------------------------------------------- pickle

const u32le = (n) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
const i32le = (n) => {
  const b = Buffer.alloc(4);
  b.writeInt32LE(n);
  return b;
};

/** Pickle opcodes as byte strings, for hand-assembled streams. */
export const op = {
  proto: (v) => Buffer.from([0x80, v]),
  global: (module, name) => Buffer.from(`c${module}\n${name}\n`, 'latin1'),
  unicode: (s) => {
    const bytes = Buffer.from(s, 'utf8');
    return Buffer.concat([Buffer.from('X'), u32le(bytes.length), bytes]);
  },
  shortUnicode: (s) => Buffer.concat([Buffer.from([0x8c, Buffer.byteLength(s)]), Buffer.from(s, 'utf8')]),
  int: (n) => Buffer.concat([Buffer.from('J'), i32le(n)]),
  mark: Buffer.from('('),
  tuple: Buffer.from('t'),
  emptyTuple: Buffer.from(')'),
  reduce: Buffer.from('R'),
  binpersid: Buffer.from('Q'),
  setitems: Buffer.from('u'),
  newFalse: Buffer.from([0x89]),
  stackGlobal: Buffer.from([0x93]),
  stop: Buffer.from('.'),
};

const intTuple = (values) => Buffer.concat([op.mark, ...values.map(op.int), op.tuple]);
const orderedDict = () => Buffer.concat([op.global('collections', 'OrderedDict'), op.emptyTuple, op.reduce]);

/**
 * A state_dict pickle. Each entry: { name, key, numel, offset = 0, shape, stride = contiguous,
 * storageType = 'FloatStorage' }.
 */
export function stateDictPickle(entries) {
  const parts = [op.proto(2), orderedDict(), op.mark];
  for (const e of entries) {
    const stride = e.stride ?? contiguousStride(e.shape);
    parts.push(
      op.unicode(e.name),
      op.global('torch._utils', '_rebuild_tensor_v2'),
      op.mark,
      op.mark, op.unicode('storage'), op.global('torch', e.storageType ?? 'FloatStorage'), op.unicode(e.key),
      op.unicode('cpu'), op.int(e.numel), op.tuple, op.binpersid,
      op.int(e.offset ?? 0), intTuple(e.shape), intTuple(stride), op.newFalse, orderedDict(),
      op.tuple,
      op.reduce,
    );
  }
  parts.push(op.setitems, op.stop);
  return Buffer.concat(parts);
}

export function contiguousStride(shape) {
  const stride = new Array(shape.length).fill(1);
  for (let d = shape.length - 2; d >= 0; d--) stride[d] = stride[d + 1] * shape[d + 1];
  return stride;
}

// ---------------------------------------------------------------- zip

/**
 * A zip archive. Each entry: { name, data, method = 0 (stored) | 8 (deflated), crc, declaredSize,
 * flags }; crc/declaredSize override the true values to forge a damaged archive.
 * Options: { entryCountOverride, zip64 }.
 */
export function zipArchive(entries, options = {}) {
  const locals = [];
  const centrals = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, 'utf8');
    const method = e.method ?? 0;
    const payload = method === 8 ? (e.compressed ?? zlib.deflateRawSync(e.data)) : e.data;
    const crc = e.crc ?? zlib.crc32(e.data);
    const size = e.declaredSize ?? e.data.length;
    const flags = (e.flags ?? 0) | 0x0800;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(flags, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(payload.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.length, 26);
    locals.push(local, name, payload);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(flags, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(payload.length, 20);
    central.writeUInt32LE(size, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    centrals.push(central, name);
    offset += 30 + name.length + payload.length;
  }
  const directory = Buffer.concat(centrals);
  const entryCount = options.entryCountOverride ?? entries.length;
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  if (options.zip64) {
    // As torch writes them: a zip64 end record and locator, the classic record holding sentinels.
    end.fill(0xff, 8, 20);
    return Buffer.concat([...locals, directory, zip64End(entryCount, directory.length, offset), end]);
  }
  end.writeUInt16LE(Math.min(entryCount, 0xffff), 8);
  end.writeUInt16LE(Math.min(entryCount, 0xffff), 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

function zip64End(entryCount, directoryLength, directoryOffset) {
  const record = Buffer.alloc(56);
  record.writeUInt32LE(0x06064b50, 0);
  record.writeBigUInt64LE(44n, 4);
  record.writeUInt16LE(45, 12);
  record.writeUInt16LE(45, 14);
  record.writeBigUInt64LE(BigInt(entryCount), 24);
  record.writeBigUInt64LE(BigInt(entryCount), 32);
  record.writeBigUInt64LE(BigInt(directoryLength), 40);
  record.writeBigUInt64LE(BigInt(directoryOffset), 48);
  const locator = Buffer.alloc(20);
  locator.writeUInt32LE(0x07064b50, 0);
  locator.writeBigUInt64LE(BigInt(directoryOffset + directoryLength), 8);
  locator.writeUInt32LE(1, 16);
  return Buffer.concat([record, locator]);
}

/** The zip entries of a checkpoint whose state_dict holds `tensors`, one storage per tensor. */
export function checkpointEntries(tensors, { root = 'archive', mutate = (e) => e } = {}) {
  const pickleEntries = tensors.map((t, i) => mutate({ name: t.name, key: String(i), numel: t.data.length, shape: t.shape }));
  const storages = tensors.map((t, i) => ({ name: `${root}/data/${i}`, data: floatBytes(t.data) }));
  return [
    { name: `${root}/data.pkl`, data: stateDictPickle(pickleEntries) },
    ...storages,
    { name: `${root}/version`, data: Buffer.from('3\n') },
  ];
}

export function checkpoint(tensors, options) {
  return zipArchive(checkpointEntries(tensors, options));
}

/** A checkpoint whose data.pkl is the given pickle bytes (and whose storages hold the synthetic values). */
export function checkpointWithPickle(pickle, tensors = syntheticTensors()) {
  const entries = checkpointEntries(tensors);
  entries[0] = { ...entries[0], data: pickle };
  return zipArchive(entries);
}

export function floatBytes(values) {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeFloatLE(v, i * 4));
  return b;
}

// ---------------------------------------------------------------- safetensors

/** A safetensors file from a header object and a data section; headerLength overrides the true length. */
export function safetensorsBytes(header, data, { headerLength } = {}) {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(headerLength ?? json.length));
  return Buffer.concat([prefix, json, data]);
}

/** The header and data of a valid safetensors file for `tensors`. */
export function safetensorsParts(tensors) {
  const header = {};
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.length * 4] };
    offset += t.data.length * 4;
  }
  return { header, data: Buffer.concat(tensors.map((t) => floatBytes(t.data))) };
}
