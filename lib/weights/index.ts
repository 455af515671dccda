/**
 * FLW-Net weights: loading a PyTorch checkpoint or a safetensors file, checking it against the
 * architecture (docs/numerics.md §3, §6 and §7), and packing the 17,373 parameters in the engine's order.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { writeFileAtomically } from '../atomic-write';
import { WeightsError } from '../errors';
import { withoutDataParallelPrefix } from './dtypes';
import { EXPOSURE_TENSOR_PREFIX, ExposurePredictor } from '../exposure/predictor';
import { readPth, type Tensor } from './pth';
import { readSafetensors, writeSafetensors } from './safetensors';

export type WeightTensor = Readonly<{ shape: readonly number[]; data: Float32Array }>;

/** Parameters of FLW-Net: LEN 15,942 + GFE 1,431. */
export const FLWNET_PARAM_COUNT = 17373;

/** Weight files above this size are refused before being read: the real one is under 100 KiB. */
export const MAX_WEIGHTS_FILE_BYTES = 64 * 1024 * 1024;

/** [name, shape] for every parameter, in packed order. */
export const FLWNET_WEIGHT_SCHEMA: ReadonlyArray<readonly [string, readonly number[]]> = buildSchema();

function buildSchema(): Array<[string, number[]]> {
  const convs: Array<[number, number]> = [[4, 16], [16, 16], [20, 16], [16, 16], [16, 16], [32, 16], [16, 6]];
  const denses: Array<[number, number]> = [[15, 16], [16, 16], [31, 16], [16, 16], [16, 7]];
  const schema: Array<[string, number[]]> = [];
  convs.forEach(([cin, cout], i) => {
    schema.push([`e_conv${i + 1}.depth_conv.weight`, [cout, cin, 3, 3]], [`e_conv${i + 1}.depth_conv.bias`, [cout]]);
  });
  denses.forEach(([cin, cout], i) => {
    schema.push([`g_conv${i + 1}.point_conv.weight`, [cout, cin, 1, 1]], [`g_conv${i + 1}.point_conv.bias`, [cout]]);
  });
  return schema;
}

function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** Validated FLW-Net parameters. Construct with `loadWeights` or `FlwnetWeights.fromPacked`. */
export class FlwnetWeights {
  /** Each parameter tensor by state_dict name, in packed order; data are views of one packed block. */
  readonly tensors: ReadonlyMap<string, WeightTensor>;
  /** Where the weights came from: a path, or a description of the bytes. */
  readonly source: string;
  /** The automatic-exposure predictor stored with the weights (`exposure.*` tensors), if any. */
  readonly exposurePredictor?: ExposurePredictor;
  private readonly params: Float32Array;

  /** Checks names, shapes and finiteness against the schema; copies the values. */
  constructor(tensors: ReadonlyMap<string, { shape: readonly number[]; data: Float32Array }>, source: string) {
    for (const name of tensors.keys()) {
      if (name.startsWith(EXPOSURE_TENSOR_PREFIX)) continue;
      if (!FLWNET_WEIGHT_SCHEMA.some(([known]) => known === name)) throw new WeightsError(`unknown key ${name} (not an FLW-Net parameter)`);
    }
    this.exposurePredictor = ExposurePredictor.fromTensors(tensors);
    const params = new Float32Array(FLWNET_PARAM_COUNT);
    const views = new Map<string, WeightTensor>();
    let offset = 0;
    for (const [name, shape] of FLWNET_WEIGHT_SCHEMA) {
      const tensor = tensors.get(name);
      if (tensor === undefined) throw new WeightsError(`missing key ${name}`);
      const same = tensor.shape.length === shape.length && tensor.shape.every((n, i) => n === shape[i]);
      if (!same) throw new WeightsError(`key ${name} has shape ${shapeText(tensor.shape)}, expected ${shapeText(shape)}`);
      const count = elementCount(shape);
      if (tensor.data.length !== count) throw new WeightsError(`key ${name} holds ${tensor.data.length} values, expected ${count}`);
      const bad = tensor.data.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) throw new WeightsError(`key ${name} has a non-finite value (${tensor.data[bad]}) at index ${bad}`);
      params.set(tensor.data, offset);
      views.set(name, Object.freeze({ shape: Object.freeze([...shape]), data: params.subarray(offset, offset + count) }));
      offset += count;
    }
    this.params = params;
    this.tensors = views;
    this.source = source;
  }

  /** Weights from 17,373 floats in packed order. */
  static fromPacked(packed: Float32Array, source = 'packed parameters'): FlwnetWeights {
    if (packed.length !== FLWNET_PARAM_COUNT) {
      throw new WeightsError(`packed parameters hold ${packed.length} floats, expected ${FLWNET_PARAM_COUNT}`);
    }
    const tensors = new Map<string, Tensor>();
    let offset = 0;
    for (const [name, shape] of FLWNET_WEIGHT_SCHEMA) {
      const count = elementCount(shape);
      tensors.set(name, { shape: [...shape], data: packed.subarray(offset, offset + count) });
      offset += count;
    }
    return new FlwnetWeights(tensors, source);
  }

  /** The same parameters with `predictor` as their exposure predictor. */
  withExposurePredictor(predictor: ExposurePredictor, source = this.source): FlwnetWeights {
    return new FlwnetWeights(new Map([...this.tensors, ...predictor.tensors()]), source);
  }

  /** Every tensor a weights file holds: the parameters in packed order, then the exposure predictor's. */
  fileTensors(): Map<string, { shape: number[]; data: Float32Array }> {
    const out = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const [name, tensor] of this.tensors) out.set(name, { shape: [...tensor.shape], data: tensor.data });
    for (const [name, tensor] of this.exposurePredictor?.tensors() ?? []) out.set(name, tensor);
    return out;
  }

  /** A copy of all parameters: e_conv1.weight, e_conv1.bias, ..., e_conv7.bias, g_conv1.weight, ..., g_conv5.bias. */
  packed(): Float32Array {
    return this.params.slice();
  }

  /** SHA-256 (hex) of the packed parameters as little-endian float32: identifies the values whatever the file format. */
  sha256(): string {
    const bytes = Buffer.alloc(this.params.length * 4);
    this.params.forEach((v, i) => bytes.writeFloatLE(v, i * 4));
    return createHash('sha256').update(bytes).digest('hex');
  }
}

type WeightsFormat = 'pth' | 'safetensors';

function detectFormat(bytes: Uint8Array): WeightsFormat {
  if (bytes.length === 0) throw new WeightsError('the file is empty');
  if (bytes[0] === 0x50 && bytes[1] === 0x4b && (bytes[2] === 0x03 || bytes[2] === 0x05) && (bytes[3] === 0x04 || bytes[3] === 0x06)) {
    return 'pth';
  }
  if (bytes[0] === 0x80 && bytes[1] !== undefined && bytes[1] >= 2 && bytes[1] <= 5) {
    throw new WeightsError(
      'this is a legacy (pre-zip) PyTorch checkpoint, which is not supported; re-save it with a current torch.save',
    );
  }
  if (bytes.length > 8 && bytes[8] === 0x7b /* '{' */) return 'safetensors';
  throw new WeightsError('not a PyTorch checkpoint (.pth zip) or a safetensors file');
}

const SHA256_METADATA_KEY = 'params_sha256';

function parseWeights(bytes: Uint8Array, source: string): FlwnetWeights {
  try {
    if (bytes.length > MAX_WEIGHTS_FILE_BYTES) {
      throw new WeightsError(`${bytes.length} bytes exceeds the limit of ${MAX_WEIGHTS_FILE_BYTES} for a weights file`);
    }
    if (detectFormat(bytes) === 'pth') return new FlwnetWeights(withoutDataParallelPrefix(readPth(bytes)), source);
    const file = readSafetensors(bytes);
    const weights = new FlwnetWeights(withoutDataParallelPrefix(file.tensors), source);
    // Files this package wrote record a digest of the values; a mismatch means they were altered.
    const recorded = file.metadata[SHA256_METADATA_KEY];
    if (recorded !== undefined && recorded !== weights.sha256()) {
      throw new WeightsError(`safetensors: ${SHA256_METADATA_KEY} ${recorded} does not match the parameters (${weights.sha256()})`);
    }
    return weights;
  } catch (err) {
    if (err instanceof WeightsError) throw new WeightsError(`${source}: ${err.message}`, { cause: err });
    throw new WeightsError(`${source}: ${(err as Error).message ?? String(err)}`, { cause: err });
  }
}

async function readWeightsFile(file: string): Promise<Uint8Array> {
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(file, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new WeightsError(`weights file not found: ${file}`, { cause: err });
    if (code === 'EISDIR') throw new WeightsError(`${file} is a directory, not a weights file`, { cause: err });
    throw new WeightsError(`cannot open weights file ${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const stat = await handle.stat();
    if (stat.isDirectory()) throw new WeightsError(`${file} is a directory, not a weights file`);
    if (!stat.isFile()) throw new WeightsError(`${file} is not a regular file`);
    if (stat.size > MAX_WEIGHTS_FILE_BYTES) {
      throw new WeightsError(`${file} is ${stat.size} bytes, above the limit of ${MAX_WEIGHTS_FILE_BYTES} for a weights file`);
    }
    return await handle.readFile();
  } catch (err) {
    if (err instanceof WeightsError) throw err;
    throw new WeightsError(`cannot read weights file ${file}: ${(err as Error).message}`, { cause: err });
  } finally {
    await handle.close();
  }
}

/**
 * Loads FLW-Net weights from a path or the bytes of a .pth checkpoint or .safetensors file (the
 * format is detected from the content), or returns already loaded weights. Rejects with WeightsError.
 */
export async function loadWeights(src: string | Uint8Array | FlwnetWeights): Promise<FlwnetWeights> {
  if (src instanceof FlwnetWeights) return src;
  if (typeof src === 'string') {
    if (src.length === 0) throw new WeightsError('the weights path is empty');
    return parseWeights(await readWeightsFile(src), src);
  }
  if (src instanceof Uint8Array) return parseWeights(src, `weights buffer (${src.length} bytes)`);
  throw new WeightsError('weights must be a path, a Uint8Array holding a checkpoint, or loaded FlwnetWeights');
}

/** The weights as a safetensors file (F32, packed order). */
export function toSafetensors(weights: FlwnetWeights): Buffer {
  return writeSafetensors(weights.fileTensors(), { format: 'pt', producer: 'flwnet', [SHA256_METADATA_KEY]: weights.sha256() });
}

/** Writes the weights as safetensors, through a temporary file renamed into place. */
export async function saveSafetensors(weights: FlwnetWeights, file: string): Promise<void> {
  try {
    await writeFileAtomically(file, toSafetensors(weights));
  } catch (err) {
    throw new WeightsError(`cannot write ${file}: ${(err as Error).message}`, { cause: err });
  }
}
