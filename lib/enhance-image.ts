/**
 * One encoded image through the network: decode (every frame), enhance each frame on its own (an
 * animation's frames each get their own global features), encode in the input's format unless
 * another is asked for, carrying the metadata over unless told to strip it.
 */
import { decodeImage, encodeImage, outputFormatFor, wantsHighDepth, type MetadataMode, type RawImage } from './image-io';
import type { OutputFormat } from './options';
import type { OutputKind } from './scheduler';

export interface ImageSettings {
  format?: OutputFormat;
  quality?: number;
  metadata: MetadataMode;
  background?: readonly [number, number, number];
}

/** Runs the network on one frame; 'float32' asks for the unrounded output (16-bit outputs). */
export type InferFrame = (frame: RawImage, output: OutputKind) => Promise<Uint8Array | Float32Array>;

export interface EncodedResult {
  data: Buffer;
  width: number;
  /** Height of one frame. */
  height: number;
  format: OutputFormat;
  frames: number;
}

export async function enhanceEncoded(
  input: Uint8Array,
  maxPixels: number,
  settings: ImageSettings,
  infer: InferFrame,
): Promise<EncodedResult> {
  const decoded = await decodeImage(input, maxPixels, { metadata: settings.metadata });
  const format = outputFormatFor(decoded.format, settings.format);
  const kind: OutputKind = wantsHighDepth(decoded, format, settings.quality) ? 'float32' : 'uint8';
  const { width, height, channels } = decoded;
  const frames = await Promise.all(decoded.frames.map((data) => infer({ data, width, height, channels }, kind)));
  const data = await encodeImage({ ...decoded, frames }, format, settings);
  return { data, width, height, format, frames: frames.length };
}
