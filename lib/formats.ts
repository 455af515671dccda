/**
 * The image formats flwnet reads and writes, stated once: file extensions (for directory scans,
 * patterns and output names), encoder defaults, and which formats take a quality setting.
 */
import path from 'node:path';
import { InvalidOptionError } from './errors';
import { checkBackground, checkExposure, checkFormat, checkInteger, checkMetadata, type OutputFormat } from './options';

/** Extensions of the files flwnet reads, lower case, without the dot. */
export const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set([
  'jpg', 'jpeg', 'jpe', 'jfif', 'png', 'webp', 'avif', 'tif', 'tiff', 'gif', 'bmp', 'dib', 'heic', 'heif', 'jxl', 'jp2',
]);

/** Extensions that name a format flwnet writes. */
const EXTENSION_FORMATS: Readonly<Record<string, OutputFormat>> = {
  jpg: 'jpeg', jpeg: 'jpeg', jpe: 'jpeg', jfif: 'jpeg', png: 'png', webp: 'webp', avif: 'avif', tif: 'tiff', tiff: 'tiff',
  gif: 'gif', bmp: 'bmp', dib: 'bmp',
};

/** Formats written without loss, where a quality setting means nothing and is refused. */
const LOSSLESS: ReadonlySet<OutputFormat> = new Set<OutputFormat>(['png', 'gif', 'bmp']);

/**
 * Encoder settings used when the caller gives no quality: high enough that an enhanced photo keeps
 * its detail (JPEG at 92 with full-resolution chroma; 4:2:0 at 80 visibly smears fine colour).
 */
export const ENCODER_DEFAULTS = {
  jpeg: { quality: 92, chromaSubsampling: '4:4:4' },
  webp: { quality: 90 },
  avif: { quality: 70 },
  tiff: { quality: 92 },
} as const;

/** The lower-case extension of `file`, without the dot. */
export function extensionOf(file: string): string {
  return path.extname(file).slice(1).toLowerCase();
}

/** True for files whose extension names an image format flwnet reads (case-insensitive). */
export function isImageFile(file: string): boolean {
  return IMAGE_EXTENSIONS.has(extensionOf(file));
}

/** The format named by a file's extension, when it is one flwnet writes. */
export function formatFromExtension(file: string): OutputFormat | undefined {
  return EXTENSION_FORMATS[extensionOf(file)];
}

/** The usual extension (with the dot) for files of `format`. */
export function extensionFor(format: OutputFormat): string {
  return `.${format === 'jpeg' ? 'jpg' : format}`;
}

/** Throws when a quality is given for a format that is written without loss. */
export function checkQualityApplies(format: OutputFormat | undefined, quality: number | undefined): void {
  if (quality !== undefined && format !== undefined && LOSSLESS.has(format)) {
    throw new InvalidOptionError(`quality does not apply to ${format} output (it is written without loss)`);
  }
}

/**
 * An output format and quality as every entry point takes them: a known format (or none: the
 * input's), a quality of 1..100 (or none: the encoder's default), and no quality for a lossless format.
 */
export function checkFormatAndQuality(format: unknown, quality: unknown): { format: OutputFormat | undefined; quality: number | undefined } {
  const checkedFormat = checkFormat(format);
  const value = checkInteger('quality', quality, 1, 100, -1);
  const checkedQuality = value < 0 ? undefined : value;
  checkQualityApplies(checkedFormat, checkedQuality);
  return { format: checkedFormat, quality: checkedQuality };
}

/** The per-image options of enhance() and enhanceMany(): exposure, format, quality, metadata, background. */
export function checkImageOptions(opts: { exposure?: unknown; format?: unknown; quality?: unknown; metadata?: unknown; background?: unknown }) {
  return {
    exposure: checkExposure(opts.exposure),
    ...checkFormatAndQuality(opts.format, opts.quality),
    metadata: checkMetadata(opts.metadata),
    background: checkBackground(opts.background),
  };
}

/** True when `format` takes a quality setting. */
export function takesQuality(format: OutputFormat): boolean {
  return !LOSSLESS.has(format);
}
