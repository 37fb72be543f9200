/**
 * A small ONNX graph builder on top of `onnx-proto`.
 *
 * Used for three things: the compute graphs behind the heavy linear algebra, graph surgery on
 * existing models (see `surgery.ts`), and the tiny test models the project generates.
 */
import { readFileSync, statSync } from 'node:fs';
import onnxProto from 'onnx-proto';

export const onnx = onnxProto.onnx;
export type ModelProto = onnxProto.onnx.ModelProto;

/** ONNX element types used in this project (values of `TensorProto.DataType`). */
export const DType = {
  float32: 1,
  uint8: 2,
  int8: 3,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
} as const;
export type DTypeName = keyof typeof DType;

/** A dimension: a fixed size, or a symbolic name for a size known only at run time. */
export type Dim = number | string;

/** A typed attribute value, so ints and floats are never confused. */
export type Attr =
  | { kind: 'f'; value: number }
  | { kind: 'i'; value: number }
  | { kind: 's'; value: string }
  | { kind: 'floats'; value: number[] }
  | { kind: 'ints'; value: number[] }
  | { kind: 't'; value: onnxProto.onnx.ITensorProto };

/** Attribute constructors: `attr.i(1)`, `attr.f(0.5)`, `attr.ints([0, 1])` … */
export const attr = {
  f: (value: number): Attr => ({ kind: 'f', value }),
  i: (value: number): Attr => ({ kind: 'i', value }),
  s: (value: string): Attr => ({ kind: 's', value }),
  floats: (value: number[]): Attr => ({ kind: 'floats', value }),
  ints: (value: number[]): Attr => ({ kind: 'ints', value }),
  t: (value: onnxProto.onnx.ITensorProto): Attr => ({ kind: 't', value }),
};

const AttrType = onnx.AttributeProto.AttributeType;

function toAttributeProto(name: string, a: Attr): onnxProto.onnx.IAttributeProto {
  switch (a.kind) {
    case 'f':
      return { name, type: AttrType.FLOAT, f: a.value };
    case 'i':
      return { name, type: AttrType.INT, i: a.value };
    case 's':
      return { name, type: AttrType.STRING, s: new TextEncoder().encode(a.value) };
    case 'floats':
      return { name, type: AttrType.FLOATS, floats: a.value };
    case 'ints':
      return { name, type: AttrType.INTS, ints: a.value };
    case 't':
      return { name, type: AttrType.TENSOR, t: a.value };
  }
}

/** Typed arrays accepted as tensor data. */
export type TensorData = Float32Array | Int32Array | BigInt64Array | Uint8Array | Int8Array | Uint16Array;

/** A TensorProto holding `data` (raw little-endian bytes) with the given dims. */
export function tensorProto(name: string, dtype: DTypeName, dims: number[], data: TensorData): onnxProto.onnx.ITensorProto {
  const expected = dims.reduce((a, b) => a * b, 1);
  if (data.length !== expected) {
    throw new Error(`tensor ${name}: ${data.length} values for dims [${dims.join(', ')}] (expected ${expected})`);
  }
  const raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return { name, dataType: DType[dtype], dims, rawData: raw.slice() };
}

function valueInfo(name: string, dtype: DTypeName | undefined, shape: Dim[] | undefined): onnxProto.onnx.IValueInfoProto {
  if (dtype === undefined) return { name };
  const tensorType: onnxProto.onnx.TypeProto.ITensor = { elemType: DType[dtype] };
  if (shape) {
    tensorType.shape = { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) };
  }
  return { name, type: { tensorType } };
}

/**
 * Builds one ONNX graph node by node. Every `node` call returns the names of its outputs,
 * which are fresh unless given, so expressions compose: `b.op('Relu', [b.op('MatMul', [x, w])])`.
 */
export class GraphBuilder {
  private readonly nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly inputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly outputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  private counter = 0;

  constructor(
    readonly name: string,
    readonly opset = 17,
  ) {}

  /** Declares a graph input and returns its name. */
  input(name: string, dtype: DTypeName, shape: Dim[]): string {
    this.inputs.push(valueInfo(name, dtype, shape));
    return name;
  }

  /** Declares `name` (an existing value) as a graph output. */
  output(name: string, dtype?: DTypeName, shape?: Dim[]): void {
    this.outputs.push(valueInfo(name, dtype, shape));
  }

  /** Adds a constant tensor (an initializer) and returns its name. */
  initializer(name: string, dtype: DTypeName, dims: number[], data: TensorData): string {
    this.initializers.push(tensorProto(name, dtype, dims, data));
    return name;
  }

  /** A float32 constant of any shape (scalars: dims = []). */
  constF32(values: number[] | Float32Array, dims: number[] = [values.length], name = this.fresh('c')): string {
    return this.initializer(name, 'float32', dims, Float32Array.from(values));
  }

  /**
   * A float32 constant holding the transpose (C×R) of the R×C row-major matrix `a`: the right
   * operand of a MatMul by Wᵀ.
   */
  constF32Transposed(a: Float32Array, rows: number, cols: number, name = this.fresh('c')): string {
    if (a.length !== rows * cols) throw new Error(`${this.name}: ${name} has ${a.length} values, expected ${rows}×${cols}`);
    const t = new Float32Array(rows * cols);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = a[r * cols + c]!;
    return this.initializer(name, 'float32', [cols, rows], t);
  }

  /** An int64 constant (shapes, axes), 1-D unless dims are given. */
  constI64(values: number[], dims: number[] = [values.length], name = this.fresh('c')): string {
    return this.initializer(name, 'int64', dims, BigInt64Array.from(values.map((v) => BigInt(v))));
  }

  /** Adds a node with `nOutputs` outputs; returns their names. */
  node(opType: string, inputs: string[], attrs: Record<string, Attr> = {}, outputs: number | string[] = 1, domain = ''): string[] {
    const outNames = typeof outputs === 'number' ? Array.from({ length: outputs }, () => this.fresh(opType)) : outputs;
    this.nodes.push({
      opType,
      domain,
      name: this.fresh(`${opType}_node`),
      input: inputs,
      output: outNames,
      attribute: Object.entries(attrs).map(([k, v]) => toAttributeProto(k, v)),
    });
    return outNames;
  }

  /** A single-output node; returns the output's name (fresh, or `out` when given). */
  op(opType: string, inputs: string[], attrs: Record<string, Attr> = {}, out?: string): string {
    return this.node(opType, inputs, attrs, out === undefined ? 1 : [out])[0]!;
  }

  /** A fresh value name with the given prefix. */
  fresh(prefix: string): string {
    this.counter += 1;
    return `${prefix}_${this.counter}`;
  }

  /** The finished model. */
  toModel(): ModelProto {
    return onnx.ModelProto.create({
      irVersion: 8,
      producerName: 'salf-cbm',
      opsetImport: [{ domain: '', version: this.opset }],
      graph: {
        name: this.name,
        node: this.nodes,
        input: this.inputs,
        output: this.outputs,
        initializer: this.initializers,
      },
    });
  }

  /** The finished model, serialised. */
  toBytes(): Uint8Array {
    return onnx.ModelProto.encode(this.toModel()).finish();
  }
}

/** Serialises a model. */
export function encodeModel(model: ModelProto): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

/**
 * Parses ONNX bytes; `source` names the file in errors. Throws a clear error for data that is
 * not an ONNX model.
 */
export function decodeModel(bytes: Uint8Array, source = 'model'): ModelProto {
  let model: ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw new Error(`${source}: not an ONNX model (${(err as Error).message})`);
  }
  if (!model.graph || (model.graph.node ?? []).length === 0) {
    throw new Error(`${source}: not an ONNX model (no graph nodes found)`);
  }
  return model;
}

/**
 * Reads an ONNX file's bytes; errors name the file and say what it was meant to be
 * (`<path>: <what> file not found`, `<path>: cannot read the <what> (…)`).
 */
export function readOnnxFile(path: string, what: string): Uint8Array {
  try {
    if (statSync(path).isDirectory()) throw new Error('is a folder, not an .onnx file');
    return readFileSync(path);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(`${path}: ${e.code === 'ENOENT' ? `${what} file not found` : `cannot read the ${what} (${e.message})`}`);
  }
}
