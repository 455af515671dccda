/**
 * A pickle reader for PyTorch state_dicts that executes nothing. It implements only the opcodes
 * torch.save emits for a state_dict and resolves only these globals — collections.OrderedDict,
 * torch._utils._rebuild_tensor_v2 and the float storages (Float, Half, BFloat16, Double) — into
 * inert data. Any other global,
 * callable or opcode is refused by name, and every structure it builds is bounded.
 */
import { WeightsError } from '../errors';
import type { FloatDtype } from './dtypes';

export interface PickleLimits {
  maxMemo: number;
  maxStack: number;
  maxMarks: number;
  maxStringBytes: number;
  maxTupleItems: number;
  maxDictItems: number;
}

export const DEFAULT_PICKLE_LIMITS: PickleLimits = {
  maxMemo: 100_000,
  maxStack: 10_000,
  maxMarks: 64,
  maxStringBytes: 64 * 1024,
  maxTupleItems: 64,
  maxDictItems: 10_000,
};

/** A persistent storage reference: ('storage', torch.FloatStorage, key, location, numel). */
export interface StorageRef {
  readonly kind: 'storage';
  readonly dtype: FloatDtype;
  readonly key: string;
  readonly location: string;
  readonly numel: number;
}

/** What torch._utils._rebuild_tensor_v2 would have built, kept as a description. */
export interface TensorRef {
  readonly kind: 'tensor';
  readonly storage: StorageRef;
  readonly offset: number;
  readonly size: readonly number[];
  readonly stride: readonly number[];
}

type StorageName = 'torch.FloatStorage' | 'torch.HalfStorage' | 'torch.BFloat16Storage' | 'torch.DoubleStorage';
type GlobalName = 'collections.OrderedDict' | 'torch._utils._rebuild_tensor_v2' | StorageName;

/** The floating-point storage classes, read as float32 whatever their precision. */
const FLOAT_STORAGES: Readonly<Record<StorageName, FloatDtype>> = {
  'torch.FloatStorage': 'float32',
  'torch.HalfStorage': 'float16',
  'torch.BFloat16Storage': 'bfloat16',
  'torch.DoubleStorage': 'float64',
};

interface GlobalRef {
  readonly kind: 'global';
  readonly name: GlobalName;
}

/** A Python dict or OrderedDict; only string and int keys occur in a state_dict. */
export class PickleDict {
  readonly kind = 'dict';
  readonly entries = new Map<string | number, PickleValue>();
  constructor(readonly ordered: boolean) {}
}

export type PickleValue = null | boolean | number | string | PickleValue[] | PickleDict | TensorRef | StorageRef | GlobalRef;

const ALLOWED_GLOBALS: ReadonlySet<string> = new Set<GlobalName>([
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor_v2',
  ...(Object.keys(FLOAT_STORAGES) as StorageName[]),
]);

/** Other storage classes torch may name, with the dtype they hold: refused with a precise message. */
const OTHER_STORAGES: Readonly<Record<string, string>> = {
  'torch.LongStorage': 'int64',
  'torch.IntStorage': 'int32',
  'torch.ShortStorage': 'int16',
  'torch.CharStorage': 'int8',
  'torch.ByteStorage': 'uint8',
  'torch.BoolStorage': 'bool',
  'torch.ComplexFloatStorage': 'complex64',
  'torch.ComplexDoubleStorage': 'complex128',
};

const OP = {
  MARK: 0x28,
  STOP: 0x2e,
  BININT: 0x4a,
  BININT1: 0x4b,
  BININT2: 0x4d,
  NONE: 0x4e,
  BINPERSID: 0x51,
  REDUCE: 0x52,
  BINUNICODE: 0x58,
  EMPTY_LIST: 0x5d,
  BUILD: 0x62,
  GLOBAL: 0x63,
  BINGET: 0x68,
  LONG_BINGET: 0x6a,
  BINPUT: 0x71,
  LONG_BINPUT: 0x72,
  SETITEM: 0x73,
  TUPLE: 0x74,
  SETITEMS: 0x75,
  EMPTY_DICT: 0x7d,
  EMPTY_TUPLE: 0x29,
  PROTO: 0x80,
  TUPLE1: 0x85,
  TUPLE2: 0x86,
  TUPLE3: 0x87,
  NEWTRUE: 0x88,
  NEWFALSE: 0x89,
  SHORT_BINUNICODE: 0x8c,
  STACK_GLOBAL: 0x93,
  MEMOIZE: 0x94,
  FRAME: 0x95,
} as const;

const MARK = Symbol('mark');
const MAX_GLOBAL_LINE_BYTES = 256;
type StackItem = PickleValue | typeof MARK;

function describeOpcode(op: number): string {
  const printable = op >= 0x20 && op < 0x7f ? ` '${String.fromCharCode(op)}'` : '';
  return `0x${op.toString(16).padStart(2, '0')}${printable}`;
}

class PickleMachine {
  private pos = 0;
  private openMarks = 0;
  private readonly stack: StackItem[] = [];
  private readonly memo = new Map<number, PickleValue>();
  private readonly view: DataView;
  private readonly utf8 = new TextDecoder('utf-8', { fatal: true });

  constructor(private readonly bytes: Uint8Array, private readonly limits: PickleLimits) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  run(): PickleValue {
    for (;;) {
      const at = this.pos;
      const op = this.take(1, 'an opcode')[0]!;
      if (op === OP.STOP) return this.finish();
      this.step(op, at);
    }
  }

  private finish(): PickleValue {
    if (this.stack.length !== 1) throw new WeightsError(`pickle: STOP with ${this.stack.length} items on the stack (expected 1)`);
    const result = this.stack[0]!;
    if (result === MARK) throw new WeightsError('pickle: STOP with an open MARK');
    if (this.pos !== this.bytes.length) throw new WeightsError(`pickle: ${this.bytes.length - this.pos} trailing bytes after STOP`);
    return result;
  }

  private step(op: number, at: number): void {
    switch (op) {
      case OP.PROTO: return this.protocol();
      case OP.FRAME: this.take(8, 'a frame length'); return;
      case OP.MARK: return this.pushMark();
      case OP.NONE: return this.push(null);
      case OP.NEWTRUE: return this.push(true);
      case OP.NEWFALSE: return this.push(false);
      case OP.BININT1: return this.push(this.take(1, 'BININT1')[0]!);
      case OP.BININT2: return this.push(this.u16());
      case OP.BININT: return this.push(this.i32());
      case OP.BINUNICODE: return this.push(this.text(this.u32(), 'BINUNICODE'));
      case OP.SHORT_BINUNICODE: return this.push(this.text(this.take(1, 'SHORT_BINUNICODE')[0]!, 'SHORT_BINUNICODE'));
      case OP.EMPTY_TUPLE: return this.push([]);
      case OP.TUPLE1: return this.push(this.popN(1));
      case OP.TUPLE2: return this.push(this.popN(2));
      case OP.TUPLE3: return this.push(this.popN(3));
      case OP.TUPLE: return this.push(this.popToMark('TUPLE', this.limits.maxTupleItems));
      case OP.EMPTY_LIST: return this.push([]);
      case OP.EMPTY_DICT: return this.push(new PickleDict(false));
      case OP.SETITEM: return this.setItems(this.popN(2));
      case OP.SETITEMS: return this.setItems(this.popToMark('SETITEMS', 2 * this.limits.maxDictItems));
      case OP.BINPUT: return this.memoPut(this.take(1, 'BINPUT')[0]!);
      case OP.LONG_BINPUT: return this.memoPut(this.u32());
      case OP.MEMOIZE: return this.memoPut(this.memo.size);
      case OP.BINGET: return this.push(this.memoGet(this.take(1, 'BINGET')[0]!));
      case OP.LONG_BINGET: return this.push(this.memoGet(this.u32()));
      case OP.GLOBAL: return this.push(resolveGlobal(this.line('GLOBAL module'), this.line('GLOBAL name')));
      case OP.STACK_GLOBAL: return this.stackGlobal();
      case OP.REDUCE: return this.reduce();
      case OP.BINPERSID: return this.push(persistentLoad(this.pop('BINPERSID')));
      case OP.BUILD: return this.build();
      default:
        throw new WeightsError(`pickle: opcode ${describeOpcode(op)} at byte ${at} is not supported (not part of a state_dict)`);
    }
  }

  private protocol(): void {
    const version = this.take(1, 'PROTO')[0]!;
    if (version < 2 || version > 4) throw new WeightsError(`pickle: protocol ${version} is not supported (expected 2)`);
  }

  private take(count: number, what: string): Uint8Array {
    if (this.pos + count > this.bytes.length) {
      throw new WeightsError(`pickle: truncated stream: ${what} at byte ${this.pos} needs ${count} bytes, ${this.bytes.length - this.pos} left`);
    }
    const out = this.bytes.subarray(this.pos, this.pos + count);
    this.pos += count;
    return out;
  }

  private u16(): number {
    this.take(2, 'a 2-byte integer');
    return this.view.getUint16(this.pos - 2, true);
  }

  private u32(): number {
    this.take(4, 'a 4-byte integer');
    return this.view.getUint32(this.pos - 4, true);
  }

  private i32(): number {
    this.take(4, 'a 4-byte integer');
    return this.view.getInt32(this.pos - 4, true);
  }

  private text(length: number, what: string): string {
    if (length > this.limits.maxStringBytes) {
      throw new WeightsError(`pickle: ${what} string of ${length} bytes exceeds the limit of ${this.limits.maxStringBytes}`);
    }
    try {
      return this.utf8.decode(this.take(length, what));
    } catch (err) {
      if (err instanceof WeightsError) throw err;
      throw new WeightsError(`pickle: ${what} string is not valid UTF-8`, { cause: err });
    }
  }

  /** A newline-terminated ASCII line, as GLOBAL's operands are written. */
  private line(what: string): string {
    const limit = Math.min(this.bytes.length, this.pos + MAX_GLOBAL_LINE_BYTES);
    const end = this.bytes.subarray(this.pos, limit).indexOf(0x0a) + this.pos;
    if (end < this.pos) {
      if (limit === this.bytes.length) throw new WeightsError(`pickle: truncated stream: ${what} at byte ${this.pos} has no end of line`);
      throw new WeightsError(`pickle: ${what} at byte ${this.pos} is longer than ${MAX_GLOBAL_LINE_BYTES} bytes`);
    }
    const value = Buffer.from(this.bytes.subarray(this.pos, end)).toString('latin1');
    this.pos = end + 1;
    return value;
  }

  private push(value: PickleValue): void {
    if (this.stack.length >= this.limits.maxStack) throw new WeightsError(`pickle: stack deeper than ${this.limits.maxStack}`);
    this.stack.push(value);
  }

  private pushMark(): void {
    if (this.openMarks >= this.limits.maxMarks) throw new WeightsError(`pickle: more than ${this.limits.maxMarks} nested MARKs`);
    if (this.stack.length >= this.limits.maxStack) throw new WeightsError(`pickle: stack deeper than ${this.limits.maxStack}`);
    this.stack.push(MARK);
    this.openMarks++;
  }

  private pop(what: string): PickleValue {
    const item = this.stack.pop();
    if (item === undefined) throw new WeightsError(`pickle: ${what} on an empty stack`);
    if (item === MARK) throw new WeightsError(`pickle: ${what} found a MARK where it expected a value`);
    return item;
  }

  private popN(count: number): PickleValue[] {
    const items: PickleValue[] = [];
    for (let i = 0; i < count; i++) items.unshift(this.pop('a tuple or item opcode'));
    return items;
  }

  private popToMark(what: string, maxItems: number): PickleValue[] {
    const markAt = this.stack.lastIndexOf(MARK);
    if (markAt < 0) throw new WeightsError(`pickle: ${what} without a MARK`);
    const items = this.stack.splice(markAt) as StackItem[];
    items.shift();
    this.openMarks--;
    if (items.length > maxItems) throw new WeightsError(`pickle: ${what} with ${items.length} items exceeds the limit of ${maxItems}`);
    return items as PickleValue[];
  }

  private memoPut(index: number): void {
    const top = this.stack[this.stack.length - 1];
    if (top === undefined || top === MARK) throw new WeightsError('pickle: memo store with no value on the stack');
    if (!this.memo.has(index) && this.memo.size >= this.limits.maxMemo) {
      throw new WeightsError(`pickle: memo larger than ${this.limits.maxMemo} entries`);
    }
    this.memo.set(index, top);
  }

  private memoGet(index: number): PickleValue {
    const value = this.memo.get(index);
    if (value === undefined) throw new WeightsError(`pickle: memo entry ${index} read before it was stored`);
    return value;
  }

  private setItems(items: PickleValue[]): void {
    if (items.length % 2 !== 0) throw new WeightsError('pickle: SETITEMS with an odd number of items');
    const target = this.pop('SETITEM');
    if (!(target instanceof PickleDict)) throw new WeightsError('pickle: SETITEM on something that is not a dict');
    for (let i = 0; i < items.length; i += 2) {
      const key = items[i]!;
      if (typeof key !== 'string' && typeof key !== 'number') throw new WeightsError('pickle: dict key that is not a string or integer');
      target.entries.set(key, items[i + 1]!);
      if (target.entries.size > this.limits.maxDictItems) {
        throw new WeightsError(`pickle: dict with more than ${this.limits.maxDictItems} items`);
      }
    }
    this.stack.push(target);
  }

  private stackGlobal(): void {
    const name = this.pop('STACK_GLOBAL');
    const module = this.pop('STACK_GLOBAL');
    if (typeof module !== 'string' || typeof name !== 'string') throw new WeightsError('pickle: STACK_GLOBAL operands are not strings');
    this.push(resolveGlobal(module, name));
  }

  private reduce(): void {
    const args = this.pop('REDUCE');
    const callable = this.pop('REDUCE');
    if (!isGlobal(callable)) throw new WeightsError('pickle: REDUCE on something that is not a whitelisted callable');
    if (!Array.isArray(args)) throw new WeightsError(`pickle: REDUCE of ${callable.name} with arguments that are not a tuple`);
    if (callable.name === 'collections.OrderedDict') {
      if (args.length !== 0) throw new WeightsError('pickle: collections.OrderedDict called with arguments');
      return this.push(new PickleDict(true));
    }
    if (callable.name === 'torch._utils._rebuild_tensor_v2') return this.push(rebuildTensor(args));
    throw new WeightsError(`pickle: REDUCE calls ${callable.name}, which is not a callable this reader allows`);
  }

  /** torch sets the state_dict's `_metadata` attribute with BUILD; the attribute is read and dropped. */
  private build(): void {
    const state = this.pop('BUILD');
    const target = this.stack[this.stack.length - 1];
    if (!(target instanceof PickleDict) || !target.ordered) throw new WeightsError('pickle: BUILD on something that is not an OrderedDict');
    if (!(state instanceof PickleDict)) throw new WeightsError('pickle: BUILD with a state that is not a dict');
    for (const key of state.entries.keys()) {
      if (key !== '_metadata') throw new WeightsError(`pickle: BUILD sets attribute ${String(key)}; only _metadata is allowed`);
    }
  }
}

function isGlobal(value: PickleValue): value is GlobalRef {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && 'kind' in value && value.kind === 'global';
}

function resolveGlobal(module: string, name: string): GlobalRef {
  const full = `${module}.${name}`;
  if (ALLOWED_GLOBALS.has(full)) return { kind: 'global', name: full as GlobalName };
  const dtype = OTHER_STORAGES[full];
  if (dtype !== undefined) {
    throw new WeightsError(`pickle: ${full} holds ${dtype}; dtype not supported (only float32, float16, bfloat16 and float64 weights are)`);
  }
  throw new WeightsError(`pickle: global ${full} is not allowed (only OrderedDict, _rebuild_tensor_v2 and the float storages are)`);
}

function isNonNegativeInt(value: PickleValue): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function persistentLoad(pid: PickleValue): StorageRef {
  if (!Array.isArray(pid) || pid.length !== 5 || pid[0] !== 'storage') {
    throw new WeightsError("pickle: persistent id is not a ('storage', type, key, location, numel) tuple");
  }
  const [, type, key, location, numel] = pid;
  const dtype = isGlobal(type) ? FLOAT_STORAGES[type.name as StorageName] : undefined;
  if (dtype === undefined) throw new WeightsError('pickle: persistent storage type is not a float storage (torch.FloatStorage, HalfStorage, BFloat16Storage, DoubleStorage)');
  if (typeof key !== 'string' || !/^[A-Za-z0-9_]{1,64}$/.test(key)) throw new WeightsError('pickle: persistent storage key is not a plain name');
  if (typeof location !== 'string') throw new WeightsError(`pickle: storage ${key} has a location that is not a string`);
  if (!isNonNegativeInt(numel)) throw new WeightsError(`pickle: storage ${key} has an invalid element count`);
  return { kind: 'storage', dtype, key, location, numel };
}

function intTuple(value: PickleValue, what: string): number[] {
  if (!Array.isArray(value) || value.length > 8 || !value.every(isNonNegativeInt)) {
    throw new WeightsError(`pickle: tensor ${what} is not a tuple of at most 8 non-negative integers`);
  }
  return value as number[];
}

function rebuildTensor(args: PickleValue[]): TensorRef {
  // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
  if (args.length !== 6 && args.length !== 7) {
    throw new WeightsError(`pickle: _rebuild_tensor_v2 called with ${args.length} arguments (expected 6 or 7)`);
  }
  const [storage, offset, size, stride, requiresGrad, hooks] = args;
  if (typeof storage !== 'object' || storage === null || Array.isArray(storage) || !('kind' in storage) || storage.kind !== 'storage') {
    throw new WeightsError('pickle: _rebuild_tensor_v2 called without a storage');
  }
  if (!isNonNegativeInt(offset!)) throw new WeightsError('pickle: tensor storage offset is not a non-negative integer');
  const sizeTuple = intTuple(size!, 'size');
  const strideTuple = intTuple(stride!, 'stride');
  if (sizeTuple.length !== strideTuple.length) throw new WeightsError('pickle: tensor size and stride have different lengths');
  if (typeof requiresGrad !== 'boolean') throw new WeightsError('pickle: tensor requires_grad is not a boolean');
  if (!(hooks instanceof PickleDict) || hooks.entries.size !== 0) throw new WeightsError('pickle: tensor has backward hooks');
  return { kind: 'tensor', storage: storage as StorageRef, offset: offset!, size: sizeTuple, stride: strideTuple };
}

/** Interprets a state_dict pickle without executing it. */
export function readPickle(bytes: Uint8Array, limits: PickleLimits = DEFAULT_PICKLE_LIMITS): PickleValue {
  return new PickleMachine(bytes, limits).run();
}
