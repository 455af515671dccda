/**
 * Decoding and encoding through sharp. Decoded images are upright (EXIF orientation applied),
 * sRGB, 8 bits, with 4 channels when the input has alpha and 3 otherwise.
 */
import sharp from 'sharp';
import { InvalidInputError, InvalidOptionError } from './errors';
import type { OutputFormat } from './options';

export interface RawImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 3 | 4;
}

export interface DecodedImage extends RawImage {
  /** The input's container format as sharp names it (jpeg, png, webp, ...). */
  format: string;
}

const WRITABLE: ReadonlySet<string> = new Set(['jpeg', 'png', 'webp', 'avif', 'tiff', 'gif']);

export async function decodeImage(input: Uint8Array, maxPixels: number): Promise<DecodedImage> {
  if (!(input instanceof Uint8Array)) throw new InvalidInputError('input must be a Buffer or Uint8Array holding an encoded image');
  if (input.length === 0) throw new InvalidInputError('input is empty');
  let metadata: sharp.Metadata;
  try {
    metadata = await sharp(input, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw new InvalidInputError(`input is not a readable image: ${(err as Error).message}`, { cause: err });
  }
  const width = metadata.width ?? 0;
  const height = metadata.height ?? 0;
  if (width < 1 || height < 1) throw new InvalidInputError('input image has no pixels');
  if (width * height > maxPixels) {
    throw new InvalidInputError(
      `input image is ${width} x ${height} = ${width * height} pixels, over the limit of ${maxPixels} (raise it with the maxPixels option)`,
    );
  }
  const channels: 3 | 4 = metadata.hasAlpha ? 4 : 3;
  try {
    let pipeline = sharp(input, { limitInputPixels: maxPixels, failOn: 'error' }).rotate().toColourspace('srgb');
    pipeline = channels === 4 ? pipeline.ensureAlpha() : pipeline.removeAlpha();
    const { data, info } = await pipeline.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (info.channels !== channels) throw new Error(`decoded ${info.channels} channels, expected ${channels}`);
    return { data, width: info.width, height: info.height, channels, format: metadata.format ?? 'png' };
  } catch (err) {
    throw new InvalidInputError(`input image could not be decoded: ${(err as Error).message}`, { cause: err });
  }
}

/** The format to write: the caller's choice, else the input's when sharp can write it, else PNG. */
export function outputFormatFor(inputFormat: string, requested?: OutputFormat): OutputFormat {
  if (requested) return requested;
  if (inputFormat === 'jpg') return 'jpeg';
  return (WRITABLE.has(inputFormat) ? inputFormat : 'png') as OutputFormat;
}

export async function encodeImage(image: RawImage, format: OutputFormat, quality?: number): Promise<Buffer> {
  const pipeline = sharp(image.data, { raw: { width: image.width, height: image.height, channels: image.channels } });
  const qualityOption = quality === undefined ? {} : { quality };
  if (quality !== undefined && (format === 'png' || format === 'gif')) {
    // PNG and GIF are lossless here: quality has no meaning and is refused rather than ignored.
    throw new InvalidOptionError(`quality does not apply to ${format} output`);
  }
  switch (format) {
    case 'jpeg':
      return pipeline.jpeg({ ...qualityOption, mozjpeg: false }).toBuffer();
    case 'png':
      return pipeline.png().toBuffer();
    case 'webp':
      return pipeline.webp(qualityOption).toBuffer();
    case 'avif':
      return pipeline.avif(qualityOption).toBuffer();
    case 'tiff':
      return pipeline.tiff(qualityOption).toBuffer();
    case 'gif':
      return pipeline.gif().toBuffer();
  }
}
