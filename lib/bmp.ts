/**
 * Windows BMP reading and writing. sharp's libvips has no BMP loader, so flwnet reads BMP itself:
 * 1/4/8-bit palettes, 16-bit (5-5-5 or bit fields such as 5-6-5), 24-bit, 32-bit with or without
 * alpha (bit fields), RLE4 and RLE8, top-down and bottom-up rows, and the core (OS/2 1.x), info,
 * V2/V3, V4 and V5 headers. Every offset is checked against the file before it is read, so a damaged
 * or hostile file gives an InvalidInputError, never an out-of-range read; RLE decoding consumes at
 * least two bytes per step, so it always ends.
 */
import { InvalidInputError } from './errors';

export interface BmpImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 3 | 4;
  /** Every palette entry is grey (r = g = b): the image is greyscale. */
  grayscale: boolean;
}

/** Largest width or height flwnet accepts for any image. */
export const MAX_SIDE = 1 << 20;

const BI_RGB = 0;
const BI_RLE8 = 1;
const BI_RLE4 = 2;
const BI_BITFIELDS = 3;
const BI_ALPHABITFIELDS = 6;

interface Header {
  width: number;
  height: number;
  topDown: boolean;
  bitsPerPixel: number;
  compression: number;
  /** Red, green, blue, alpha masks (alpha 0: none) for 16- and 32-bit pixels. */
  masks: [number, number, number, number];
  palette: Uint8Array; // r, g, b per entry
  paletteSize: number;
  pixelOffset: number;
}

function fail(message: string): never {
  throw new InvalidInputError(`BMP: ${message}`);
}

export function isBmp(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x42 && bytes[1] === 0x4d;
}

class Reader {
  readonly view: DataView;
  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  need(offset: number, length: number, what: string): void {
    if (offset < 0 || length < 0 || offset + length > this.bytes.length) fail(`the file ends inside the ${what}`);
  }
  u16(offset: number, what: string): number {
    this.need(offset, 2, what);
    return this.view.getUint16(offset, true);
  }
  u32(offset: number, what: string): number {
    this.need(offset, 4, what);
    return this.view.getUint32(offset, true);
  }
  i32(offset: number, what: string): number {
    this.need(offset, 4, what);
    return this.view.getInt32(offset, true);
  }
}

/** The header dimensions alone (for checking limits before decoding). */
export function bmpDimensions(bytes: Uint8Array): { width: number; height: number } {
  const header = readHeader(new Reader(bytes));
  return { width: header.width, height: header.height };
}

function readHeader(r: Reader): Header {
  if (!isBmp(r.bytes)) fail('not a BMP file (no "BM" signature)');
  const pixelOffset = r.u32(10, 'file header');
  const dibSize = r.u32(14, 'file header');
  const core = dibSize === 12;
  if (!core && ![40, 52, 56, 108, 124].includes(dibSize)) fail(`unsupported header size ${dibSize}`);
  r.need(14, dibSize, 'bitmap header');
  const width = core ? r.u16(18, 'header') : r.i32(18, 'header');
  const rawHeight = core ? r.u16(20, 'header') : r.i32(22, 'header');
  const planes = r.u16(core ? 22 : 26, 'header');
  const bitsPerPixel = r.u16(core ? 24 : 28, 'header');
  const compression = core ? BI_RGB : r.u32(30, 'header');
  if (planes !== 1) fail(`planes must be 1, got ${planes}`);
  const height = Math.abs(rawHeight);
  if (width < 1 || height < 1) fail(`the image has no pixels (${width} x ${rawHeight})`);
  if (width > MAX_SIDE || height > MAX_SIDE) fail(`${width} x ${height} is over the limit of ${MAX_SIDE} pixels per side`);
  const topDown = rawHeight < 0;
  checkDepth(bitsPerPixel, compression, topDown);
  const afterHeader = 14 + dibSize;
  const masks = readMasks(r, dibSize, bitsPerPixel, compression);
  const maskBytes = dibSize === 40 && compression === BI_BITFIELDS ? 12 : dibSize === 40 && compression === BI_ALPHABITFIELDS ? 16 : 0;
  const { palette, paletteSize } = readPalette(r, core, bitsPerPixel, afterHeader + maskBytes, pixelOffset);
  if (pixelOffset < afterHeader || pixelOffset >= r.bytes.length) fail(`pixel data offset ${pixelOffset} is outside the file`);
  return { width, height, topDown, bitsPerPixel, compression, masks, palette, paletteSize, pixelOffset };
}

function checkDepth(bits: number, compression: number, topDown: boolean): void {
  if (compression === 4 || compression === 5) fail('embedded JPEG or PNG data (BI_JPEG/BI_PNG) is not supported; save it as a plain BMP, JPEG or PNG');
  const allowed: Record<number, number[]> = {
    [BI_RGB]: [1, 4, 8, 16, 24, 32],
    [BI_RLE8]: [8],
    [BI_RLE4]: [4],
    [BI_BITFIELDS]: [16, 32],
    [BI_ALPHABITFIELDS]: [16, 32],
  };
  const depths = allowed[compression];
  if (!depths) fail(`unsupported compression ${compression}`);
  if (!depths.includes(bits)) fail(`${bits} bits per pixel is not valid with compression ${compression}`);
  if (topDown && (compression === BI_RLE8 || compression === BI_RLE4)) fail('RLE images cannot be stored top-down');
}

function readMasks(r: Reader, dibSize: number, bits: number, compression: number): Header['masks'] {
  if (compression === BI_BITFIELDS || compression === BI_ALPHABITFIELDS) {
    const at = 14 + 40;
    const alpha = dibSize >= 56 || compression === BI_ALPHABITFIELDS ? r.u32(at + 12, 'colour masks') : 0;
    const masks: Header['masks'] = [r.u32(at, 'colour masks'), r.u32(at + 4, 'colour masks'), r.u32(at + 8, 'colour masks'), alpha];
    for (const mask of masks) checkMask(mask, bits);
    if (masks[0] === 0 && masks[1] === 0 && masks[2] === 0) fail('the colour masks are all zero');
    return masks;
  }
  if (bits === 16) return [0x7c00, 0x03e0, 0x001f, 0];
  if (bits === 24) return [0xff0000, 0xff00, 0xff, 0];
  if (bits === 32) {
    // A V4/V5 header may name an alpha mask even for BI_RGB; older headers have none.
    const alpha = dibSize >= 56 ? r.u32(14 + 52, 'colour masks') : 0;
    checkMask(alpha, 32);
    return [0xff0000, 0xff00, 0xff, alpha];
  }
  return [0, 0, 0, 0];
}

/** A mask must be one run of set bits inside the pixel. */
function checkMask(mask: number, bits: number): void {
  if (mask === 0) return;
  if (bits < 32 && mask >>> bits !== 0) fail(`colour mask 0x${mask.toString(16)} is wider than ${bits} bits`);
  const shifted = mask >>> maskShift(mask);
  if ((shifted & (shifted + 1)) !== 0) fail(`colour mask 0x${mask.toString(16)} is not one run of bits`);
}

function maskShift(mask: number): number {
  let shift = 0;
  while (shift < 32 && ((mask >>> shift) & 1) === 0) shift += 1;
  return shift;
}

function readPalette(r: Reader, core: boolean, bits: number, at: number, pixelOffset: number) {
  if (bits > 8) return { palette: new Uint8Array(0), paletteSize: 0 };
  const entryBytes = core ? 3 : 4;
  const declared = core ? 0 : r.u32(46, 'header');
  if (declared > 1 << bits) fail(`the palette declares ${declared} colours, more than ${1 << bits} for ${bits}-bit pixels`);
  let count = declared || 1 << bits;
  // Some writers declare no count and store a short palette: take what fits before the pixels.
  if (declared === 0 && pixelOffset > at) count = Math.min(count, Math.floor((pixelOffset - at) / entryBytes));
  if (count < 1) fail('the palette is empty');
  r.need(at, count * entryBytes, 'palette');
  const palette = new Uint8Array(count * 3);
  for (let i = 0; i < count; i++) {
    const o = at + i * entryBytes;
    palette[i * 3] = r.bytes[o + 2];
    palette[i * 3 + 1] = r.bytes[o + 1];
    palette[i * 3 + 2] = r.bytes[o];
  }
  return { palette, paletteSize: count };
}

/** Decodes a BMP file to interleaved 8-bit RGB (or RGBA when it has a meaningful alpha mask). */
export function decodeBmp(bytes: Uint8Array, maxPixels: number): BmpImage {
  const r = new Reader(bytes);
  const h = readHeader(r);
  if (h.width * h.height > maxPixels) {
    fail(`${h.width} x ${h.height} = ${h.width * h.height} pixels is over the limit of ${maxPixels} (raise it with the maxPixels option)`);
  }
  if (h.bitsPerPixel <= 8) return decodePaletted(r, h);
  return decodeDirect(r, h);
}

/** The file row holding output row `y` (output rows run top to bottom). */
function fileRow(h: Header, y: number): number {
  return h.topDown ? y : h.height - 1 - y;
}

function decodePaletted(r: Reader, h: Header): BmpImage {
  const indices =
    h.compression === BI_RGB ? unpackIndices(r, h) : decodeRle(r, h, h.compression === BI_RLE4 ? 4 : 8);
  const { width, height, palette, paletteSize } = h;
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < indices.length; i++) {
    const index = indices[i];
    if (index >= paletteSize) fail(`palette index ${index} is outside the ${paletteSize}-colour palette`);
    data[i * 3] = palette[index * 3];
    data[i * 3 + 1] = palette[index * 3 + 1];
    data[i * 3 + 2] = palette[index * 3 + 2];
  }
  let grayscale = true;
  for (let i = 0; i < paletteSize && grayscale; i++) {
    grayscale = palette[i * 3] === palette[i * 3 + 1] && palette[i * 3] === palette[i * 3 + 2];
  }
  return { data, width, height, channels: 3, grayscale };
}

/** Palette indices of an uncompressed 1/4/8-bit image, top row first. */
function unpackIndices(r: Reader, h: Header): Uint8Array {
  const { width, height, bitsPerPixel: bits } = h;
  const stride = Math.floor((bits * width + 31) / 32) * 4;
  r.need(h.pixelOffset, stride * (height - 1) + Math.ceil((bits * width) / 8), 'pixel data');
  const out = new Uint8Array(width * height);
  const perByte = 8 / bits;
  const mask = (1 << bits) - 1;
  for (let y = 0; y < height; y++) {
    const row = h.pixelOffset + fileRow(h, y) * stride;
    for (let x = 0; x < width; x++) {
      const byte = r.bytes[row + Math.floor(x / perByte)];
      const shift = 8 - bits * ((x % perByte) + 1);
      out[y * width + x] = (byte >> shift) & mask;
    }
  }
  return out;
}

/** RLE4/RLE8 to palette indices, top row first. Pixels the stream skips keep index 0. */
function decodeRle(r: Reader, h: Header, bits: 4 | 8): Uint8Array {
  const { width, height } = h;
  const out = new Uint8Array(width * height);
  const bytes = r.bytes;
  let x = 0;
  let row = 0; // counted from the bottom
  let p = h.pixelOffset;
  const put = (index: number) => {
    if (x >= width || row >= height) fail('an RLE run writes outside the image');
    out[(height - 1 - row) * width + x] = index;
    x += 1;
  };
  while (row < height) {
    if (p + 2 > bytes.length) fail('the RLE data ends without an end-of-bitmap marker');
    const count = bytes[p];
    const value = bytes[p + 1];
    p += 2;
    if (count > 0) {
      for (let i = 0; i < count; i++) put(bits === 8 ? value : i % 2 === 0 ? value >> 4 : value & 15);
    } else if (value === 0) {
      x = 0;
      row += 1;
    } else if (value === 1) {
      break;
    } else if (value === 2) {
      r.need(p, 2, 'RLE delta');
      x += bytes[p];
      row += bytes[p + 1];
      p += 2;
      if (x > width || row > height) fail('an RLE delta moves outside the image');
    } else {
      const stored = bits === 8 ? value : Math.ceil(value / 2);
      r.need(p, stored, 'RLE run');
      for (let i = 0; i < value; i++) put(bits === 8 ? bytes[p + i] : i % 2 === 0 ? bytes[p + (i >> 1)] >> 4 : bytes[p + (i >> 1)] & 15);
      p += stored + (stored % 2); // absolute runs are padded to 16 bits
    }
  }
  return out;
}

function decodeDirect(r: Reader, h: Header): BmpImage {
  const { width, height, bitsPerPixel: bits } = h;
  const bytesPerPixel = bits / 8;
  const stride = Math.floor((bits * width + 31) / 32) * 4;
  r.need(h.pixelOffset, stride * (height - 1) + width * bytesPerPixel, 'pixel data');
  const [rMask, gMask, bMask, aMask] = h.masks;
  const channels: 3 | 4 = aMask !== 0 ? 4 : 3;
  const data = new Uint8Array(width * height * channels);
  const fields = [rMask, gMask, bMask, aMask].map((mask) => ({ mask, shift: maskShift(mask), max: mask === 0 ? 0 : mask >>> maskShift(mask) }));
  let anyAlpha = false;
  for (let y = 0; y < height; y++) {
    const rowStart = h.pixelOffset + fileRow(h, y) * stride;
    for (let x = 0; x < width; x++) {
      const o = rowStart + x * bytesPerPixel;
      const pixel = bits === 16 ? r.view.getUint16(o, true) : bits === 24 ? r.bytes[o] | (r.bytes[o + 1] << 8) | (r.bytes[o + 2] << 16) : r.view.getUint32(o, true);
      const d = (y * width + x) * channels;
      for (let c = 0; c < channels; c++) {
        const f = fields[c];
        data[d + c] = f.max === 0 ? 0 : Math.round((((pixel & f.mask) >>> f.shift) * 255) / f.max);
      }
      if (channels === 4 && data[d + 3] !== 0) anyAlpha = true;
    }
  }
  // Many writers name an alpha mask and leave every alpha at zero: such an image is opaque.
  if (channels === 4 && !anyAlpha) return { data: dropAlpha(data), width, height, channels: 3, grayscale: false };
  return { data, width, height, channels, grayscale: false };
}

function dropAlpha(rgba: Uint8Array): Uint8Array {
  const rgb = new Uint8Array((rgba.length / 4) * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    rgb[j] = rgba[i];
    rgb[j + 1] = rgba[i + 1];
    rgb[j + 2] = rgba[i + 2];
  }
  return rgb;
}

/**
 * Encodes 8-bit pixels as BMP: 1 channel as an 8-bit grey palette, 3 as 24-bit, 4 as 32-bit with
 * an alpha mask in a V4 header. Rows are stored bottom-up, the form every reader accepts.
 */
export function encodeBmp(data: Uint8Array, width: number, height: number, channels: 1 | 3 | 4): Buffer {
  const bits = channels === 1 ? 8 : channels === 3 ? 24 : 32;
  const dibSize = channels === 4 ? 108 : 40;
  const paletteBytes = channels === 1 ? 256 * 4 : 0;
  const stride = Math.floor((bits * width + 31) / 32) * 4;
  const pixelOffset = 14 + dibSize + paletteBytes;
  const out = Buffer.alloc(pixelOffset + stride * height);
  out.write('BM', 0, 'latin1');
  out.writeUInt32LE(out.length, 2);
  out.writeUInt32LE(pixelOffset, 10);
  out.writeUInt32LE(dibSize, 14);
  out.writeInt32LE(width, 18);
  out.writeInt32LE(height, 22);
  out.writeUInt16LE(1, 26);
  out.writeUInt16LE(bits, 28);
  out.writeUInt32LE(channels === 4 ? BI_BITFIELDS : BI_RGB, 30);
  out.writeUInt32LE(stride * height, 34);
  out.writeInt32LE(2835, 38); // 72 dpi
  out.writeInt32LE(2835, 42);
  if (channels === 1) {
    out.writeUInt32LE(256, 46);
    for (let i = 0; i < 256; i++) out.fill(i, 54 + i * 4, 54 + i * 4 + 3);
  }
  if (channels === 4) {
    out.writeUInt32LE(0x00ff0000, 54);
    out.writeUInt32LE(0x0000ff00, 58);
    out.writeUInt32LE(0x000000ff, 62);
    out.writeUInt32LE(0xff000000, 66);
    out.write('BGRs', 70, 'latin1'); // LCS_sRGB, stored as the bytes of 'sRGB' little-endian
  }
  for (let y = 0; y < height; y++) {
    const row = pixelOffset + (height - 1 - y) * stride;
    for (let x = 0; x < width; x++) {
      const s = (y * width + x) * channels;
      const d = row + x * (bits / 8);
      if (channels === 1) out[d] = data[s];
      else {
        out[d] = data[s + 2];
        out[d + 1] = data[s + 1];
        out[d + 2] = data[s];
        if (channels === 4) out[d + 3] = data[s + 3];
      }
    }
  }
  return out;
}
