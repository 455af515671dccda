/**
 * A minimal, strict ZIP reader for PyTorch checkpoints. It reads the central directory, never trusts
 * a size or offset before checking it against the file, and inflates deflated entries with a hard
 * output bound so that a hostile archive cannot make it allocate more than the caller allows.
 */
import zlib from 'node:zlib';
import { WeightsError } from '../errors';

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_END = 0x06054b50;
const SIG_ZIP64_END = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const END_RECORD_BYTES = 22;
const ZIP64_LOCATOR_BYTES = 20;
const ZIP64_END_BYTES = 56;
const CENTRAL_HEADER_BYTES = 46;
const LOCAL_HEADER_BYTES = 30;
const MAX_COMMENT_BYTES = 0xffff;
const ZIP64_EXTRA_ID = 0x0001;
const U16_SENTINEL = 0xffff;
const U32_SENTINEL = 0xffffffff;
const FLAG_ENCRYPTED = 0x0001;
const FLAG_STRONG_ENCRYPTION = 0x0040;
const FLAG_UTF8_NAME = 0x0800;
const METHOD_STORED = 0;
const METHOD_DEFLATED = 8;
const METHOD_AES = 99;

export interface ZipLimits {
  /** Most entries the central directory may list. */
  maxEntries: number;
  /** Most bytes one entry may declare or inflate to. */
  maxEntryBytes: number;
}

export const DEFAULT_ZIP_LIMITS: ZipLimits = { maxEntries: 4096, maxEntryBytes: 64 * 1024 * 1024 };

export interface ZipEntry {
  readonly name: string;
  readonly method: number;
  readonly flags: number;
  readonly crc32: number;
  readonly compressedSize: number;
  readonly uncompressedSize: number;
  readonly localHeaderOffset: number;
}

/** CRC-32 (IEEE 802.3, reflected, as ZIP uses), table-driven. */
const CRC_TABLE: Uint32Array = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = CRC_TABLE[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** Bounds-checked little-endian reads; every failure names what was being read. */
class ByteReader {
  private readonly view: DataView;
  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  require(offset: number, length: number, what: string): void {
    if (!Number.isSafeInteger(offset) || offset < 0 || length < 0 || offset + length > this.bytes.length) {
      throw new WeightsError(`zip: ${what} at offset ${offset} (${length} bytes) lies beyond the ${this.bytes.length}-byte file`);
    }
  }
  u16(offset: number, what: string): number {
    this.require(offset, 2, what);
    return this.view.getUint16(offset, true);
  }
  u32(offset: number, what: string): number {
    this.require(offset, 4, what);
    return this.view.getUint32(offset, true);
  }
  u64(offset: number, what: string): number {
    this.require(offset, 8, what);
    const value = this.view.getBigUint64(offset, true);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new WeightsError(`zip: ${what} ${value} overflows`);
    return Number(value);
  }
}

interface DirectoryLocation {
  entryCount: number;
  offset: number;
  size: number;
}

function findEndRecord(reader: ByteReader): number {
  const length = reader.bytes.length;
  const lowest = Math.max(0, length - END_RECORD_BYTES - MAX_COMMENT_BYTES);
  for (let pos = length - END_RECORD_BYTES; pos >= lowest; pos--) {
    if (reader.u32(pos, 'end record signature') !== SIG_END) continue;
    // The comment must run exactly to the end of the file; otherwise this is a stray signature.
    if (pos + END_RECORD_BYTES + reader.u16(pos + 20, 'comment length') === length) return pos;
  }
  throw new WeightsError('zip: no end of central directory record (not a zip archive, or truncated)');
}

function readZip64Location(reader: ByteReader, endPos: number): DirectoryLocation | undefined {
  const locatorPos = endPos - ZIP64_LOCATOR_BYTES;
  if (locatorPos < 0 || reader.u32(locatorPos, 'zip64 locator') !== SIG_ZIP64_LOCATOR) return undefined;
  if (reader.u32(locatorPos + 4, 'zip64 locator disk') !== 0 || reader.u32(locatorPos + 16, 'zip64 disk count') > 1) {
    throw new WeightsError('zip: multi-disk zip64 archives are not supported');
  }
  const recordPos = reader.u64(locatorPos + 8, 'zip64 end record offset');
  reader.require(recordPos, ZIP64_END_BYTES, 'zip64 end record');
  if (recordPos + ZIP64_END_BYTES > locatorPos) throw new WeightsError('zip: zip64 end record overlaps its locator');
  if (reader.u32(recordPos, 'zip64 end record') !== SIG_ZIP64_END) {
    throw new WeightsError('zip: zip64 locator points at something that is not a zip64 end record');
  }
  if (reader.u32(recordPos + 16, 'zip64 disk number') !== 0 || reader.u32(recordPos + 20, 'zip64 directory disk') !== 0) {
    throw new WeightsError('zip: multi-disk zip64 archives are not supported');
  }
  const onDisk = reader.u64(recordPos + 24, 'zip64 entries on disk');
  const entryCount = reader.u64(recordPos + 32, 'zip64 entry count');
  if (onDisk !== entryCount) throw new WeightsError('zip: multi-disk zip64 archives are not supported');
  return {
    entryCount,
    size: reader.u64(recordPos + 40, 'zip64 central directory size'),
    offset: reader.u64(recordPos + 48, 'zip64 central directory offset'),
  };
}

function locateDirectory(reader: ByteReader): DirectoryLocation {
  const endPos = findEndRecord(reader);
  const disk = reader.u16(endPos + 4, 'disk number');
  const directoryDisk = reader.u16(endPos + 6, 'directory disk');
  const onDisk = reader.u16(endPos + 8, 'entries on disk');
  const classic: DirectoryLocation = {
    entryCount: reader.u16(endPos + 10, 'entry count'),
    size: reader.u32(endPos + 12, 'central directory size'),
    offset: reader.u32(endPos + 16, 'central directory offset'),
  };
  const zip64 = readZip64Location(reader, endPos);
  if (zip64 === undefined) {
    if (disk !== 0 || directoryDisk !== 0 || onDisk !== classic.entryCount) {
      throw new WeightsError('zip: multi-disk archives are not supported');
    }
    if (classic.entryCount === U16_SENTINEL || classic.offset === U32_SENTINEL || classic.size === U32_SENTINEL) {
      throw new WeightsError('zip: the end record defers to a zip64 record that is missing');
    }
    return classic;
  }
  // Writers fill the classic fields with sentinels or with the same values; anything else is a lie.
  const agrees = (classic32: number, sentinel: number, wide: number): boolean => classic32 === sentinel || classic32 === wide;
  if (
    !agrees(classic.entryCount, U16_SENTINEL, zip64.entryCount) ||
    !agrees(classic.size, U32_SENTINEL, zip64.size) ||
    !agrees(classic.offset, U32_SENTINEL, zip64.offset)
  ) {
    throw new WeightsError('zip: the end record and the zip64 end record disagree');
  }
  return zip64;
}

interface Zip64Fields {
  uncompressedSize: number;
  compressedSize: number;
  localHeaderOffset: number;
}

/** Replaces 0xFFFFFFFF fields of a central header with the values of its zip64 extra field. */
function applyZip64Extra(reader: ByteReader, extraStart: number, extraLength: number, fields: Zip64Fields, name: string): Zip64Fields {
  const needed = [fields.uncompressedSize, fields.compressedSize, fields.localHeaderOffset].filter((v) => v === U32_SENTINEL).length;
  if (needed === 0) return fields;
  let pos = extraStart;
  const end = extraStart + extraLength;
  while (pos + 4 <= end) {
    const id = reader.u16(pos, 'extra field id');
    const size = reader.u16(pos + 2, 'extra field size');
    if (pos + 4 + size > end) break;
    if (id === ZIP64_EXTRA_ID) {
      if (size < needed * 8) throw new WeightsError(`zip: entry ${name} has a short zip64 extra field`);
      let cursor = pos + 4;
      const take = (value: number, what: string): number => {
        if (value !== U32_SENTINEL) return value;
        const wide = reader.u64(cursor, what);
        cursor += 8;
        return wide;
      };
      const uncompressedSize = take(fields.uncompressedSize, 'zip64 uncompressed size');
      const compressedSize = take(fields.compressedSize, 'zip64 compressed size');
      const localHeaderOffset = take(fields.localHeaderOffset, 'zip64 local header offset');
      return { uncompressedSize, compressedSize, localHeaderOffset };
    }
    pos += 4 + size;
  }
  throw new WeightsError(`zip: entry ${name} needs a zip64 extra field but has none`);
}

function decodeName(bytes: Uint8Array, flags: number): string {
  if (flags & FLAG_UTF8_NAME) {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      throw new WeightsError('zip: an entry name is not valid UTF-8');
    }
  }
  return Buffer.from(bytes).toString('latin1');
}

function readCentralEntry(reader: ByteReader, pos: number, directoryEnd: number): { entry: ZipEntry; next: number } {
  reader.require(pos, CENTRAL_HEADER_BYTES, 'central directory header');
  if (reader.u32(pos, 'central header') !== SIG_CENTRAL) {
    throw new WeightsError(`zip: bad central directory header signature at offset ${pos}`);
  }
  const flags = reader.u16(pos + 8, 'flags');
  const method = reader.u16(pos + 10, 'method');
  const nameLength = reader.u16(pos + 28, 'name length');
  const extraLength = reader.u16(pos + 30, 'extra length');
  const commentLength = reader.u16(pos + 32, 'comment length');
  const next = pos + CENTRAL_HEADER_BYTES + nameLength + extraLength + commentLength;
  if (next > directoryEnd) throw new WeightsError(`zip: central directory header at offset ${pos} runs past the directory`);
  const name = decodeName(reader.bytes.subarray(pos + CENTRAL_HEADER_BYTES, pos + CENTRAL_HEADER_BYTES + nameLength), flags);
  const disk = reader.u16(pos + 34, 'entry disk');
  const sizes = applyZip64Extra(
    reader,
    pos + CENTRAL_HEADER_BYTES + nameLength,
    extraLength,
    {
      compressedSize: reader.u32(pos + 20, 'compressed size'),
      uncompressedSize: reader.u32(pos + 24, 'uncompressed size'),
      localHeaderOffset: reader.u32(pos + 42, 'local header offset'),
    },
    name,
  );
  if (disk !== 0 && disk !== U16_SENTINEL) throw new WeightsError(`zip: entry ${name} lives on another disk`);
  const entry: ZipEntry = { name, method, flags, crc32: reader.u32(pos + 16, 'crc'), ...sizes };
  return { entry, next };
}

function checkEntryShape(entry: ZipEntry, limits: ZipLimits): void {
  if (entry.flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION) || entry.method === METHOD_AES) {
    throw new WeightsError(`zip: entry ${entry.name} is encrypted`);
  }
  if (entry.method !== METHOD_STORED && entry.method !== METHOD_DEFLATED) {
    throw new WeightsError(`zip: entry ${entry.name} uses compression method ${entry.method}; only stored and deflated are supported`);
  }
  if (entry.uncompressedSize > limits.maxEntryBytes) {
    throw new WeightsError(
      `zip: entry ${entry.name} declares ${entry.uncompressedSize} bytes uncompressed, above the limit of ${limits.maxEntryBytes} (zip bomb?)`,
    );
  }
  if (entry.method === METHOD_STORED && entry.compressedSize !== entry.uncompressedSize) {
    throw new WeightsError(`zip: stored entry ${entry.name} has different compressed and uncompressed sizes`);
  }
}

export class ZipArchive {
  private readonly reader: ByteReader;
  private readonly entries: Map<string, ZipEntry>;

  private constructor(reader: ByteReader, entries: Map<string, ZipEntry>, private readonly limits: ZipLimits) {
    this.reader = reader;
    this.entries = entries;
  }

  /** Parses and validates the central directory; entry data is only checked when read. */
  static open(bytes: Uint8Array, limits: ZipLimits = DEFAULT_ZIP_LIMITS): ZipArchive {
    const reader = new ByteReader(bytes);
    const location = locateDirectory(reader);
    if (location.entryCount > limits.maxEntries) {
      throw new WeightsError(`zip: the archive lists ${location.entryCount} entries, above the limit of ${limits.maxEntries}`);
    }
    reader.require(location.offset, location.size, 'central directory');
    const directoryEnd = location.offset + location.size;
    const entries = new Map<string, ZipEntry>();
    let pos = location.offset;
    for (let i = 0; i < location.entryCount; i++) {
      const { entry, next } = readCentralEntry(reader, pos, directoryEnd);
      if (entries.has(entry.name)) throw new WeightsError(`zip: duplicate entry name ${entry.name}`);
      checkEntryShape(entry, limits);
      // Entry data precedes the central directory; a header or payload reaching into it is forged.
      if (entry.localHeaderOffset + LOCAL_HEADER_BYTES + entry.compressedSize > location.offset) {
        throw new WeightsError(`zip: entry ${entry.name} (offset ${entry.localHeaderOffset}, ${entry.compressedSize} bytes) lies beyond the entry data`);
      }
      entries.set(entry.name, entry);
      pos = next;
    }
    if (pos !== directoryEnd) throw new WeightsError('zip: the central directory size does not match its entries');
    return new ZipArchive(reader, entries, limits);
  }

  get names(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  entry(name: string): ZipEntry | undefined {
    return this.entries.get(name);
  }

  /** The entry's uncompressed bytes, after checking its local header, size bound and CRC. */
  read(name: string): Uint8Array {
    const entry = this.entries.get(name);
    if (entry === undefined) throw new WeightsError(`zip: no entry named ${name}`);
    const compressed = this.payload(entry);
    const data = entry.method === METHOD_STORED ? compressed : this.inflate(entry, compressed);
    if (data.length !== entry.uncompressedSize) {
      throw new WeightsError(`zip: entry ${name} holds ${data.length} bytes but declares ${entry.uncompressedSize}`);
    }
    const actual = crc32(data);
    if (actual !== entry.crc32) {
      throw new WeightsError(`zip: CRC mismatch in entry ${name} (stored ${hex32(entry.crc32)}, computed ${hex32(actual)})`);
    }
    return data;
  }

  private payload(entry: ZipEntry): Uint8Array {
    const r = this.reader;
    const pos = entry.localHeaderOffset;
    r.require(pos, LOCAL_HEADER_BYTES, `local header of ${entry.name}`);
    if (r.u32(pos, 'local header') !== SIG_LOCAL) throw new WeightsError(`zip: bad local header signature for entry ${entry.name}`);
    if (r.u16(pos + 8, 'local method') !== entry.method) {
      throw new WeightsError(`zip: entry ${entry.name} has different methods in its local and central headers`);
    }
    const nameLength = r.u16(pos + 26, 'local name length');
    const extraLength = r.u16(pos + 28, 'local extra length');
    const localName = decodeName(r.bytes.subarray(pos + LOCAL_HEADER_BYTES, pos + LOCAL_HEADER_BYTES + nameLength), entry.flags);
    if (localName !== entry.name) throw new WeightsError(`zip: entry ${entry.name} has a different name in its local header`);
    const start = pos + LOCAL_HEADER_BYTES + nameLength + extraLength;
    r.require(start, entry.compressedSize, `data of entry ${entry.name}`);
    return r.bytes.subarray(start, start + entry.compressedSize);
  }

  private inflate(entry: ZipEntry, compressed: Uint8Array): Uint8Array {
    // Bound the output by the declared size (itself bounded): a bomb stops at that many bytes.
    const bound = Math.max(1, Math.min(entry.uncompressedSize, this.limits.maxEntryBytes));
    try {
      return zlib.inflateRawSync(compressed, { maxOutputLength: bound });
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ERR_BUFFER_TOO_LARGE') {
        throw new WeightsError(`zip: entry ${entry.name} inflates past its declared ${entry.uncompressedSize} bytes (zip bomb?)`, { cause: err });
      }
      throw new WeightsError(`zip: entry ${entry.name} is not valid deflate data (${(err as Error).message})`, { cause: err });
    }
  }
}

function hex32(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}
