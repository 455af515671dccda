/**
 * Decoding and encoding. sharp reads and writes most formats; BMP goes through lib/bmp.ts. Decoded
 * images are upright (EXIF orientation applied), 8 bits, with 4 channels when the input has alpha
 * and 3 otherwise; every frame of an animation or multi-page file is kept.
 */
import sharp from 'sharp';
import { bmpDimensions, decodeBmp, encodeBmp, isBmp, MAX_SIDE } from './bmp';
import { InvalidInputError, InvalidOptionError } from './errors';
import { checkQualityApplies, ENCODER_DEFAULTS } from './formats';
import type { OutputFormat } from './options';

export type MetadataMode = 'keep' | 'strip';

export interface RawImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 3 | 4;
}

export interface DecodedImage extends RawImage {
  /** The input's format: jpeg, png, webp, avif, heif, tiff, gif, bmp, ... (`data` is its first frame). */
  format: string;
  /** Every frame, top to bottom, each width x height x channels bytes; one for a still image. */
  frames: Uint8Array[];
  /** The input has one colour channel (plus alpha): the output is written as greyscale too. */
  grayscale: boolean;
  /** The input stores 16 bits per sample. */
  highDepth: boolean;
  /** Frame durations in milliseconds and the loop count (0: forever), for animations. */
  delay?: number[];
  loop?: number;
  /**
   * The encoded input, kept when its metadata is to be carried over. When `inOwnProfile`, the
   * pixels are in the input's own colour profile (not converted to sRGB) and that profile is
   * attached to the output unchanged.
   */
  source?: Uint8Array;
  inOwnProfile: boolean;
}

export interface DecodeOptions {
  /** Keep the input's EXIF, ICC profile and XMP for the output (default 'strip': pixels converted to sRGB). */
  metadata?: MetadataMode;
}

/** An enhanced image ready to encode: its frames as 8-bit pixels, or floats in [0, 1] for 16-bit output. */
export interface EnhancedImage {
  frames: (Uint8Array | Float32Array)[];
  width: number;
  height: number;
  channels: 3 | 4;
  grayscale: boolean;
  delay?: number[];
  loop?: number;
  source?: Uint8Array;
  inOwnProfile: boolean;
}

export interface EncodeOptions {
  quality?: number;
  metadata: MetadataMode;
  /** What alpha is flattened onto for formats without alpha (JPEG), as [r, g, b]. Default white. */
  background?: readonly [number, number, number];
}

const SHARP_WRITES: ReadonlySet<string> = new Set(['jpeg', 'png', 'webp', 'avif', 'tiff', 'gif']);
const MULTI_FRAME_FORMATS: ReadonlySet<OutputFormat> = new Set<OutputFormat>(['gif', 'webp', 'tiff']);
const HEVC_BRANDS: ReadonlySet<string> = new Set(['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'hevm', 'hevs']);
const HEIC_ADVICE =
  "HEIC/HEIF (HEVC) images cannot be decoded: sharp's prebuilt libvips has no HEVC decoder. Convert the file to " +
  'JPEG or PNG first (macOS: sips -s format jpeg in.heic --out in.jpg; Linux: heif-convert in.heic in.jpg)';

/** The ISO-BMFF major brand of a HEIF-family file (heic, avif, mif1, ...), if it is one. */
function heifBrand(input: Uint8Array): string | undefined {
  if (input.length < 12) return undefined;
  const box = String.fromCharCode(...input.subarray(4, 8));
  return box === 'ftyp' ? String.fromCharCode(...input.subarray(8, 12)) : undefined;
}

/** What an encoded image's header says, read without decoding pixels. */
export interface ImageHeader {
  width: number;
  /** Height of one frame or page. */
  height: number;
  pages: number;
  /** jpeg, png, webp, avif, tiff, gif, bmp, ... (AVIF is named avif, not sharp's heif). */
  format: string;
}

/** Reads the header of an encoded image: InvalidInputError when it is not an image flwnet can read. */
export async function probeImage(input: Uint8Array): Promise<ImageHeader & { sharpMetadata?: sharp.Metadata }> {
  if (!(input instanceof Uint8Array)) throw new InvalidInputError('input must be a Buffer or Uint8Array holding an encoded image');
  if (input.length === 0) throw new InvalidInputError('input is empty');
  if (isBmp(input)) return { ...bmpDimensions(input), pages: 1, format: 'bmp' };
  if (HEVC_BRANDS.has(heifBrand(input) ?? '')) throw new InvalidInputError(HEIC_ADVICE);
  let metadata: sharp.Metadata;
  try {
    metadata = await sharp(input, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw new InvalidInputError(`input is not a readable image: ${(err as Error).message}`, { cause: err });
  }
  if (metadata.format === 'heif' && metadata.compression !== 'av1') throw new InvalidInputError(HEIC_ADVICE);
  return {
    width: metadata.width ?? 0,
    height: metadata.pageHeight ?? metadata.height ?? 0,
    pages: Math.max(1, metadata.pages ?? 1),
    format: metadata.format === 'heif' ? 'avif' : (metadata.format ?? 'png'),
    sharpMetadata: metadata,
  };
}

/** Checks an encoded image's header against the size limits (before any pixel is decoded). */
export async function checkImageHeader(input: Uint8Array, maxPixels: number): Promise<ImageHeader> {
  const header = await probeImage(input);
  checkDimensions(header.width, header.height, header.pages, maxPixels);
  return header;
}

export async function decodeImage(input: Uint8Array, maxPixels: number, options: DecodeOptions = {}): Promise<DecodedImage> {
  const { sharpMetadata, width, height, pages } = await probeImage(input);
  if (!sharpMetadata) return decodeBmpImage(input, maxPixels);
  checkDimensions(width, height, pages, maxPixels);
  return decodeWithSharp(input, sharpMetadata, { width, height, pages, keep: options.metadata === 'keep' });
}

/**
 * One still image, for uses that take a single picture (inspect, losses, eval): an animation or a
 * multi-page file is refused rather than silently reduced to its first frame.
 */
export async function decodeStillImage(input: Uint8Array, maxPixels: number, purpose: string): Promise<DecodedImage> {
  const decoded = await decodeImage(input, maxPixels);
  if (decoded.frames.length > 1) {
    throw new InvalidInputError(`${purpose} takes one image, and this input has ${decoded.frames.length} frames or pages`);
  }
  return decoded;
}

/** Refuses images over the size limits from their header alone, before any pixel is decoded. */
function checkDimensions(width: number, height: number, frames: number, maxPixels: number): void {
  if (width < 1 || height < 1) throw new InvalidInputError('input image has no pixels');
  if (width > MAX_SIDE || height > MAX_SIDE) {
    throw new InvalidInputError(`input image is ${width} x ${height}, over the limit of ${MAX_SIDE} pixels per side`);
  }
  const total = width * height * frames;
  if (total > maxPixels) {
    const what = frames > 1 ? `${frames} frames of ${width} x ${height}` : `${width} x ${height}`;
    throw new InvalidInputError(`input image is ${what} = ${total} pixels, over the limit of ${maxPixels} (raise it with the maxPixels option)`);
  }
}

function decodeBmpImage(input: Uint8Array, maxPixels: number): DecodedImage {
  const { width, height } = bmpDimensions(input);
  checkDimensions(width, height, 1, maxPixels);
  const bmp = decodeBmp(input, maxPixels);
  const frame = { data: bmp.data, width: bmp.width, height: bmp.height, channels: bmp.channels };
  return { ...frame, format: 'bmp', frames: [bmp.data], grayscale: bmp.grayscale, highDepth: false, inOwnProfile: false };
}

interface Geometry {
  width: number;
  height: number;
  pages: number;
  keep: boolean;
}

async function decodeWithSharp(input: Uint8Array, metadata: sharp.Metadata, geometry: Geometry): Promise<DecodedImage> {
  const { width, height, pages, keep } = geometry;
  const channels: 3 | 4 = metadata.hasAlpha ? 4 : 3;
  const space = metadata.space ?? 'srgb';
  // Pixels stay in the input's own RGB or grey profile when its metadata is kept (the profile
  // goes with them); other spaces (CMYK, Lab) and stripped outputs are converted to sRGB.
  const inOwnProfile = keep && ['srgb', 'rgb', 'rgb16', 'b-w', 'grey16'].includes(space);
  try {
    let pipeline = sharp(input, {
      limitInputPixels: width * height * pages,
      failOn: 'error',
      ignoreIcc: inOwnProfile,
      ...(pages > 1 ? { pages: -1 } : {}),
    });
    pipeline = (pages > 1 ? pipeline : pipeline.rotate()).toColourspace('srgb');
    pipeline = channels === 4 ? pipeline.ensureAlpha() : pipeline.removeAlpha();
    const { data, info } = await pipeline.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (info.channels !== channels) throw new Error(`decoded ${info.channels} channels, expected ${channels}`);
    const frameHeight = pages > 1 ? height : info.height;
    const frameBytes = info.width * frameHeight * channels;
    if (data.length !== frameBytes * pages) throw new Error(`decoded ${data.length} bytes, expected ${frameBytes * pages}`);
    const frames = Array.from({ length: pages }, (_, i) => data.subarray(i * frameBytes, (i + 1) * frameBytes));
    const format = metadata.format === 'heif' ? 'avif' : (metadata.format ?? 'png');
    return {
      data: frames[0], width: info.width, height: frameHeight, channels, format, frames,
      grayscale: space === 'b-w' || space === 'grey16' || metadata.channels === 1 || (metadata.channels === 2 && !!metadata.hasAlpha),
      highDepth: metadata.depth === 'ushort',
      ...(pages > 1 ? { delay: metadata.delay, loop: metadata.loop } : {}),
      // The input is kept for its metadata only when it has some: a second decode is not free.
      ...(keep && hasMetadata(metadata) ? { source: input } : {}),
      inOwnProfile,
    };
  } catch (err) {
    const hint = pages > 1 ? ` (${pages} frames; every frame must have the same size)` : '';
    throw new InvalidInputError(`input image could not be decoded${hint}: ${(err as Error).message}`, { cause: err });
  }
}

function hasMetadata(metadata: sharp.Metadata): boolean {
  return Boolean(metadata.exif || metadata.icc || metadata.xmp || metadata.iptc);
}

/** The format to write: the caller's choice, else the input's when flwnet can write it, else PNG. */
export function outputFormatFor(inputFormat: string, requested?: OutputFormat): OutputFormat {
  if (requested) return requested;
  if (inputFormat === 'jpg') return 'jpeg';
  if (inputFormat === 'bmp') return 'bmp';
  return (SHARP_WRITES.has(inputFormat) ? inputFormat : 'png') as OutputFormat;
}

/**
 * True when the output should carry 16 bits per sample (network output taken unrounded). Not when
 * the input's metadata is carried over (`source`): that goes through the 8-bit overlay of
 * carryMetadata, and a 16-bit output would lose the EXIF, XMP and the colour profile its pixels are in.
 */
export function wantsHighDepth(decoded: DecodedImage, format: OutputFormat, quality?: number): boolean {
  return decoded.highDepth && decoded.source === undefined && (format === 'png' || (format === 'tiff' && quality === undefined));
}

export async function encodeImage(image: EnhancedImage, format: OutputFormat, options: EncodeOptions): Promise<Buffer> {
  checkQualityApplies(format, options.quality);
  const frames = image.frames.length;
  if (frames > 1 && !MULTI_FRAME_FORMATS.has(format)) {
    throw new InvalidOptionError(
      `the input has ${frames} frames and ${format} holds one: write gif, webp or tiff to keep every frame`,
    );
  }
  const flattened = format === 'jpeg' && image.channels === 4 ? flattenAlpha(image, options.background) : image;
  const pixels = stackFrames(flattened.frames);
  const { width, height, channels, grayscale } = flattened;
  if (format === 'bmp') {
    const bytes = pixels instanceof Uint8Array ? pixels : toEightBit(pixels);
    return grayscale && channels === 3 ? encodeBmp(toGrey(bytes), width, height, 1) : encodeBmp(bytes, width, height, channels);
  }
  const raw = { width, height: height * frames, channels, ...(frames > 1 ? { pageHeight: height } : {}) };
  const carry = options.metadata === 'keep' && image.source !== undefined && pixels instanceof Uint8Array;
  let pipeline = carry
    ? carryMetadata(image.source as Uint8Array, image.inOwnProfile, frames, pixels, { width, height: height * frames, channels })
    : sharp(pixels, { raw });
  if (channels === 3) pipeline = pipeline.removeAlpha();
  const sixteen = pixels instanceof Uint16Array;
  if (grayscale) pipeline = pipeline.toColourspace(sixteen ? 'grey16' : 'b-w');
  else if (sixteen) pipeline = pipeline.toColourspace('rgb16');
  try {
    return await applyEncoder(pipeline, format, options.quality, flattened).toBuffer();
  } catch (err) {
    throw new InvalidInputError(`the output could not be encoded as ${format}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * The enhanced pixels laid over the decoded input (blend 'source' replaces every pixel), so that
 * sharp carries the input's EXIF, ICC profile and XMP over to the output; rotating clears the
 * orientation tag as the pixels are already upright.
 */
function carryMetadata(source: Uint8Array, inOwnProfile: boolean, frames: number, pixels: Uint8Array, raw: sharp.Raw): sharp.Sharp {
  const base = sharp(source, { ignoreIcc: inOwnProfile, limitInputPixels: false, ...(frames > 1 ? { pages: -1 } : {}) });
  const overlay = Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength);
  return (frames > 1 ? base : base.rotate()).composite([{ input: overlay, raw, blend: 'source' }]).keepMetadata();
}

function applyEncoder(pipeline: sharp.Sharp, format: OutputFormat, quality: number | undefined, image: EnhancedImage): sharp.Sharp {
  const animation = image.frames.length > 1 ? { ...(image.delay ? { delay: image.delay } : {}), loop: image.loop ?? 0 } : {};
  switch (format) {
    case 'jpeg':
      return pipeline.jpeg({ ...ENCODER_DEFAULTS.jpeg, ...(quality === undefined ? {} : { quality }), mozjpeg: false });
    case 'png':
      return pipeline.png({ compressionLevel: 6 });
    case 'webp':
      return pipeline.webp({ quality: quality ?? ENCODER_DEFAULTS.webp.quality, ...animation });
    case 'avif':
      return pipeline.avif({ quality: quality ?? ENCODER_DEFAULTS.avif.quality });
    case 'tiff':
      // Lossless (deflate) by default; a quality asks for JPEG-compressed TIFF.
      return pipeline.tiff(quality === undefined ? { compression: 'deflate' } : { compression: 'jpeg', quality });
    case 'gif':
      return pipeline.gif(animation);
    case 'bmp':
      throw new Error('BMP is written by lib/bmp.ts');
  }
}

/** One buffer holding every frame, top to bottom; floats become 16-bit samples. */
function stackFrames(frames: (Uint8Array | Float32Array)[]): Uint8Array | Uint16Array {
  if (frames[0] instanceof Float32Array) {
    const length = frames.reduce((n, f) => n + f.length, 0);
    const out = new Uint16Array(length);
    let offset = 0;
    for (const frame of frames) {
      for (let i = 0; i < frame.length; i++) out[offset + i] = Math.round(Math.min(1, Math.max(0, frame[i])) * 65535);
      offset += frame.length;
    }
    return out;
  }
  if (frames.length === 1) return frames[0] as Uint8Array;
  return Buffer.concat(frames as Uint8Array[]);
}

function toEightBit(samples: Uint16Array): Uint8Array {
  const out = new Uint8Array(samples.length);
  for (let i = 0; i < samples.length; i++) out[i] = Math.round(samples[i] / 257);
  return out;
}

/** Rec. 709 luma of interleaved RGB, for greyscale outputs written without sharp. */
function toGrey(rgb: Uint8Array): Uint8Array {
  const out = new Uint8Array(rgb.length / 3);
  for (let i = 0; i < out.length; i++) {
    out[i] = Math.round(0.2126 * rgb[i * 3] + 0.7152 * rgb[i * 3 + 1] + 0.0722 * rgb[i * 3 + 2]);
  }
  return out;
}

/** Alpha composited onto `background` (default white), for outputs that cannot store alpha. */
function flattenAlpha(image: EnhancedImage, background: readonly [number, number, number] = [255, 255, 255]): EnhancedImage {
  const frames = image.frames.map((frame) => {
    const float = frame instanceof Float32Array;
    const scale = float ? 1 : 255;
    const out = float ? new Float32Array((frame.length / 4) * 3) : new Uint8Array((frame.length / 4) * 3);
    for (let i = 0, j = 0; i < frame.length; i += 4, j += 3) {
      const a = frame[i + 3] / scale;
      for (let c = 0; c < 3; c++) {
        const value = frame[i + c] * a + (background[c] / 255) * scale * (1 - a);
        out[j + c] = float ? value : Math.round(value);
      }
    }
    return out;
  });
  return { ...image, frames, channels: 3 };
}
