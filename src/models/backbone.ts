/**
 * The frozen backbone: any ONNX image model, one of whose tensors is named as the feature map.
 *
 * `Backbone.load` builds one derived model, the backbone with a few nodes appended that turn
 * the feature tensor into what the concept bottleneck trains on: `salf_features`, N×G×D
 * (G = Gh·Gw grid positions, row-major over the grid's rows then columns, channels last),
 * and optionally the backbone's own logits as `salf_logits`, N×L.
 *
 * - `nchw` feature tensors (CNNs) are N×D×h×w.
 * - `tokens` feature tensors (ViTs) are N×T×D; the patch tokens are laid back onto their
 *   square h×w grid (row-major, as ViT patch embeddings flatten them). Token 0 is the CLS
 *   token unless `cls` is `none`: it is dropped (`drop`, the default) or broadcast over the grid
 *   and concatenated after the patch channels (`concat`, "2D channels": D' = 2D).
 * - The map is resized bilinearly to the grid with PyTorch `F.interpolate(mode='bilinear',
 *   align_corners=False)` semantics (no antialiasing). Bilinear resizing is linear and
 *   separable, so it runs as one MatMul with a precomputed (G × h·w) interpolation matrix:
 *   exact PyTorch semantics, and only opset-1 ops appended (Reshape needs 5), so the
 *   backbone's own opset never has to change.
 */
import { createHash } from 'node:crypto';
import type onnxProto from 'onnx-proto';
import { GraphBuilder, attr, decodeModel, encodeModel, readOnnxFile, type ModelProto } from '../engine/onnx-builder.js';
import { Engine, f32, type ort } from '../engine/session.js';
import { runImageBatches } from '../engine/image-batches.js';
import { appendNodes, assertTensorsExist, inlineExternalData, setOutputs, type AppendSpec } from '../engine/surgery.js';
import type { ResizeSpec } from '../data/rgb-image.js';
import type { Interpolation } from '../data/image-io.js';
import { bilinearMatrix } from './bilinear.js';

export { bilinearMatrix } from './bilinear.js';

/** How to use an ONNX image model as a SALF-CBM backbone. */
export interface BackboneConfig {
  /** Path to the .onnx file. */
  model: string;
  /** Name of the tensor used as the feature map (see `listTensors` for the candidates). */
  featureTensor: string;
  /** `nchw`: an N×D×h×w map (CNNs); `tokens`: N×T×D tokens on a square patch grid (ViTs). */
  layout: 'nchw' | 'tokens';
  /**
   * Tokens only. `drop` (default): token 0 is CLS and is dropped; `concat`: CLS is broadcast
   * over the grid and concatenated after the patch channels (2D channels); `none`: no CLS.
   */
  cls?: 'none' | 'drop' | 'concat';
  /** The model's own classifier output, if any (N×L). */
  logitsTensor?: string;
  /** How images are brought to the model's input. */
  preprocess: {
    resize: ResizeSpec;
    /** Resampling filter; `bilinear` (torchvision's default) when omitted. */
    interpolation?: Interpolation;
    /** Per-channel normalisation of RGB scaled to [0, 1]. */
    mean: [number, number, number];
    std: [number, number, number];
  };
}

/** What `Backbone.run` returns. */
export interface BackboneOutput {
  /** n×G×D, row-major (image, grid position, channel). */
  features: Float32Array;
  /** n×L, when the config names `logitsTensor`. */
  logits?: Float32Array;
}

/** Output names of the derived model. */
export const FEATURES_OUTPUT = 'salf_features';
export const LOGITS_OUTPUT = 'salf_logits';

/**
 * The G×(h·w) matrix that resizes a row-major h×w map to a row-major Gh×Gw grid:
 * `K[(a·Gw + b), (i·w + j)] = R_h[a, i] · R_w[b, j]`.
 */
export function gridResizeMatrix(native: [number, number], grid: [number, number]): Float32Array {
  const [h, w] = native;
  const [gh, gw] = grid;
  const rh = bilinearMatrix(h, gh);
  const rw = bilinearMatrix(w, gw);
  const k = new Float32Array(gh * gw * h * w);
  for (let a = 0; a < gh; a++) {
    for (let b = 0; b < gw; b++) {
      const row = (a * gw + b) * h * w;
      for (let i = 0; i < h; i++) {
        const ra = rh[a * h + i]!;
        if (ra === 0) continue;
        for (let j = 0; j < w; j++) k[row + i * w + j] = ra * rw[b * w + j]!;
      }
    }
  }
  return k;
}

/** The dims of a graph input: fixed sizes, or undefined where symbolic/unknown. */
function fixedDims(v: onnxProto.onnx.IValueInfoProto): (number | undefined)[] | undefined {
  const dims = v.type?.tensorType?.shape?.dim;
  if (!dims) return undefined;
  return dims.map((d) => {
    if (d.dimParam) return undefined;
    const n = Number(d.dimValue ?? 0);
    return n > 0 ? n : undefined;
  });
}

function validateConfig(config: BackboneConfig, grid: [number, number]): void {
  const where = `backbone config for ${config.model}`;
  if (config.layout !== 'nchw' && config.layout !== 'tokens') {
    throw new Error(`${where}: layout must be 'nchw' or 'tokens' (got ${JSON.stringify(config.layout)})`);
  }
  if (config.cls !== undefined && !['none', 'drop', 'concat'].includes(config.cls)) {
    throw new Error(`${where}: cls must be 'none', 'drop' or 'concat' (got ${JSON.stringify(config.cls)})`);
  }
  if (config.layout === 'nchw' && config.cls !== undefined && config.cls !== 'none') {
    throw new Error(`${where}: cls '${config.cls}' applies to the 'tokens' layout only`);
  }
  if (!config.featureTensor) throw new Error(`${where}: featureTensor is required`);
  if (!(grid.length === 2 && grid.every((g) => Number.isInteger(g) && g > 0))) {
    throw new Error(`${where}: grid must be two positive integers (got ${JSON.stringify(grid)})`);
  }
  const p = config.preprocess;
  if (!p || !p.resize || !(Number.isInteger(p.resize.size) && p.resize.size > 0)) {
    throw new Error(`${where}: preprocess.resize.size must be a positive integer`);
  }
  if (!(p.mean?.length === 3 && p.std?.length === 3 && p.std.every((s) => s > 0))) {
    throw new Error(`${where}: preprocess.mean and preprocess.std must hold 3 numbers each, std > 0`);
  }
}

/** Reads and parses the ONNX file, with errors naming it. */
function readModel(path: string): { model: ModelProto; hash: string } {
  const bytes = readOnnxFile(path, 'backbone model');
  const hash = createHash('sha256').update(bytes).digest('hex').slice(0, 16);
  return { model: inlineExternalData(decodeModel(bytes, path), path), hash };
}

/** A frozen ONNX backbone producing grid-resized, channels-last feature maps. */
export class Backbone {
  private constructor(
    /** The configuration it was loaded with. */
    readonly config: BackboneConfig,
    /** The prompting grid [Gh, Gw]. */
    readonly grid: [number, number],
    /** Name of the model's image input (its first non-constant graph input). */
    readonly inputName: string,
    /** The fixed batch size of the model's input, if it has one (runs are chunked to it). */
    readonly fixedBatch: number | undefined,
    /** Feature tensor dims without the batch: [D, h, w] (nchw) or [T, D] (tokens). */
    readonly rawDims: number[],
    /** The feature map's own grid [h, w]. */
    readonly nativeGrid: [number, number],
    /** Channels D of `salf_features` (2·D for `cls: 'concat'`). */
    readonly featureDim: number,
    /** L, when `logitsTensor` is set. */
    readonly numClasses: number | undefined,
    private readonly derived: ModelProto,
    private readonly session: ort.InferenceSession,
  ) {}

  /** Side of the square input in pixels (`preprocess.resize.size`). */
  get inputSize(): number {
    return this.config.preprocess.resize.size;
  }

  /** Number of grid positions G = Gh·Gw. */
  get gridSize(): number {
    return this.grid[0] * this.grid[1];
  }

  /**
   * Loads the ONNX model, checks the config against it (feature/logits tensors exist, input
   * size), probes the feature tensor's shape with one zero image and builds the derived model.
   */
  static async load(config: BackboneConfig, grid: [number, number], engine: Engine): Promise<Backbone> {
    validateConfig(config, grid);
    const src = config.model;
    const { model, hash } = readModel(src);
    const wanted = [config.featureTensor, ...(config.logitsTensor ? [config.logitsTensor] : [])];
    assertTensorsExist(model, wanted, src);

    // The image input and its fixed dims.
    const inits = new Set((model.graph!.initializer ?? []).map((t) => t.name));
    const inputs = (model.graph!.input ?? []).filter((i) => i.name && !inits.has(i.name));
    if (inputs.length === 0) throw new Error(`${src}: the model has no graph input`);
    if (inputs.length > 1) {
      throw new Error(`${src}: the model has ${inputs.length} inputs (${inputs.map((i) => i.name).join(', ')}); a backbone takes one image input`);
    }
    const input = inputs[0]!;
    const inputName = input.name!;
    const elem = input.type?.tensorType?.elemType;
    if (elem !== undefined && elem !== null && elem !== 0 && elem !== 1) {
      throw new Error(`${src}: input ${inputName} must be float32 (ONNX elem type ${elem})`);
    }
    const dims = fixedDims(input);
    const size = config.preprocess.resize.size;
    if (dims) {
      if (dims.length !== 4) throw new Error(`${src}: input ${inputName} has rank ${dims.length}; expected N×3×H×W`);
      if (dims[1] !== undefined && dims[1] !== 3) throw new Error(`${src}: input ${inputName} has ${dims[1]} channels; expected 3 (RGB)`);
      for (const d of [dims[2], dims[3]]) {
        if (d !== undefined && d !== size) {
          throw new Error(`${src}: input ${inputName} is fixed at ${dims[2]}×${dims[3]} but preprocess.resize.size is ${size}`);
        }
      }
    }
    const fixedBatch = dims?.[0];

    // Probe the feature (and logits) shapes.
    const probeBatch = fixedBatch ?? 1;
    const probeModel = setOutputs(model, wanted, src);
    const probe = await engine.open(encodeModel(probeModel), src);
    let featDims: number[];
    let logitDims: number[] | undefined;
    try {
      const out = await probe.run({ [inputName]: f32(new Float32Array(probeBatch * 3 * size * size), [probeBatch, 3, size, size]) });
      featDims = [...out[config.featureTensor]!.dims];
      if (config.logitsTensor) logitDims = [...out[config.logitsTensor]!.dims];
    } catch (err) {
      throw new Error(`${src}: running the model on a ${size}×${size} image failed: ${(err as Error).message}`);
    } finally {
      await probe.release();
    }

    const tail = buildTail(config, grid, featDims, probeBatch, logitDims);
    const derived = appendNodes(model, tail.spec, src);
    const key = `backbone:${hash}:${config.featureTensor}:${config.layout}:${tail.cls}:${config.logitsTensor ?? ''}:${grid.join('x')}`;
    const session = await engine.cached(key, () => encodeModel(derived));
    return new Backbone(config, grid, inputName, fixedBatch, featDims.slice(1), tail.native, tail.featureDim, tail.numClasses, derived, session);
  }

  /** The derived model (backbone + resize tail), outputs `salf_features` [and `salf_logits`]. */
  derivedModel(): ModelProto {
    return this.derived;
  }

  /**
   * Runs `n` images given as normalised float32 NCHW pixels (n×3×S×S, S = inputSize).
   * Returns features n×G×D and, when configured, logits n×L.
   */
  async run(pixels: Float32Array, n: number): Promise<BackboneOutput> {
    const s = this.inputSize;
    const per = 3 * s * s;
    if (!Number.isInteger(n) || n < 0 || pixels.length !== n * per) {
      throw new Error(`${this.config.model}: run expects ${n}×3×${s}×${s} = ${n * per} pixel values, got ${pixels.length}`);
    }
    const wanted: Record<string, number> = { [FEATURES_OUTPUT]: this.gridSize * this.featureDim };
    if (this.numClasses !== undefined) wanted[LOGITS_OUTPUT] = this.numClasses;
    const out = await runImageBatches(this.session, this.inputName, pixels, n, s, this.fixedBatch, wanted);
    const features = out[FEATURES_OUTPUT]!;
    const logits = out[LOGITS_OUTPUT];
    return logits ? { features, logits } : { features };
  }
}

/** The nodes appended to the backbone, from the probed feature shape. */
function buildTail(
  config: BackboneConfig,
  grid: [number, number],
  featDims: number[],
  batch: number,
  logitDims: number[] | undefined,
): { spec: AppendSpec; native: [number, number]; featureDim: number; numClasses: number | undefined; cls: string } {
  const src = config.model;
  const f = config.featureTensor;
  const b = new GraphBuilder('salf_tail');
  const G = grid[0] * grid[1];
  let native: [number, number];
  let featureDim: number;
  let cls = 'none';
  let tokens: string; // N×P×D, patch tokens / map positions, row-major
  let D: number;

  if (config.layout === 'nchw') {
    if (featDims.length !== 4 || featDims[0] !== batch) {
      throw new Error(
        `${src}: feature tensor ${f} has shape [${featDims.join(', ')}]; layout 'nchw' needs N×D×h×w (is it a token tensor? use layout 'tokens')`,
      );
    }
    const [, d, h, w] = featDims as [number, number, number, number];
    D = d;
    native = [h, w];
    const flat = b.op('Reshape', [f, b.constI64([0, D, h * w], [3], 'salf_flat_shape')], {}, 'salf_flat');
    tokens = b.op('Transpose', [flat], { perm: attr.ints([0, 2, 1]) }, 'salf_positions');
  } else {
    if (featDims.length !== 3 || featDims[0] !== batch) {
      throw new Error(`${src}: feature tensor ${f} has shape [${featDims.join(', ')}]; layout 'tokens' needs N×T×D (is it a feature map? use layout 'nchw')`);
    }
    const [, T, d] = featDims as [number, number, number];
    D = d;
    cls = config.cls ?? 'drop';
    const P = cls === 'none' ? T : T - 1;
    const side = Math.round(Math.sqrt(P));
    if (P <= 0 || side * side !== P) {
      const hint =
        cls === 'none'
          ? Number.isInteger(Math.sqrt(T - 1))
            ? " (token 0 looks like a CLS token: set cls to 'drop' or 'concat')"
            : ''
          : Number.isInteger(Math.sqrt(T))
            ? " (there seems to be no CLS token: set cls to 'none')"
            : '';
      throw new Error(
        `${src}: feature tensor ${f} has ${T} tokens; its ${P} patch tokens${cls === 'none' ? '' : ' (after the CLS token)'} do not form a square grid${hint}`,
      );
    }
    native = [side, side];
    tokens =
      cls === 'none'
        ? f
        : b.op(
            'Gather',
            [
              f,
              b.constI64(
                Array.from({ length: P }, (_, i) => i + 1),
                [P],
                'salf_patch_index',
              ),
            ],
            { axis: attr.i(1) },
            'salf_patches',
          );
  }

  const same = native[0] === grid[0] && native[1] === grid[1];
  const resized = same
    ? b.op('Identity', [tokens], {}, cls === 'concat' ? 'salf_resized' : FEATURES_OUTPUT)
    : b.op(
        'MatMul',
        [b.constF32(gridResizeMatrix(native, grid), [G, native[0] * native[1]], 'salf_resize_matrix'), tokens],
        {},
        cls === 'concat' ? 'salf_resized' : FEATURES_OUTPUT,
      );
  featureDim = D;
  if (cls === 'concat') {
    const clsTok = b.op('Gather', [f, b.constI64([0], [1], 'salf_cls_index')], { axis: attr.i(1) }, 'salf_cls'); // N×1×D
    const clsMap = b.op('MatMul', [b.constF32(new Float32Array(G).fill(1), [G, 1], 'salf_ones'), clsTok], {}, 'salf_cls_map'); // N×G×D
    b.op('Concat', [resized, clsMap], { axis: attr.i(2) }, FEATURES_OUTPUT);
    featureDim = 2 * D;
  }

  const outputs = [
    { name: FEATURES_OUTPUT, type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: 'batch' }, { dimValue: G }, { dimValue: featureDim }] } } } },
  ];
  let numClasses: number | undefined;
  if (config.logitsTensor && logitDims) {
    if (logitDims[0] !== batch || logitDims.length < 2) {
      throw new Error(`${src}: logits tensor ${config.logitsTensor} has shape [${logitDims.join(', ')}]; expected N×L`);
    }
    numClasses = logitDims.slice(1).reduce((a, c) => a * c, 1);
    b.op('Flatten', [config.logitsTensor], { axis: attr.i(1) }, LOGITS_OUTPUT);
    outputs.push({ name: LOGITS_OUTPUT, type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: 'batch' }, { dimValue: numClasses }] } } } });
  }

  const g = b.toModel().graph!;
  const nodes = (g.node ?? []).map((n) => ({ ...n, name: `salf_${n.name}` }));
  return { spec: { nodes, initializers: g.initializer ?? [], outputs, minOpset: 5 }, native, featureDim, numClasses, cls };
}
