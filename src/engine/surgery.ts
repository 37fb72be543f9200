/**
 * Graph surgery on existing ONNX models: expose internal tensors as outputs, list tensors for
 * help texts, and append nodes (with their constants) to a model without touching its
 * original nodes.
 *
 * Every function returns a new ModelProto and leaves its argument unchanged; the new model
 * shares the (possibly large) initializer buffers with the old one, nothing is deep-copied.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import onnxProto from 'onnx-proto';
import { closestNames } from '../closest-names.js';
import { onnx, type ModelProto } from './onnx-builder.js';

type INodeProto = onnxProto.onnx.INodeProto;
type ITensorProto = onnxProto.onnx.ITensorProto;
type IValueInfoProto = onnxProto.onnx.IValueInfoProto;
type IGraphProto = onnxProto.onnx.IGraphProto;

/** One tensor of a model: its name and the op that produces it (`input` for graph inputs). */
export interface TensorInfo {
  name: string;
  op: string;
}

function graphOf(model: ModelProto, source: string): IGraphProto {
  if (!model.graph) throw new Error(`${source}: the ONNX model has no graph`);
  return model.graph;
}

/** A shallow copy of `model` whose graph is replaced by `graph` (a partial override). */
function withGraph(model: ModelProto, graph: Partial<IGraphProto>): ModelProto {
  const g = Object.assign(onnx.GraphProto.create(), model.graph ?? {}, graph);
  return Object.assign(onnx.ModelProto.create(), model, { graph: g });
}

/** Names of the initializers (constants) of a graph. */
function initializerNames(graph: IGraphProto): Set<string> {
  return new Set((graph.initializer ?? []).map((t) => t.name ?? ''));
}

/**
 * Every tensor a model computes, in graph order: the graph inputs that are not initializers
 * (op `input`), then each node output with its op type. Useful to pick a feature tensor.
 */
export function listTensors(model: ModelProto): TensorInfo[] {
  const graph = model.graph;
  if (!graph) return [];
  const inits = initializerNames(graph);
  const out: TensorInfo[] = [];
  for (const i of graph.input ?? []) {
    if (i.name && !inits.has(i.name)) out.push({ name: i.name, op: 'input' });
  }
  for (const n of graph.node ?? []) {
    for (const o of n.output ?? []) if (o) out.push({ name: o, op: n.opType ?? '?' });
  }
  return out;
}

/** The `k` tensor names closest to `name` (substring matches first, then by edit distance). */
export function closestTensorNames(model: ModelProto, name: string, k = 5): string[] {
  return closestNames(
    listTensors(model).map((t) => t.name),
    name,
    k,
  );
}

/**
 * Throws a clear error unless every name is a tensor of the model (a node output or a graph
 * input); the message names `source` and suggests the closest existing names.
 */
export function assertTensorsExist(model: ModelProto, names: string[], source: string): void {
  const known = new Set(listTensors(model).map((t) => t.name));
  for (const name of names) {
    if (known.has(name)) continue;
    const near = closestTensorNames(model, name);
    const hint = near.length ? ` Closest tensor names: ${near.map((s) => JSON.stringify(s)).join(', ')}.` : '';
    throw new Error(`${source}: no tensor named ${JSON.stringify(name)} in the model.${hint} (list them all with listTensors / the CLI's tensors command)`);
  }
}

/**
 * Adds internal tensors (node outputs or graph inputs) as extra graph outputs, after the
 * existing ones. Names that are already outputs are left as they are (idempotent). Type
 * information is copied from the graph's value_info when present; ONNX Runtime infers it
 * otherwise. Unknown names throw an error naming `source` with suggestions.
 */
export function exposeTensors(model: ModelProto, names: string[], source: string): ModelProto {
  const graph = graphOf(model, source);
  assertTensorsExist(model, names, source);
  const outputs = [...(graph.output ?? [])];
  const have = new Set(outputs.map((o) => o.name));
  const infos = new Map<string, IValueInfoProto>();
  for (const v of [...(graph.valueInfo ?? []), ...(graph.input ?? [])]) if (v.name) infos.set(v.name, v);
  for (const name of names) {
    if (have.has(name)) continue;
    have.add(name);
    outputs.push(infos.get(name) ?? { name });
  }
  return withGraph(model, { output: outputs });
}

/**
 * Replaces the graph outputs by exactly `names` (in that order), so ONNX Runtime computes only
 * what they need. Each name must be a tensor of the model.
 */
export function setOutputs(model: ModelProto, names: string[], source: string): ModelProto {
  const exposed = exposeTensors(model, names, source);
  const byName = new Map((exposed.graph?.output ?? []).map((o) => [o.name ?? '', o]));
  return withGraph(exposed, { output: names.map((n) => byName.get(n)!) });
}

/** The default-domain (`''` or `ai.onnx`) opset version a model imports, or undefined. */
export function defaultOpset(model: ModelProto): number | undefined {
  const e = (model.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx');
  return e?.version === undefined || e.version === null ? undefined : Number(e.version);
}

/** What `appendNodes` adds to a model. */
export interface AppendSpec {
  /** Nodes in topological order; they may read any tensor of the model and each other. */
  nodes: INodeProto[];
  /** Constants the nodes read. */
  initializers?: ITensorProto[];
  /** The graph outputs of the result; the existing outputs are kept when omitted. */
  outputs?: IValueInfoProto[];
  /**
   * Lowest default-domain opset the added ops need. A model importing less is bumped to it
   * (ops whose semantics changed across versions may then misbehave, so keep this low).
   */
  minOpset?: number;
}

/**
 * Appends nodes and constants to a model. New value names must not clash with the model's
 * existing tensor or initializer names (an error naming `source` otherwise).
 */
export function appendNodes(model: ModelProto, spec: AppendSpec, source: string): ModelProto {
  const graph = graphOf(model, source);
  const taken = new Set([...listTensors(model).map((t) => t.name), ...initializerNames(graph)]);
  const fresh = [...(spec.initializers ?? []).map((t) => t.name ?? ''), ...spec.nodes.flatMap((n) => n.output ?? [])];
  for (const name of fresh) {
    if (taken.has(name)) throw new Error(`${source}: cannot add tensor ${JSON.stringify(name)}: the model already has one with that name`);
    taken.add(name);
  }
  let opsetImport = model.opsetImport ?? [];
  const current = defaultOpset(model);
  if (spec.minOpset !== undefined && (current === undefined || current < spec.minOpset)) {
    opsetImport = [...opsetImport.filter((o) => o.domain && o.domain !== 'ai.onnx'), { domain: '', version: spec.minOpset }];
  }
  // Before IR version 4 every initializer must also be declared as a graph input.
  const newInits = spec.initializers ?? [];
  const extraInputs: IValueInfoProto[] =
    Number(model.irVersion ?? 0) < 4
      ? newInits.map((t) => ({ name: t.name, type: { tensorType: { elemType: t.dataType, shape: { dim: (t.dims ?? []).map((d) => ({ dimValue: d })) } } } }))
      : [];
  const updated = withGraph(model, {
    node: [...(graph.node ?? []), ...spec.nodes],
    initializer: [...(graph.initializer ?? []), ...newInits],
    input: [...(graph.input ?? []), ...extraInputs],
    output: spec.outputs ?? graph.output ?? [],
  });
  updated.opsetImport = opsetImport;
  return updated;
}

/**
 * Loads initializers stored as ONNX external data (files beside the model) into the model
 * itself, so it can be re-serialised and opened from bytes. `modelPath` locates the files.
 */
export function inlineExternalData(model: ModelProto, modelPath: string): ModelProto {
  const graph = graphOf(model, modelPath);
  const EXTERNAL = onnx.TensorProto.DataLocation.EXTERNAL;
  const inits = graph.initializer ?? [];
  if (!inits.some((t) => t.dataLocation === EXTERNAL)) return model;
  const files = new Map<string, Uint8Array>();
  const initializer = inits.map((t) => {
    if (t.dataLocation !== EXTERNAL) return t;
    const kv = new Map((t.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
    const location = kv.get('location');
    if (!location) throw new Error(`${modelPath}: initializer ${t.name} has external data without a location`);
    const file = isAbsolute(location) ? location : join(dirname(modelPath), location);
    let bytes = files.get(file);
    if (!bytes) {
      try {
        bytes = readFileSync(file);
      } catch (err) {
        throw new Error(`${modelPath}: external data file ${file} for initializer ${t.name} could not be read (${(err as Error).message})`);
      }
      files.set(file, bytes);
    }
    const offset = Number(kv.get('offset') ?? 0);
    const length = kv.has('length') ? Number(kv.get('length')) : bytes.length - offset;
    if (offset + length > bytes.length) throw new Error(`${modelPath}: external data for ${t.name} runs past the end of ${file}`);
    const copy = Object.assign(onnx.TensorProto.create(), t, {
      rawData: bytes.subarray(offset, offset + length),
      dataLocation: onnx.TensorProto.DataLocation.DEFAULT,
      externalData: [],
    });
    return copy;
  });
  return withGraph(model, { initializer });
}
