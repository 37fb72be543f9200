/**
 * A small reader of Python pickles, for the CIFAR-10/100 batches torchvision downloads (data
 * loading for SPEC step 2's training images). Those files are protocol-2 pickles written by
 * Python 2: dicts with `str` keys, lists of ints and strings, and numpy uint8 arrays
 * (`numpy.core.multiarray._reconstruct` + BUILD). The same data re-pickled by Python 3 at
 * protocol 2 stores bytes through `_codecs.encode`; both are read.
 *
 * Only the opcodes such files use are known; any other opcode, and any global other than the
 * numpy array/dtype constructors and `_codecs.encode`, is refused with an error naming the file,
 * the offset and the opcode. Nothing is executed.
 *
 * Values: Python 2 `str` and `bytes` → Uint8Array (a view into the input, no copy); `unicode` →
 * string; int → number; None → null; bool → boolean; list and tuple → array; dict → Map with
 * string keys (byte keys decoded as Latin-1); numpy arrays → {@link PickledArray}.
 */

/** A numpy array read from a pickle (C order). */
export interface PickledArray {
  readonly kind: 'ndarray';
  shape: number[];
  /** numpy dtype string, e.g. `u1`. */
  dtype: string;
  /** The raw element bytes. */
  data: Uint8Array;
}

/** A value read from a pickle (see the module comment). */
export type PickleValue = null | boolean | number | string | Uint8Array | PickleValue[] | Map<string, PickleValue> | PickledArray | PickleObject;

/** A global (a class or function name), a numpy dtype, or an array before BUILD. */
interface PickleObject {
  readonly kind: 'global' | 'dtype' | 'reconstruct';
  name?: string;
  dtype?: string;
  array?: PickledArray;
}

type Global = (args: PickleValue[]) => PickleValue;

const GLOBALS: Record<string, Global | undefined> = {
  'numpy ndarray': undefined, // an argument of _reconstruct, never called
  'numpy.core.multiarray _reconstruct': () => ({ kind: 'reconstruct' }),
  'numpy._core.multiarray _reconstruct': () => ({ kind: 'reconstruct' }),
  'numpy dtype': (args) => ({ kind: 'dtype', dtype: asText(args[0]) }),
  '_codecs encode': (args) => {
    const [text, encoding] = args;
    if (typeof text !== 'string' || (encoding !== 'latin1' && encoding !== 'latin-1')) throw new Error('_codecs.encode: expected (str, "latin1")');
    return latin1Bytes(text);
  },
};

const MARK = Symbol('mark');
type StackItem = PickleValue | typeof MARK;

/** Parses a pickle (see the module comment); `name` (the file) appears in errors. */
export function readPickle(bytes: Uint8Array, name: string): PickleValue {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: StackItem[] = [];
  const memo = new Map<number, StackItem>();
  let pos = 0;
  let op = 0;
  const fail = (msg: string): never => {
    throw new Error(`${name}: not a pickle this reader understands (byte ${pos}, opcode 0x${op.toString(16)}): ${msg}`);
  };
  const need = (n: number): void => {
    if (pos + n > bytes.length) fail('truncated');
  };
  const u8 = (): number => (need(1), bytes[pos++]!);
  const u16 = (): number => (need(2), (pos += 2), view.getUint16(pos - 2, true));
  const u32 = (): number => (need(4), (pos += 4), view.getUint32(pos - 4, true));
  const i32 = (): number => (need(4), (pos += 4), view.getInt32(pos - 4, true));
  const take = (n: number): Uint8Array => (need(n), (pos += n), bytes.subarray(pos - n, pos));
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail('unterminated line');
    const s = latin1(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const pop = (): StackItem => (stack.length === 0 ? fail('stack underflow') : stack.pop()!);
  const popValue = (): PickleValue => {
    const v = pop();
    if (v === MARK) return fail('unexpected mark');
    return v;
  };
  const popMark = (): PickleValue[] => {
    const at = stack.lastIndexOf(MARK);
    if (at < 0) fail('no mark');
    return stack.splice(at).slice(1) as PickleValue[];
  };
  const top = (): StackItem => (stack.length === 0 ? fail('stack underflow') : stack[stack.length - 1]!);
  const setItems = (target: StackItem, pairs: PickleValue[]): void => {
    if (!(target instanceof Map)) fail('SETITEM on a non-dict');
    for (let i = 0; i + 1 < pairs.length; i += 2) (target as Map<string, PickleValue>).set(keyOf(pairs[i]!, fail), pairs[i + 1]!);
  };
  const append = (target: StackItem, items: PickleValue[]): void => {
    if (!Array.isArray(target)) fail('APPEND on a non-list');
    (target as PickleValue[]).push(...items);
  };

  for (;;) {
    op = u8();
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 4) fail('protocol above 4');
        break;
      case 0x95: // FRAME (protocol 4): the framing is ignorable
        take(8);
        break;
      case 0x2e: {
        // STOP
        const v = popValue();
        return v;
      }
      case 0x28:
        stack.push(MARK);
        break; // MARK
      case 0x7d:
        stack.push(new Map());
        break; // EMPTY_DICT
      case 0x5d:
        stack.push([]);
        break; // EMPTY_LIST
      case 0x29:
        stack.push([]);
        break; // EMPTY_TUPLE
      case 0x4e:
        stack.push(null);
        break; // NONE
      case 0x88:
        stack.push(true);
        break; // NEWTRUE
      case 0x89:
        stack.push(false);
        break; // NEWFALSE
      case 0x4b:
        stack.push(u8());
        break; // BININT1
      case 0x4d:
        stack.push(u16());
        break; // BININT2
      case 0x4a:
        stack.push(i32());
        break; // BININT
      case 0x8a: {
        // LONG1
        const b = take(u8());
        if (b.length > 6) fail('integer too large');
        let v = 0;
        for (let i = b.length - 1; i >= 0; i--) v = v * 256 + b[i]!;
        if (b.length > 0 && b[b.length - 1]! & 0x80) v -= 2 ** (8 * b.length);
        stack.push(v);
        break;
      }
      case 0x47:
        stack.push((need(8), (pos += 8), view.getFloat64(pos - 8, false)));
        break; // BINFLOAT
      case 0x55:
        stack.push(take(u8()));
        break; // SHORT_BINSTRING (Python 2 str)
      case 0x54:
        stack.push(take(u32()));
        break; // BINSTRING
      case 0x43:
        stack.push(take(u8()));
        break; // SHORT_BINBYTES
      case 0x42:
        stack.push(take(u32()));
        break; // BINBYTES
      case 0x58:
        stack.push(new TextDecoder('utf-8', { fatal: true }).decode(take(u32())));
        break; // BINUNICODE
      case 0x8c:
        stack.push(new TextDecoder('utf-8', { fatal: true }).decode(take(u8())));
        break; // SHORT_BINUNICODE
      case 0x71:
        memo.set(u8(), top());
        break; // BINPUT
      case 0x72:
        memo.set(u32(), top());
        break; // LONG_BINPUT
      case 0x94:
        memo.set(memo.size, top());
        break; // MEMOIZE
      case 0x68:
      case 0x6a: {
        // BINGET, LONG_BINGET
        const k = op === 0x68 ? u8() : u32();
        if (!memo.has(k)) fail(`memo ${k} not set`);
        stack.push(memo.get(k)!);
        break;
      }
      case 0x74:
        stack.push(popMark());
        break; // TUPLE
      case 0x85:
        stack.push([popValue()]);
        break; // TUPLE1
      case 0x86: {
        const b = popValue();
        stack.push([popValue(), b]);
        break;
      } // TUPLE2
      case 0x87: {
        const c = popValue();
        const b = popValue();
        stack.push([popValue(), b, c]);
        break;
      } // TUPLE3
      case 0x6c:
        stack.push(popMark());
        break; // LIST
      case 0x64: {
        const d = new Map<string, PickleValue>();
        setItems(d, popMark());
        stack.push(d);
        break;
      } // DICT
      case 0x61: {
        const v = popValue();
        append(top(), [v]);
        break;
      } // APPEND
      case 0x65: {
        const items = popMark();
        append(top(), items);
        break;
      } // APPENDS
      case 0x73: {
        const v = popValue();
        const k = popValue();
        setItems(top(), [k, v]);
        break;
      } // SETITEM
      case 0x75: {
        const items = popMark();
        setItems(top(), items);
        break;
      } // SETITEMS
      case 0x63: {
        // GLOBAL
        const g = `${line()} ${line()}`;
        if (!(g in GLOBALS)) fail(`global ${g.replace(' ', '.')} is not allowed`);
        stack.push({ kind: 'global', name: g });
        break;
      }
      case 0x52: {
        // REDUCE
        const args = popValue();
        const f = popValue();
        const call = isObject(f) && f.kind === 'global' ? GLOBALS[f.name!] : undefined;
        if (call === undefined || !Array.isArray(args)) return fail('REDUCE needs a callable global and a tuple');
        try {
          stack.push(call(args));
        } catch (err) {
          fail((err as Error).message);
        }
        break;
      }
      case 0x62: {
        // BUILD
        const state = popValue();
        const obj = top();
        build(obj, state, fail);
        if (isObject(obj) && obj.kind === 'reconstruct') stack[stack.length - 1] = obj.array!;
        break;
      }
      default:
        fail('unknown opcode');
    }
  }
}

/** BUILD on a numpy dtype (state (3, '|', …)) or array (state (1, shape, dtype, fortran, data)). */
function build(obj: StackItem, state: PickleValue, fail: (m: string) => never): void {
  if (!isObject(obj) || !Array.isArray(state)) return fail('BUILD on an object this reader does not know');
  if (obj.kind === 'dtype') return; // byte order and flags: only single-byte dtypes are used here
  const [, shape, dtype, fortran, data] = state;
  if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'number')) return fail('array shape');
  if (!isObject(dtype) || dtype.kind !== 'dtype' || dtype.dtype === undefined) return fail('array dtype');
  if (fortran !== false && fortran !== 0) return fail('Fortran-order arrays are not supported');
  if (!(data instanceof Uint8Array)) return fail('array data is not bytes');
  obj.array = { kind: 'ndarray', shape: shape as number[], dtype: dtype.dtype, data };
}

function isObject(v: StackItem | undefined): v is PickleObject {
  return typeof v === 'object' && v !== null && 'kind' in v && v.kind !== 'ndarray';
}

function keyOf(k: PickleValue, fail: (m: string) => never): string {
  if (typeof k === 'string') return k;
  if (k instanceof Uint8Array) return latin1(k);
  if (typeof k === 'number') return String(k);
  return fail('dict key is not a string');
}

function asText(v: PickleValue | undefined): string {
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return latin1(v);
  throw new Error('expected a string');
}

function latin1(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
}

function latin1Bytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 255) throw new Error('_codecs.encode: character above U+00FF');
    out[i] = c;
  }
  return out;
}

/** Text of a pickled string (Python 2 `str` bytes decoded as UTF-8, or a unicode string). */
export function pickleText(v: PickleValue | undefined): string | undefined {
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return new TextDecoder().decode(v);
  return undefined;
}
