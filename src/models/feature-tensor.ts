/**
 * Finds a backbone's feature tensor (SPEC "Backbones") by reading its ONNX graph, so that a
 * user with a plain exported model need not name it:
 *
 * - CNNs: the last spatial map before global pooling, i.e. the input of the pooling node nearest
 *   the output: GlobalAveragePool / GlobalMaxPool, ReduceMean / ReduceMax over axes {2, 3}, or an
 *   AveragePool / MaxPool whose result is flattened (Flatten, Reshape, Squeeze) as torchvision's
 *   older exports write `avgpool` + `flatten`.
 * - ViTs: the patch tokens, i.e. the N×T×D tensor (usually the final LayerNorm's output) from
 *   which the classifier takes the CLS token, by a Gather or Slice of index 0 on axis 1; the CLS
 *   token is then dropped. A mean over the tokens (ReduceMean over axis 1) marks a ViT without a
 *   CLS token.
 *
 * The search is static (no run); `Backbone.load` then checks the shape when it probes the model.
 */
import type onnxProto from 'onnx-proto';
import { decodeModel, onnx, readOnnxFile, type ModelProto } from '../engine/onnx-builder.js';
import type { BackboneConfig } from './backbone.js';

type INodeProto = onnxProto.onnx.INodeProto;
type ITensorProto = onnxProto.onnx.ITensorProto;

/** The feature tensor chosen for a backbone, and why. */
export interface FeatureTensorChoice {
  /** Name of the tensor. */
  featureTensor: string;
  layout: BackboneConfig['layout'];
  /** Tokens only: `drop` when the model reads a CLS token, `none` when it averages the tokens. */
  cls?: 'none' | 'drop';
  /** The node the choice rests on: its name (or output) and op type. */
  node: { name: string; op: string };
  /** One sentence saying why this tensor, for `tensors` and error messages. */
  reason: string;
}

/** Integer values of a constant tensor (int64 or int32, raw bytes or typed fields). */
function intValues(t: ITensorProto): number[] {
  const type = t.dataType;
  if (t.rawData && t.rawData.length > 0) {
    const raw = t.rawData;
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    if (type === onnx.TensorProto.DataType.INT64) return Array.from({ length: raw.length / 8 }, (_, i) => Number(view.getBigInt64(i * 8, true)));
    if (type === onnx.TensorProto.DataType.INT32) return Array.from({ length: raw.length / 4 }, (_, i) => view.getInt32(i * 4, true));
    return [];
  }
  if (type === onnx.TensorProto.DataType.INT64) return (t.int64Data ?? []).map(Number);
  if (type === onnx.TensorProto.DataType.INT32) return (t.int32Data ?? []).map(Number);
  return [];
}

/** Reads a graph's constants (initializers and Constant nodes) and node wiring. */
class GraphIndex {
  private readonly constants = new Map<string, ITensorProto>();
  private readonly consumers = new Map<string, INodeProto[]>();

  constructor(
    readonly nodes: INodeProto[],
    initializers: ITensorProto[],
  ) {
    for (const t of initializers) if (t.name) this.constants.set(t.name, t);
    for (const n of nodes) {
      if (n.opType === 'Constant') {
        const value = (n.attribute ?? []).find((a) => a.name === 'value')?.t;
        const ints = (n.attribute ?? []).find((a) => a.name === 'value_ints' || a.name === 'value_int');
        const out = n.output?.[0];
        if (out && value) this.constants.set(out, value);
        else if (out && ints) {
          const v = ints.name === 'value_int' ? [Number(ints.i ?? 0)] : (ints.ints ?? []).map(Number);
          this.constants.set(out, { dataType: onnx.TensorProto.DataType.INT64, int64Data: v, dims: [v.length] });
        }
      }
      for (const i of n.input ?? []) if (i) (this.consumers.get(i) ?? this.consumers.set(i, []).get(i)!).push(n);
    }
  }

  /** Integer values of a constant input, or undefined when the tensor is computed. */
  ints(name: string | undefined): number[] | undefined {
    const t = name ? this.constants.get(name) : undefined;
    return t ? intValues(t) : undefined;
  }

  /** The nodes that read a tensor. */
  readers(name: string): INodeProto[] {
    return this.consumers.get(name) ?? [];
  }
}

function intAttr(n: INodeProto, name: string): number | undefined {
  const a = (n.attribute ?? []).find((x) => x.name === name);
  return a ? Number(a.i ?? 0) : undefined;
}

function intsAttr(n: INodeProto, name: string): number[] | undefined {
  const a = (n.attribute ?? []).find((x) => x.name === name);
  return a ? (a.ints ?? []).map(Number) : undefined;
}

/** The reduction axes of a ReduceMean/ReduceMax: attribute (opset < 18) or second input. */
function reduceAxes(n: INodeProto, g: GraphIndex): number[] | undefined {
  return intsAttr(n, 'axes') ?? g.ints(n.input?.[1]);
}

const sameSet = (a: number[], b: number[]): boolean => a.length === b.length && b.every((x) => a.includes(x));
const FLATTENING = new Set(['Flatten', 'Reshape', 'Squeeze']);

/** What one node says about the feature tensor, if it is a pooling or CLS-selecting node. */
function classify(n: INodeProto, g: GraphIndex): Omit<FeatureTensorChoice, 'node'> | undefined {
  const op = n.opType ?? '';
  const input = n.input?.[0];
  if (!input) return undefined;
  const label = `${op} node ${JSON.stringify(n.name || n.output?.[0] || '?')}`;
  if (op === 'GlobalAveragePool' || op === 'GlobalMaxPool') {
    return { featureTensor: input, layout: 'nchw', reason: `input of ${label}, the global pooling over the feature map's H×W nearest the output` };
  }
  if (op === 'ReduceMean' || op === 'ReduceMax') {
    const axes = reduceAxes(n, g);
    if (axes && (sameSet(axes, [2, 3]) || sameSet(axes, [-2, -1]))) {
      return { featureTensor: input, layout: 'nchw', reason: `input of ${label} over axes [${axes.join(', ')}] (H×W), the global pooling nearest the output` };
    }
    if (axes && sameSet(axes, [1])) {
      return {
        featureTensor: input,
        layout: 'tokens',
        cls: 'none',
        reason: `input of ${label} over axis 1, a mean over the tokens (no CLS token) nearest the output`,
      };
    }
    return undefined;
  }
  if ((op === 'AveragePool' || op === 'MaxPool') && g.readers(n.output?.[0] ?? '').some((r) => FLATTENING.has(r.opType ?? ''))) {
    return { featureTensor: input, layout: 'nchw', reason: `input of ${label}, whose result is flattened for the classifier (pooling nearest the output)` };
  }
  if (op === 'Gather' && (intAttr(n, 'axis') ?? 0) === 1) {
    const idx = g.ints(n.input?.[1]);
    if (idx && idx.length === 1 && idx[0] === 0) {
      return {
        featureTensor: input,
        layout: 'tokens',
        cls: 'drop',
        reason: `input of ${label}, which takes token 0 (the CLS token) for the classifier: the patch tokens, CLS dropped`,
      };
    }
    return undefined;
  }
  if (op === 'Slice') {
    const starts = g.ints(n.input?.[1]);
    const ends = g.ints(n.input?.[2]);
    const axes = g.ints(n.input?.[3]);
    if (starts?.length === 1 && starts[0] === 0 && ends?.length === 1 && ends[0] === 1 && axes?.length === 1 && axes[0] === 1) {
      return {
        featureTensor: input,
        layout: 'tokens',
        cls: 'drop',
        reason: `input of ${label}, which slices token 0 (the CLS token) for the classifier: the patch tokens, CLS dropped`,
      };
    }
  }
  return undefined;
}

/**
 * The feature tensor of a backbone: the input of the pooling or CLS-selecting node nearest the
 * graph's output (see the file header). Throws, naming `source`, when the graph has none.
 */
export function findFeatureTensor(model: ModelProto, source: string): FeatureTensorChoice {
  const graph = model.graph;
  if (!graph) throw new Error(`${source}: the ONNX model has no graph`);
  const nodes = graph.node ?? [];
  const g = new GraphIndex(nodes, graph.initializer ?? []);
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i]!;
    const found = classify(n, g);
    if (found) return { ...found, node: { name: n.name || n.output?.[0] || '', op: n.opType ?? '' } };
  }
  throw new Error(
    `${source}: no feature tensor found automatically (no global pooling over H×W and no CLS-token selection in the graph); ` +
      'name it with --feature-tensor (list the candidates with `salf-cbm tensors`)',
  );
}

/** {@link findFeatureTensor} on an ONNX file (errors name the file). */
export function findFeatureTensorInFile(path: string): FeatureTensorChoice {
  return findFeatureTensor(decodeModel(readOnnxFile(path, 'backbone model'), path), path);
}
