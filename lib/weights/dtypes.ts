/**
 * The floating-point element types weight files may store, read as float32: checkpoints saved
 * after `.half()` or `.double()` hold the same network. Values that do not fit float32 become
 * infinite, and the finiteness check of FlwnetWeights refuses them.
 */
export type FloatDtype = 'float32' | 'float16' | 'bfloat16' | 'float64';

export const DTYPE_BYTES: Readonly<Record<FloatDtype, number>> = { float32: 4, float16: 2, bfloat16: 2, float64: 8 };

/** IEEE 754 half precision to a JavaScript number (subnormals, infinities and NaN included). */
function halfToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 31) return fraction === 0 ? sign * Infinity : NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

const bfloatScratch = new DataView(new ArrayBuffer(4));

/** Element `index` of a little-endian array of `dtype` values starting at byte `base`. */
export function readElement(view: DataView, base: number, index: number, dtype: FloatDtype): number {
  const at = base + index * DTYPE_BYTES[dtype];
  switch (dtype) {
    case 'float32':
      return view.getFloat32(at, true);
    case 'float64':
      return view.getFloat64(at, true);
    case 'float16':
      return halfToNumber(view.getUint16(at, true));
    case 'bfloat16':
      bfloatScratch.setUint32(0, view.getUint16(at, true) << 16, true);
      return bfloatScratch.getFloat32(0, true);
  }
}

/** state_dict keys of a model wrapped in nn.DataParallel all start with this. */
const DATA_PARALLEL_PREFIX = 'module.';

/** The tensors with a DataParallel `module.` prefix removed, when every key has it. */
export function withoutDataParallelPrefix<T>(tensors: ReadonlyMap<string, T>): ReadonlyMap<string, T> {
  const keys = [...tensors.keys()];
  if (keys.length === 0 || !keys.every((key) => key.startsWith(DATA_PARALLEL_PREFIX))) return tensors;
  return new Map(keys.map((key) => [key.slice(DATA_PARALLEL_PREFIX.length), tensors.get(key) as T]));
}
