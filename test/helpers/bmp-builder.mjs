// Builds BMP files of every kind the reader supports, from a small RGBA picture, so tests can check
// decoding against known pixels. Written independently of lib/bmp.ts (its encoder is not used).

/** A 5 x 3 test picture: [r, g, b, a] per pixel, top row first. */
export const PICTURE = [
  [[255, 0, 0, 255], [0, 255, 0, 255], [0, 0, 255, 255], [255, 255, 255, 255], [0, 0, 0, 255]],
  [[16, 32, 48, 255], [200, 100, 50, 128], [8, 8, 8, 255], [255, 255, 0, 0], [0, 255, 255, 255]],
  [[0, 0, 0, 255], [255, 255, 255, 255], [255, 0, 0, 255], [0, 255, 0, 255], [0, 0, 255, 255]],
];
export const WIDTH = 5;
export const HEIGHT = 3;

/** The distinct colours of PICTURE (ignoring alpha): the palette for paletted variants. */
export function paletteOf(picture = PICTURE) {
  const colours = [];
  for (const row of picture) for (const [r, g, b] of row) if (!colours.some((c) => c[0] === r && c[1] === g && c[2] === b)) colours.push([r, g, b]);
  return colours;
}

function indexOf(palette, [r, g, b]) {
  return palette.findIndex((c) => c[0] === r && c[1] === g && c[2] === b);
}

/**
 * options: bits (1, 4, 8, 16, 24, 32), compression ('rgb', 'rle8', 'rle4', 'bitfields'), header
 * ('core', 'info', 'v4', 'v5'), topDown, masks [r, g, b, a] for 16/32-bit, picture.
 */
export function buildBmp({ bits, compression = 'rgb', header = 'info', topDown = false, masks, picture = PICTURE }) {
  const width = picture[0].length;
  const height = picture.length;
  const dibSize = { core: 12, info: 40, v4: 108, v5: 124 }[header];
  const palette = bits <= 8 ? paletteOf(picture) : [];
  if (bits === 1 && palette.length > 2) throw new Error('1-bit needs a 2-colour picture');
  const entry = header === 'core' ? 3 : 4;
  const compressionCode = { rgb: 0, rle8: 1, rle4: 2, bitfields: 3 }[compression];
  const maskBytes = header === 'info' && compression === 'bitfields' ? 12 : 0;
  const pixelBytes = pixelData({ bits, compression, topDown, masks, picture, palette });
  const offset = 14 + dibSize + maskBytes + palette.length * entry;
  const out = Buffer.alloc(offset + pixelBytes.length);
  out.write('BM', 0, 'latin1');
  out.writeUInt32LE(out.length, 2);
  out.writeUInt32LE(offset, 10);
  out.writeUInt32LE(dibSize, 14);
  if (header === 'core') {
    out.writeUInt16LE(width, 18);
    out.writeUInt16LE(height, 20);
    out.writeUInt16LE(1, 22);
    out.writeUInt16LE(bits, 24);
  } else {
    out.writeInt32LE(width, 18);
    out.writeInt32LE(topDown ? -height : height, 22);
    out.writeUInt16LE(1, 26);
    out.writeUInt16LE(bits, 28);
    out.writeUInt32LE(compressionCode, 30);
    out.writeUInt32LE(pixelBytes.length, 34);
    out.writeUInt32LE(palette.length, 46);
    if (masks && (compression === 'bitfields' || header !== 'info')) {
      // In V4/V5 headers the masks live in the header; with an info header they follow it.
      masks.forEach((m, i) => {
        if (i < 3 || header !== 'info') out.writeUInt32LE(m >>> 0, 54 + i * 4);
      });
    }
  }
  const paletteAt = 14 + dibSize + maskBytes;
  palette.forEach(([r, g, b], i) => {
    out[paletteAt + i * entry] = b;
    out[paletteAt + i * entry + 1] = g;
    out[paletteAt + i * entry + 2] = r;
  });
  pixelBytes.copy(out, offset);
  return out;
}

function pixelData({ bits, compression, topDown, masks, picture, palette }) {
  const width = picture[0].length;
  const height = picture.length;
  const rows = topDown ? picture : [...picture].reverse();
  if (compression === 'rle8' || compression === 'rle4') return rle(rows, palette, compression === 'rle4');
  const stride = Math.floor((bits * width + 31) / 32) * 4;
  const out = Buffer.alloc(stride * height);
  rows.forEach((row, y) => {
    row.forEach((pixel, x) => {
      const at = y * stride;
      if (bits <= 8) {
        const index = indexOf(palette, pixel);
        const perByte = 8 / bits;
        out[at + Math.floor(x / perByte)] |= index << (8 - bits * ((x % perByte) + 1));
      } else if (bits === 24) {
        out[at + x * 3] = pixel[2];
        out[at + x * 3 + 1] = pixel[1];
        out[at + x * 3 + 2] = pixel[0];
      } else {
        const value = packMasked(pixel, masks ?? (bits === 16 ? [0x7c00, 0x3e0, 0x1f, 0] : [0xff0000, 0xff00, 0xff, 0]));
        if (bits === 16) out.writeUInt16LE(value, at + x * 2);
        else out.writeUInt32LE(value >>> 0, at + x * 4);
      }
    });
  });
  return out;
}

function packMasked(pixel, masks) {
  let value = 0;
  masks.forEach((mask, c) => {
    if (!mask) return;
    let shift = 0;
    while (((mask >>> shift) & 1) === 0) shift++;
    const max = mask >>> shift;
    value |= Math.round((pixel[c] * max) / 255) << shift;
  });
  return value >>> 0;
}

/** Encoded runs: each row as runs of equal indices, then end-of-line; end-of-bitmap at the end. */
function rle(rows, palette, four) {
  const bytes = [];
  for (const row of rows) {
    const indices = row.map((p) => indexOf(palette, p));
    for (let x = 0; x < indices.length; ) {
      let n = 1;
      while (x + n < indices.length && indices[x + n] === indices[x] && n < 255) n++;
      bytes.push(n, four ? (indices[x] << 4) | indices[x] : indices[x]);
      x += n;
    }
    bytes.push(0, 0);
  }
  bytes.push(0, 1);
  return Buffer.from(bytes);
}

/** What a decoder must give for a variant: RGB (or RGBA) with each channel reduced to the variant's precision. */
export function expectedPixels({ bits, masks, alpha = false, picture = PICTURE }) {
  const out = [];
  for (const row of picture) {
    for (const pixel of row) {
      for (let c = 0; c < (alpha ? 4 : 3); c++) {
        let v = pixel[c];
        const m = bits === 16 ? (masks ?? [0x7c00, 0x3e0, 0x1f, 0])[c] : bits === 32 && masks ? masks[c] : 0;
        if (m) {
          let shift = 0;
          while (((m >>> shift) & 1) === 0) shift++;
          const max = m >>> shift;
          v = Math.round((Math.round((v * max) / 255) * 255) / max);
        }
        out.push(v);
      }
    }
  }
  return out;
}
