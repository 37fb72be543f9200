/**
 * Class activation maps for backbones whose classifier is a global average pool followed by a
 * linear layer (ResNets, the proving ground's CNN): logits = W · mean_{h,w} F + b, so
 *
 *   CAM_c(h, w) = Σ_d W[c, d] · F[d, h, w]          and  mean_{h,w} CAM_c + b_c = logit_c.
 *
 * Grad-CAM on the last feature map needs no gradients here: ∂logit_c/∂F[d,h,w] = W[c,d]/(h·w),
 * so its channel weights are W[c,:]/(h·w) and its map is ReLU(CAM_c)/(h·w). After the per-image
 * min–max normalisation of the segmentation protocol the scale is irrelevant: the `cam` method
 * (default `relu: true`) is Grad-CAM's map; `relu: false` gives the original CAM.
 *
 * The head weights come from the backbone's ONNX graph ({@link headFromOnnx}: the node that
 * produces the logits must be a Gemm, or MatMul (+ Add), on the global average of the feature
 * tensor, through GlobalAveragePool or ReduceMean over the spatial axes and any
 * Flatten/Reshape/Squeeze/Identity), or from a safetensors file ({@link readHeadFile}: `weight`
 * [L, D] and optional `bias` [L]).
 */
import type onnxProto from 'onnx-proto';
import { GraphBuilder, attr, onnx, type ModelProto } from '../engine/onnx-builder.js';
import { dataF32, f32, type Engine } from '../engine/session.js';
import { readSafetensors } from '../models/safetensors.js';

type INodeProto = onnxProto.onnx.INodeProto;
type ITensorProto = onnxProto.onnx.ITensorProto;

/** A linear classifier on globally pooled features: logits = weight · pooled + bias. */
export interface LinearHead {
  /** L×D row-major. */
  weight: Float32Array;
  /** L. */
  bias: Float32Array;
  L: number;
  D: number;
  /** Where the weights came from (for reports). */
  source: string;
}

const PASS_THROUGH = new Set(['Identity', 'Flatten', 'Reshape', 'Squeeze', 'Dropout']);

/** A float32 constant of the graph (initializer or Constant node), or undefined. */
function constantOf(model: ModelProto, name: string): { data: Float32Array; dims: number[] } | undefined {
  const g = model.graph!;
  const init = (g.initializer ?? []).find((t) => t.name === name);
  if (init) return decodeFloatTensor(init, name);
  const node = (g.node ?? []).find((n) => (n.output ?? []).includes(name));
  if (node?.opType === 'Constant') {
    const value = (node.attribute ?? []).find((a) => a.name === 'value')?.t;
    if (value) return decodeFloatTensor(value, name);
  }
  if (node?.opType === 'Identity') return constantOf(model, node.input![0]!);
  return undefined;
}

function decodeFloatTensor(t: ITensorProto, name: string): { data: Float32Array; dims: number[] } {
  const dims = (t.dims ?? []).map(Number);
  const count = dims.reduce((a, b) => a * b, 1);
  if (t.dataType !== onnx.TensorProto.DataType.FLOAT) throw new Error(`tensor ${name}: the head weights must be float32 (ONNX data type ${t.dataType})`);
  let data: Float32Array;
  if (t.rawData && t.rawData.length > 0) {
    const raw = t.rawData;
    const copy = new Uint8Array(raw.length);
    copy.set(raw);
    data = new Float32Array(copy.buffer);
  } else {
    data = Float32Array.from(t.floatData ?? []);
  }
  if (data.length !== count) throw new Error(`tensor ${name}: ${data.length} values for dims [${dims.join(', ')}]`);
  return { data, dims };
}

function producer(model: ModelProto, name: string): INodeProto | undefined {
  return (model.graph!.node ?? []).find((n) => (n.output ?? []).includes(name));
}

function intsAttr(node: INodeProto, name: string): number[] | undefined {
  const a = (node.attribute ?? []).find((x) => x.name === name);
  return a ? (a.ints ?? []).map(Number) : undefined;
}

function numAttr(node: INodeProto, name: string, fallback: number): number {
  const a = (node.attribute ?? []).find((x) => x.name === name);
  if (!a) return fallback;
  return a.type === onnx.AttributeProto.AttributeType.FLOAT ? Number(a.f ?? fallback) : Number(a.i ?? fallback);
}

/**
 * Reads the linear head on globally pooled `featureTensor` that produces `logitsTensor` (see the
 * module comment). Throws an error naming `source` and what was found otherwise.
 */
export function headFromOnnx(model: ModelProto, logitsTensor: string, featureTensor: string, source: string): LinearHead {
  const fail = (why: string): never => {
    throw new Error(
      `${source}: cannot read a CAM head: ${why}. CAM needs logits = linear layer on the global average of ${featureTensor}; pass the weights as a safetensors file (weight [L, D], bias [L]) instead`,
    );
  };
  if (!model.graph) fail('the model has no graph');
  // Back from the logits through shape-only ops to the linear layer.
  let name = logitsTensor;
  let node = producer(model, name);
  while (node && PASS_THROUGH.has(node.opType ?? '')) {
    name = node.input![0]!;
    node = producer(model, name);
  }
  if (!node) return fail(`no node produces ${logitsTensor}`);
  let W: Float32Array; // L×D
  let bias: Float32Array | undefined;
  let L: number;
  let D: number;
  let x: string;
  if (node.opType === 'Gemm') {
    if (numAttr(node, 'transA', 0) !== 0) fail(`the Gemm ${node.name ?? ''} transposes its input`);
    const B = constantOf(model, node.input![1]!);
    if (!B || B.dims.length !== 2) return fail(`the Gemm ${node.name ?? ''} has no constant 2-D weight`);
    const alpha = numAttr(node, 'alpha', 1);
    const beta = numAttr(node, 'beta', 1);
    const transB = numAttr(node, 'transB', 0) !== 0;
    [L, D] = transB ? [B.dims[0]!, B.dims[1]!] : [B.dims[1]!, B.dims[0]!];
    W = new Float32Array(L * D);
    for (let l = 0; l < L; l++) for (let d = 0; d < D; d++) W[l * D + d] = alpha * B.data[transB ? l * D + d : d * L + l]!;
    const C = node.input![2] ? constantOf(model, node.input![2]) : undefined;
    if (node.input![2] && !C) fail(`the Gemm ${node.name ?? ''} has a non-constant bias`);
    if (C) bias = C.data.map((v) => beta * v);
    x = node.input![0]!;
  } else {
    let matmul = node;
    if (node.opType === 'Add') {
      const [a, b] = node.input!;
      const ca = constantOf(model, a!);
      const cb = constantOf(model, b!);
      const biasC = ca ?? cb;
      const other = ca ? b! : a!;
      if (!biasC) return fail(`the Add ${node.name ?? ''} before the logits has no constant bias`);
      bias = biasC.data;
      const m = producer(model, other);
      if (!m || m.opType !== 'MatMul') return fail(`the logits come from ${node.opType} of ${m?.opType ?? 'a graph input'}, not a linear layer`);
      matmul = m;
    }
    if (matmul.opType !== 'MatMul') return fail(`the logits come from a ${matmul.opType} node, not Gemm or MatMul (+ Add)`);
    const B = constantOf(model, matmul.input![1]!);
    if (!B || B.dims.length !== 2) return fail(`the MatMul ${matmul.name ?? ''} has no constant 2-D weight`);
    [D, L] = [B.dims[0]!, B.dims[1]!];
    W = new Float32Array(L * D);
    for (let l = 0; l < L; l++) for (let d = 0; d < D; d++) W[l * D + d] = B.data[d * L + l]!;
    x = matmul.input![0]!;
  }
  if (bias && bias.length !== L) fail(`the bias has ${bias.length} values for ${L} classes`);

  // Back from the linear layer's input to the global average pool of the feature tensor.
  let pool = producer(model, x);
  while (pool && PASS_THROUGH.has(pool.opType ?? '')) pool = producer(model, pool.input![0]!);
  if (!pool) return fail(`the linear layer reads a graph input, not a pooled ${featureTensor}`);
  let pooledFrom: string;
  if (pool.opType === 'GlobalAveragePool') {
    pooledFrom = pool.input![0]!;
  } else if (pool.opType === 'ReduceMean') {
    let axes = intsAttr(pool, 'axes');
    if (!axes && pool.input![1]) axes = Array.from(constantOfInts(model, pool.input![1]) ?? []);
    const spatial =
      axes && axes.length === 2 && axes.every((a) => a === 2 || a === 3 || a === -1 || a === -2) && new Set(axes.map((a) => (a < 0 ? a + 4 : a))).size === 2;
    if (!spatial) return fail(`the ReduceMean ${pool.name ?? ''} before the linear layer does not average over the two spatial axes`);
    pooledFrom = pool.input![0]!;
  } else {
    return fail(`the linear layer's input comes from a ${pool.opType} node, not GlobalAveragePool or ReduceMean`);
  }
  let src = producer(model, pooledFrom);
  while (pooledFrom !== featureTensor && src?.opType === 'Identity') {
    pooledFrom = src.input![0]!;
    src = producer(model, pooledFrom);
  }
  if (pooledFrom !== featureTensor) fail(`the pooled tensor is ${pooledFrom}, not the feature tensor ${featureTensor}`);
  return { weight: W, bias: bias ? Float32Array.from(bias) : new Float32Array(L), L, D, source: `${source} (${node.opType} on the pooled ${featureTensor})` };
}

function constantOfInts(model: ModelProto, name: string): number[] | undefined {
  const init = (model.graph!.initializer ?? []).find((t) => t.name === name);
  const node = producer(model, name);
  const t = init ?? (node?.opType === 'Constant' ? ((node.attribute ?? []).find((a) => a.name === 'value')?.t ?? undefined) : undefined);
  if (!t) return undefined;
  if (t.rawData && t.rawData.length > 0) {
    const copy = new Uint8Array(t.rawData.length);
    copy.set(t.rawData);
    return Array.from(new BigInt64Array(copy.buffer), Number);
  }
  return (t.int64Data ?? []).map(Number);
}

/** Reads a head from a safetensors file holding `weight` [L, D] and optionally `bias` [L]. */
export function readHeadFile(path: string): LinearHead {
  const { tensors } = readSafetensors(path);
  const w = tensors.weight;
  if (!w || w.shape.length !== 2) throw new Error(`${path}: expected a tensor "weight" of shape [L, D] (found ${Object.keys(tensors).join(', ') || 'none'})`);
  const [L, D] = w.shape as [number, number];
  const b = tensors.bias;
  if (b && (b.shape.length !== 1 || b.shape[0] !== L)) throw new Error(`${path}: "bias" has shape [${b.shape.join(', ')}]; expected [${L}]`);
  return { weight: w.data, bias: b ? b.data : new Float32Array(L), L, D, source: path };
}

/**
 * Logits of every class at every position, n×P×L, for channels-last features n×P×D:
 * `maps[i, p, c] = Σ_d W[c, d] F[i, p, d]` (one ONNX MatMul, cached under `head` in `engine`
 * until `engine.evict(head)`).
 */
export async function allClassMaps(engine: Engine, head: LinearHead, F: Float32Array, n: number, P: number): Promise<Float32Array> {
  const { L, D } = head;
  if (F.length !== n * P * D) throw new Error(`CAM: features have ${F.length} values, expected ${n}×${P}×${D} (the head has D = ${D})`);
  const session = await engine.cached(head, `eval-cam:${P}`, () => {
    const b = new GraphBuilder('eval_cam');
    const x = b.input('features', 'float32', ['n', P, D]);
    b.op('MatMul', [x, b.constF32Transposed(head.weight, L, D)], {}, 'cam');
    b.output('cam', 'float32', ['n', P, L]);
    return b.toBytes();
  });
  const out = await session.run({ features: f32(F, [n, P, D]) });
  return dataF32(out.cam!, 'class maps');
}

/** The head's logits on pooled features X (n×D → n×L), one ONNX Gemm (cached under `head`, as allClassMaps). */
export async function headLogits(engine: Engine, head: LinearHead, X: Float32Array, n: number): Promise<Float32Array> {
  const { L, D } = head;
  if (X.length !== n * D) throw new Error(`head logits: ${X.length} values, expected ${n}×${D}`);
  const session = await engine.cached(head, 'eval-head', () => {
    const b = new GraphBuilder('eval_head');
    const x = b.input('pooled', 'float32', ['n', D]);
    b.op('Gemm', [x, b.constF32(head.weight, [L, D]), b.constF32(head.bias, [L])], { transB: attr.i(1) }, 'logits');
    b.output('logits', 'float32', ['n', L]);
    return b.toBytes();
  });
  const out = await session.run({ pooled: f32(X, [n, D]) });
  return dataF32(out.logits!, 'head logits');
}

/** The head's logits from all-class maps (mean over positions plus bias), n×L. */
export function logitsFromClassMaps(head: LinearHead, maps: Float32Array, n: number, P: number): Float32Array {
  const { L } = head;
  const out = new Float32Array(n * L);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < L; c++) {
      let s = 0;
      for (let p = 0; p < P; p++) s += maps[(i * P + p) * L + c]!;
      out[i * L + c] = s / P + head.bias[c]!;
    }
  }
  return out;
}

/** The map of class `c` of image `i` from all-class maps (P values), ReLU'd when `relu`. */
export function camOf(maps: Float32Array, i: number, P: number, L: number, c: number, relu = true): Float32Array {
  const out = new Float32Array(P);
  for (let p = 0; p < P; p++) {
    const v = maps[(i * P + p) * L + c]!;
    out[p] = relu && v < 0 ? 0 : v;
  }
  return out;
}
