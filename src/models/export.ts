/**
 * Single-file export: one ONNX model holding the frozen backbone, the resize of its feature map
 * to the grid, the concept bottleneck (1×1 conv), pooling, standardisation and the final layer,
 * with the outputs `logits` (N×L), `concept_maps` (N×M×Gh×Gw), `concept_activations` (c*, N×M)
 * and `concept_standardised` (ĉ, N×M). Its input is the backbone's image input (normalised
 * float32 NCHW pixels).
 *
 * A JSON sidecar beside it (`model.onnx` → `model.json`) holds the concepts, the classes and
 * the preprocessing; the same JSON is also stored in the model's metadata (key `salf_cbm`), so
 * the .onnx file alone is enough.
 *
 * The head is appended with ops valid at the backbone's own opset (see `salf-head.ts`): the
 * backbone's nodes are never re-interpreted under another opset, unless it is older than 7,
 * when it is raised to 7 (with a warning).
 */
import { basename } from 'node:path';
import type onnxProto from 'onnx-proto';
import { writeFileAtomic, writeJsonAtomic } from '../data/atomic-write.js';
import { DEFAULT_INTERPOLATION } from '../data/resize.js';
import { GraphBuilder, encodeModel, type ModelProto } from '../engine/onnx-builder.js';
import { appendNodes, defaultOpset, listTensors } from '../engine/surgery.js';
import { FEATURES_OUTPUT } from './backbone.js';
import type { SalfCbm, SalfCbmConfig } from './salf-cbm.js';
import { HEAD_MIN_OPSET, HEAD_OUTPUTS, addHeadNodes, type Pooling } from './salf-head.js';
import type { BackboneConfig } from './backbone.js';

/** Metadata key under which the sidecar JSON is also stored inside the ONNX file. */
export const EXPORT_METADATA_KEY = 'salf_cbm';

/** The JSON sidecar of an exported model. */
export interface ExportInfo {
  format: 'salf-cbm-onnx';
  version: 1;
  /** File name of the ONNX model the sidecar describes. */
  model: string;
  input: { name: string; shape: (number | string)[]; dtype: 'float32'; layout: 'NCHW'; channels: 'RGB' };
  /** Image → input: decode to RGB, resize/crop per `resize`, x/255, then (x − mean)/std per channel. */
  preprocess: BackboneConfig['preprocess'] & { scale: number; description: string };
  /** Output names and shapes. */
  outputs: Record<string, (number | string)[]>;
  concepts: string[];
  classes: string[];
  grid: [number, number];
  pooling: Pooling;
  featureDim: number;
  finalLayer: SalfCbmConfig['finalLayer'];
  backbone: { file: string; featureTensor: string; layout: BackboneConfig['layout']; cls?: BackboneConfig['cls'] };
  clip: SalfCbmConfig['clip'];
  /** Default-domain opset of the exported graph. */
  opset: number;
}

/** Where the sidecar of `onnxPath` lives: `x.onnx` → `x.json`. */
export function sidecarPath(onnxPath: string): string {
  return /\.onnx$/i.test(onnxPath) ? onnxPath.replace(/\.onnx$/i, '.json') : `${onnxPath}.json`;
}

type INodeProto = onnxProto.onnx.INodeProto;
type IGraphProto = onnxProto.onnx.IGraphProto;

/** Renames values in a graph and its subgraphs (If/Loop bodies); returns new objects. */
function renameInGraph(graph: IGraphProto, rename: (name: string) => string): IGraphProto {
  const node = (n: INodeProto): INodeProto => ({
    ...n,
    input: (n.input ?? []).map(rename),
    output: (n.output ?? []).map(rename),
    attribute: (n.attribute ?? []).map((a) => ({
      ...a,
      ...(a.g ? { g: renameInGraph(a.g, rename) } : {}),
      ...(a.graphs && a.graphs.length ? { graphs: a.graphs.map((g) => renameInGraph(g, rename)) } : {}),
    })),
  });
  const info = (v: onnxProto.onnx.IValueInfoProto) => ({ ...v, name: rename(v.name ?? '') });
  return {
    ...graph,
    node: (graph.node ?? []).map(node),
    input: (graph.input ?? []).map(info),
    output: (graph.output ?? []).map(info),
    valueInfo: (graph.valueInfo ?? []).map(info),
    initializer: (graph.initializer ?? []).map((t) => Object.assign(Object.create(Object.getPrototypeOf(t)), t, { name: rename(t.name ?? '') })),
  };
}

/**
 * Gives the backbone's tensors that carry one of `reserved` names a fresh name, so the export's
 * outputs can use them. Returns the model unchanged when nothing clashes.
 */
function freeNames(model: ModelProto, reserved: string[]): ModelProto {
  const taken = new Set([...listTensors(model).map((t) => t.name), ...(model.graph?.initializer ?? []).map((t) => t.name ?? '')]);
  const map = new Map<string, string>();
  for (const name of reserved) {
    if (!taken.has(name)) continue;
    let k = 0;
    let fresh = `salf_backbone_${name}`;
    while (taken.has(fresh)) fresh = `salf_backbone_${name}_${++k}`;
    taken.add(fresh);
    map.set(name, fresh);
  }
  if (map.size === 0) return model;
  const graph = renameInGraph(model.graph!, (n) => map.get(n) ?? n);
  return Object.assign(Object.create(Object.getPrototypeOf(model)), model, { graph });
}

/** What `buildExportModel` returns. */
export interface ExportedModelProto {
  model: ModelProto;
  info: ExportInfo;
  /** Messages worth showing (e.g. an opset raised). */
  warnings: string[];
}

/**
 * Builds the single-file model for a SALF-CBM (its backbone is loaded if it is not yet).
 * `fileName` is the name recorded in the sidecar.
 */
export async function buildExportModel(model: SalfCbm, fileName = 'model.onnx'): Promise<ExportedModelProto> {
  const backbone = await model.backbone();
  const source = backbone.config.model;
  const warnings: string[] = [];
  const names = HEAD_OUTPUTS;
  const outputNames = Object.values(names);
  const derived = freeNames(backbone.derivedModel(), outputNames);
  const current = defaultOpset(derived) ?? HEAD_MIN_OPSET;
  const opset = Math.max(current, HEAD_MIN_OPSET);
  if (opset !== current) warnings.push(`${source}: opset ${current} raised to ${opset} for the appended head`);

  const { D, M, L, grid } = model.shape;
  const b = new GraphBuilder('salf_head', opset);
  addHeadNodes(b, FEATURES_OUTPUT, model.shape, model.weights, model.config.pooling, opset, names);
  const g = b.toModel().graph!;
  // Internal value names get a prefix so they cannot clash with the backbone's.
  const keep = new Set<string>([FEATURES_OUTPUT, ...outputNames]);
  const prefixed = (n: string): string => (keep.has(n) || n.startsWith('salf_head_') ? n : `salf_head_${n}`);
  const nodes = (g.node ?? []).map((n) => ({
    ...n,
    name: `salf_head_${n.name}`,
    input: (n.input ?? []).map(prefixed),
    output: (n.output ?? []).map(prefixed),
  }));
  const initializers = (g.initializer ?? []).map((t) => ({ ...t, name: prefixed(t.name ?? '') }));

  const batch: number | string = backbone.fixedBatch ?? 'N';
  const shapes: Record<string, (number | string)[]> = {
    [names.logits]: [batch, L],
    [names.conceptMaps]: [batch, M, grid[0], grid[1]],
    [names.activations]: [batch, M],
    [names.standardised]: [batch, M],
  };
  const outputs = Object.entries(shapes).map(([name, dims]) => ({
    name,
    type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  }));
  const out = appendNodes(derived, { nodes, initializers, outputs, minOpset: opset }, source);

  const { config } = model;
  const S = backbone.inputSize;
  const info: ExportInfo = {
    format: 'salf-cbm-onnx',
    version: 1,
    model: fileName,
    input: { name: backbone.inputName, shape: [batch, 3, S, S], dtype: 'float32', layout: 'NCHW', channels: 'RGB' },
    preprocess: {
      ...config.backbone.preprocess,
      interpolation: config.backbone.preprocess.interpolation ?? DEFAULT_INTERPOLATION,
      scale: 1 / 255,
      description:
        'decode to 8-bit RGB; resize.mode "center": resize the shorter side to resize.resize (default size), keep aspect, centre-crop size×size; ' +
        '"stretch": resize to size×size; then x/255, (x − mean)/std per channel, planar NCHW float32',
    },
    outputs: shapes,
    concepts: [...model.concepts],
    classes: [...model.classes],
    grid: [grid[0], grid[1]],
    pooling: config.pooling,
    featureDim: D,
    finalLayer: config.finalLayer,
    backbone: {
      file: basename(source),
      featureTensor: config.backbone.featureTensor,
      layout: config.backbone.layout,
      ...(config.backbone.cls ? { cls: config.backbone.cls } : {}),
    },
    clip: config.clip,
    opset,
  };
  out.docString = `SALF-CBM (spatially-aware label-free concept bottleneck model) on ${basename(source)}: ${M} concepts, ${L} classes, grid ${grid[0]}×${grid[1]}, ${config.pooling} pooling`;
  out.metadataProps = [...(out.metadataProps ?? []).filter((p) => p.key !== EXPORT_METADATA_KEY), { key: EXPORT_METADATA_KEY, value: JSON.stringify(info) }];
  return { model: out, info, warnings };
}

/** What `exportSalfCbm` wrote. */
export interface ExportResult {
  onnxPath: string;
  sidecarPath: string;
  bytes: number;
  info: ExportInfo;
  warnings: string[];
}

/** Protobuf's hard limit on a serialised message. */
const PROTOBUF_LIMIT = 2 ** 31 - 1;

/** Writes the single-file model to `onnxPath` and its sidecar beside it (atomically). */
export async function exportSalfCbm(model: SalfCbm, onnxPath: string): Promise<ExportResult> {
  const built = await buildExportModel(model, basename(onnxPath));
  const bytes = encodeModel(built.model);
  if (bytes.length >= PROTOBUF_LIMIT) {
    throw new Error(`${onnxPath}: the exported model would be ${(bytes.length / 2 ** 30).toFixed(2)} GiB, over ONNX's 2 GiB single-file limit`);
  }
  writeFileAtomic(onnxPath, bytes);
  const side = sidecarPath(onnxPath);
  writeJsonAtomic(side, built.info);
  return { onnxPath, sidecarPath: side, bytes: bytes.length, info: built.info, warnings: built.warnings };
}
