/**
 * safetensors, float32 only: an 8-byte little-endian header length, a JSON header mapping each
 * tensor name to {dtype, shape, data_offsets} (plus optional string `__metadata__`), then the
 * tensors' bytes packed back to back with no gaps.
 */
import { WeightsError } from '../errors';
import { DTYPE_BYTES, readElement, type FloatDtype } from './dtypes';
import type { Tensor } from './pth';

const HEADER_LENGTH_BYTES = 8;
const MAX_HEADER_BYTES = 1024 * 1024;
const MAX_TENSORS = 4096;
const MAX_RANK = 8;
const FLOAT_BYTES = 4;
const METADATA_KEY = '__metadata__';
const KNOWN_DTYPES = new Set(['F64', 'F32', 'F16', 'BF16', 'I64', 'I32', 'I16', 'I8', 'U8', 'BOOL', 'F8_E4M3', 'F8_E5M2', 'U16', 'U32', 'U64']);

export interface SafetensorsFile {
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
}

/** safetensors dtype names of the float types read (as float32). */
const FLOAT_DTYPES: Readonly<Record<string, FloatDtype>> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16', F64: 'float64' };

interface HeaderEntry {
  name: string;
  dtype: FloatDtype;
  shape: number[];
  begin: number;
  end: number;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function readHeaderLength(bytes: Uint8Array): number {
  if (bytes.length < HEADER_LENGTH_BYTES) throw new WeightsError(`safetensors: ${bytes.length} bytes is too short for a header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getBigUint64(0, true);
  if (length > BigInt(MAX_HEADER_BYTES)) {
    throw new WeightsError(`safetensors: header length ${length} exceeds the limit of ${MAX_HEADER_BYTES} bytes`);
  }
  const n = Number(length);
  if (n < 2) throw new WeightsError(`safetensors: header length ${n} is too small for a JSON object`);
  if (HEADER_LENGTH_BYTES + n > bytes.length) {
    throw new WeightsError(`safetensors: header length ${n} runs past the end of the ${bytes.length}-byte file`);
  }
  return n;
}

function parseHeaderJson(bytes: Uint8Array, length: number): Record<string, unknown> {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(HEADER_LENGTH_BYTES, HEADER_LENGTH_BYTES + length));
  } catch (err) {
    throw new WeightsError('safetensors: header is not valid UTF-8', { cause: err });
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (err) {
    throw new WeightsError(`safetensors: header is not valid JSON (${(err as Error).message})`, { cause: err });
  }
  if (!isPlainObject(header)) throw new WeightsError('safetensors: header is not a JSON object');
  return header;
}

function readMetadata(value: unknown): Record<string, string> {
  if (value === undefined) return {};
  if (!isPlainObject(value)) throw new WeightsError('safetensors: __metadata__ is not an object');
  for (const [key, item] of Object.entries(value)) {
    if (typeof item !== 'string') throw new WeightsError(`safetensors: __metadata__ value for ${key} is not a string`);
  }
  return value as Record<string, string>;
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function readHeaderEntry(name: string, value: unknown): HeaderEntry {
  if (!isPlainObject(value)) throw new WeightsError(`safetensors: entry ${name} is not an object`);
  const { dtype, shape, data_offsets: offsets } = value;
  for (const key of Object.keys(value)) {
    if (key !== 'dtype' && key !== 'shape' && key !== 'data_offsets') throw new WeightsError(`safetensors: entry ${name} has unknown field ${key}`);
  }
  if (typeof dtype !== 'string') throw new WeightsError(`safetensors: entry ${name} has no dtype`);
  const floatType = FLOAT_DTYPES[dtype];
  if (floatType === undefined) {
    const known = KNOWN_DTYPES.has(dtype) ? '' : ' (unknown dtype)';
    throw new WeightsError(`safetensors: tensor ${name} has dtype ${dtype}${known}; only F32, F16, BF16 and F64 are supported`);
  }
  const elementBytes = DTYPE_BYTES[floatType];
  if (!Array.isArray(shape) || shape.length > MAX_RANK || !shape.every(isCount)) {
    throw new WeightsError(`safetensors: tensor ${name} has an invalid shape`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
    throw new WeightsError(`safetensors: tensor ${name} has invalid data_offsets`);
  }
  const [begin, end] = offsets as [number, number];
  const elements = (shape as number[]).reduce((a, b) => a * b, 1);
  if (end < begin || end - begin !== elements * elementBytes) {
    throw new WeightsError(
      `safetensors: tensor ${name} of shape [${shape.join(', ')}] needs ${elements * elementBytes} bytes but data_offsets [${begin}, ${end}] span ${end - begin}`,
    );
  }
  return { name, dtype: floatType, shape: shape as number[], begin, end };
}

/** Tensors must tile the data section exactly: sorted by offset, from 0, no overlap, no gap. */
function checkLayout(entries: HeaderEntry[], dataLength: number): void {
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expected = 0;
  for (const entry of sorted) {
    if (entry.begin < expected) throw new WeightsError(`safetensors: tensor ${entry.name} overlaps the tensor before it (offset ${entry.begin} < ${expected})`);
    if (entry.begin > expected) throw new WeightsError(`safetensors: gap of ${entry.begin - expected} bytes before tensor ${entry.name}`);
    expected = entry.end;
  }
  if (expected !== dataLength) {
    throw new WeightsError(`safetensors: tensors cover ${expected} bytes but the data section holds ${dataLength}`);
  }
}

export function readSafetensors(bytes: Uint8Array): SafetensorsFile {
  const headerLength = readHeaderLength(bytes);
  const header = parseHeaderJson(bytes, headerLength);
  const dataStart = HEADER_LENGTH_BYTES + headerLength;
  const metadata = readMetadata(header[METADATA_KEY]);
  const entries = Object.entries(header)
    .filter(([name]) => name !== METADATA_KEY)
    .map(([name, value]) => readHeaderEntry(name, value));
  if (entries.length > MAX_TENSORS) throw new WeightsError(`safetensors: ${entries.length} tensors exceed the limit of ${MAX_TENSORS}`);
  checkLayout(entries, bytes.length - dataStart);
  const view = new DataView(bytes.buffer, bytes.byteOffset + dataStart, bytes.byteLength - dataStart);
  const tensors = new Map<string, Tensor>();
  for (const entry of entries) {
    const data = new Float32Array((entry.end - entry.begin) / DTYPE_BYTES[entry.dtype]);
    for (let i = 0; i < data.length; i++) data[i] = readElement(view, entry.begin, i, entry.dtype);
    tensors.set(entry.name, { shape: [...entry.shape], data });
  }
  return { tensors, metadata };
}

/** Serialises tensors in the given order; the header is space-padded to 8 bytes so data stays aligned. */
export function writeSafetensors(tensors: ReadonlyMap<string, Tensor>, metadata: Record<string, string> = {}): Buffer {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header[METADATA_KEY] = metadata;
  let offset = 0;
  for (const [name, tensor] of tensors) {
    if (name === METADATA_KEY) throw new WeightsError(`safetensors: a tensor cannot be named ${METADATA_KEY}`);
    if (tensor.shape.reduce((a, b) => a * b, 1) !== tensor.data.length) {
      throw new WeightsError(`safetensors: tensor ${name} of shape [${tensor.shape.join(', ')}] has ${tensor.data.length} values`);
    }
    const bytes = tensor.data.length * FLOAT_BYTES;
    header[name] = { dtype: 'F32', shape: tensor.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = Math.ceil(json.length / 8) * 8;
  const out = Buffer.alloc(HEADER_LENGTH_BYTES + padded + offset, 0x20);
  out.writeBigUInt64LE(BigInt(padded), 0);
  json.copy(out, HEADER_LENGTH_BYTES);
  let cursor = HEADER_LENGTH_BYTES + padded;
  for (const tensor of tensors.values()) {
    for (let i = 0; i < tensor.data.length; i++, cursor += FLOAT_BYTES) out.writeFloatLE(tensor.data[i]!, cursor);
  }
  return out;
}
