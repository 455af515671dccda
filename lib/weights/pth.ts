/**
 * Reads a PyTorch zip checkpoint (torch.save of a state_dict, format of torch >= 1.6):
 * `<root>/data.pkl` describes the tensors, `<root>/data/<key>` holds each storage's raw
 * little-endian values (float32, or float16/bfloat16/float64, converted to float32 here).
 */
import { WeightsError } from '../errors';
import { DTYPE_BYTES, readElement, type FloatDtype } from './dtypes';
import { PickleDict, readPickle, type PickleValue, type TensorRef } from './pickle';
import { ZipArchive, type ZipLimits, DEFAULT_ZIP_LIMITS } from './zip';

export interface Tensor {
  shape: number[];
  data: Float32Array;
}

/** 64 MiB of float32: far above FLW-Net's 17,373 parameters, far below what would exhaust memory. */
const MAX_TOTAL_ELEMENTS = 16 * 1024 * 1024;

/** The archive's root folder: the one holding data.pkl, which must be unique. */
function findRoot(archive: ZipArchive): string {
  const pickles = archive.names.filter((name) => name === 'data.pkl' || name.endsWith('/data.pkl'));
  if (pickles.length === 0) throw new WeightsError('pth: the archive has no data.pkl (not a PyTorch checkpoint)');
  if (pickles.length > 1) throw new WeightsError(`pth: the archive has ${pickles.length} data.pkl records`);
  const root = pickles[0]!.slice(0, -'data.pkl'.length);
  if (root.split('/').length > 2) throw new WeightsError(`pth: data.pkl is nested too deep (${pickles[0]})`);
  return root;
}

function checkByteOrder(archive: ZipArchive, root: string): void {
  const name = `${root}byteorder`;
  if (!archive.has(name)) return;
  const order = Buffer.from(archive.read(name)).toString('latin1').trim();
  if (order !== 'little') throw new WeightsError(`pth: storages are ${order}-endian; only little-endian is supported`);
}

function isTensorRef(value: PickleValue): value is TensorRef {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && 'kind' in value && value.kind === 'tensor';
}

function product(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Elements of the storage the tensor reaches, counting from its start. */
function extentOf(tensor: TensorRef): number {
  if (product(tensor.size) === 0) return tensor.offset;
  let last = tensor.offset;
  for (let d = 0; d < tensor.size.length; d++) last += (tensor.size[d]! - 1) * tensor.stride[d]!;
  return last + 1;
}

/** Loads storages lazily and once each; a storage record must hold exactly numel floats. */
class StorageCache {
  private readonly cache = new Map<string, DataView>();
  constructor(private readonly archive: ZipArchive, private readonly root: string) {}

  get(key: string, numel: number, dtype: FloatDtype): DataView {
    const elementBytes = DTYPE_BYTES[dtype];
    const cached = this.cache.get(key);
    if (cached !== undefined) {
      if (cached.byteLength !== numel * elementBytes) throw new WeightsError(`pth: storage ${key} is declared with two different sizes`);
      return cached;
    }
    const name = `${this.root}data/${key}`;
    if (!this.archive.has(name)) throw new WeightsError(`pth: storage ${key} is missing from the archive (${name})`);
    const bytes = this.archive.read(name);
    if (bytes.length !== numel * elementBytes) {
      throw new WeightsError(`pth: storage ${key} declares ${numel} ${dtype === 'float32' ? 'floats' : `${dtype} values`} but its record holds ${bytes.length} bytes`);
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.cache.set(key, view);
    return view;
  }
}

/** Copies the tensor's elements out of its storage in row-major order, honouring offset and stride. */
function gather(name: string, tensor: TensorRef, storages: StorageCache): Tensor {
  const count = product(tensor.size);
  const needed = extentOf(tensor);
  const { key, numel, dtype } = tensor.storage;
  if (needed > numel) throw new WeightsError(`pth: storage ${key} holds ${numel} floats but tensor ${name} needs ${needed}`);
  const view = storages.get(key, numel, dtype);
  const data = new Float32Array(count);
  const rank = tensor.size.length;
  const index = new Array<number>(rank).fill(0);
  let source = tensor.offset;
  for (let i = 0; i < count; i++) {
    data[i] = readElement(view, 0, source, dtype);
    // Advance the multi-index like an odometer, moving the storage position by the strides.
    for (let d = rank - 1; d >= 0; d--) {
      index[d]!++;
      source += tensor.stride[d]!;
      if (index[d]! < tensor.size[d]!) break;
      source -= tensor.stride[d]! * tensor.size[d]!;
      index[d] = 0;
    }
  }
  return { shape: [...tensor.size], data };
}

/** Reads every tensor of a state_dict checkpoint, keyed by its state_dict name, in file order. */
export function readPth(bytes: Uint8Array, zipLimits: ZipLimits = DEFAULT_ZIP_LIMITS): Map<string, Tensor> {
  const archive = ZipArchive.open(bytes, zipLimits);
  const root = findRoot(archive);
  checkByteOrder(archive, root);
  const state = readPickle(archive.read(`${root}data.pkl`));
  if (!(state instanceof PickleDict)) throw new WeightsError('pth: the checkpoint does not hold a state_dict (top level is not a dict)');
  const refs = new Map<string, TensorRef>();
  for (const [key, value] of state.entries) {
    if (typeof key !== 'string') throw new WeightsError(`pth: state_dict key ${key} is not a string`);
    if (!isTensorRef(value)) throw new WeightsError(`pth: state_dict entry ${key} is not a tensor`);
    refs.set(key, value);
  }
  checkBudget(refs);
  const storages = new StorageCache(archive, root);
  const tensors = new Map<string, Tensor>();
  for (const [key, ref] of refs) tensors.set(key, gather(key, ref, storages));
  return tensors;
}

/**
 * Bounds what reading the described tensors would allocate before anything is read: many tensors
 * can share one large storage, so each storage's size and each tensor's size are summed separately.
 */
function checkBudget(refs: ReadonlyMap<string, TensorRef>): void {
  const storageFloats = new Map<string, number>();
  let tensorFloats = 0;
  for (const ref of refs.values()) {
    tensorFloats += product(ref.size);
    storageFloats.set(ref.storage.key, Math.max(storageFloats.get(ref.storage.key) ?? 0, ref.storage.numel));
  }
  const stored = [...storageFloats.values()].reduce((a, b) => a + b, 0);
  if (tensorFloats > MAX_TOTAL_ELEMENTS || stored > MAX_TOTAL_ELEMENTS) {
    throw new WeightsError(
      `pth: the state_dict describes ${tensorFloats} tensor values in ${stored} stored floats, above the limit of ${MAX_TOTAL_ELEMENTS}`,
    );
  }
}
