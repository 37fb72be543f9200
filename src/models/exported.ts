/**
 * Runs a single-file SALF-CBM export (see `export.ts`) with ONNX Runtime: the concepts,
 * classes and preprocessing come from the sidecar JSON (or, without one, the copy stored in
 * the model's metadata); the classifier tensors used by the explanations are read from the
 * model's own initializers, so nothing else is needed.
 */
import { existsSync, readFileSync } from 'node:fs';
import type onnxProto from 'onnx-proto';
import { decodeModel, onnx, readOnnxFile, type ModelProto } from '../engine/onnx-builder.js';
import { Engine, getDefaultEngine, type ort } from '../engine/session.js';
import { runImageBatches } from '../engine/image-batches.js';
import { EXPORT_METADATA_KEY, sidecarPath, type ExportInfo } from './export.js';
import type { SalfOutputs } from './salf-cbm.js';
import { HEAD_OUTPUTS, HEAD_TENSORS, type HeadWeights, type Pooling } from './salf-head.js';
import { parseJson } from '../data/parse-json.js';
import { decodeUtf8 } from '../data/utf8.js';
import { checkJson } from '../data/json-schema.js';
import { exportInfoSchema } from './config-schemas.js';

/** Float32 values of an initializer (raw little-endian bytes or float_data). */
function tensorValues(t: onnxProto.onnx.ITensorProto, source: string): Float32Array {
  if (t.dataType !== onnx.TensorProto.DataType.FLOAT) throw new Error(`${source}: initializer ${t.name} is not float32`);
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL)
    throw new Error(`${source}: initializer ${t.name} is stored as external data; a SALF-CBM export holds everything in one file`);
  if (t.rawData && t.rawData.length > 0) {
    const raw = t.rawData;
    const copy = new Uint8Array(raw.length);
    copy.set(raw);
    return new Float32Array(copy.buffer, 0, raw.length / 4);
  }
  return Float32Array.from(t.floatData ?? []);
}

function parseInfo(text: string, where: string): ExportInfo {
  const json = parseJson(text, where) as { format?: unknown } | null;
  if (json?.format !== 'salf-cbm-onnx') throw new Error(`${where}: not a SALF-CBM export description (format is ${JSON.stringify(json?.format)})`);
  return checkJson(json, exportInfoSchema, where, 'SALF-CBM export description');
}

/**
 * A single-file SALF-CBM loaded for inference and explanations. It is a `ConceptModel`
 * (concept-model.ts, whose loader returns it as one, which the compiler checks there; the
 * interface is not imported here so that the two modules do not import each other).
 */
export class ExportedSalfCbm {
  readonly concepts: readonly string[];
  readonly classes: readonly string[];
  readonly grid: readonly [number, number];
  readonly pooling: Pooling;
  readonly preprocess: ExportInfo['preprocess'];

  private constructor(
    /** The sidecar (or embedded) description. */
    readonly info: ExportInfo,
    /** The learned classifier tensors, read from the model. */
    readonly head: Pick<HeadWeights, 'mean' | 'std' | 'finalWeight' | 'finalBias'>,
    /** Where it was loaded from. */
    readonly source: string,
    /** The fixed batch size of the input, if it has one. */
    readonly fixedBatch: number | undefined,
    readonly engine: Engine,
    private readonly session: ort.InferenceSession,
  ) {
    this.concepts = info.concepts;
    this.classes = info.classes;
    this.grid = [info.grid[0], info.grid[1]];
    this.pooling = info.pooling;
    this.preprocess = info.preprocess;
  }

  /** Side of the square input in pixels. */
  get inputSize(): number {
    return this.preprocess.resize.size;
  }

  /** Loads `path` (an exported .onnx) and its sidecar, with errors naming the file. */
  static async load(path: string, engine: Engine = getDefaultEngine()): Promise<ExportedSalfCbm> {
    const bytes = readOnnxFile(path, 'exported model');
    const side = sidecarPath(path);
    return ExportedSalfCbm.fromBytes(bytes, path, existsSync(side) ? { path: side, text: decodeUtf8(readFileSync(side), side) } : undefined, engine);
  }

  /**
   * Opens exported model bytes; the description comes from `sidecar` when given, else from the
   * model's metadata. `source` names the model in errors.
   */
  static async fromBytes(
    bytes: Uint8Array,
    source: string,
    sidecar?: { path: string; text: string },
    engine: Engine = getDefaultEngine(),
  ): Promise<ExportedSalfCbm> {
    const model: ModelProto = decodeModel(bytes, source);
    const graph = model.graph!;
    let info: ExportInfo;
    if (sidecar) info = parseInfo(sidecar.text, sidecar.path);
    else {
      const meta = (model.metadataProps ?? []).find((p) => p.key === EXPORT_METADATA_KEY);
      if (!meta?.value) {
        throw new Error(
          `${source}: an ONNX model, but not a SALF-CBM export (no sidecar ${sidecarPath(source)} and no "${EXPORT_METADATA_KEY}" metadata); export one with \`salf-cbm export\``,
        );
      }
      info = parseInfo(meta.value, `${source} (metadata ${EXPORT_METADATA_KEY})`);
    }
    const inits = new Map((graph.initializer ?? []).map((t) => [t.name ?? '', t]));
    const M = info.concepts.length;
    const L = info.classes.length;
    const get = (name: string, shape: number[]): Float32Array => {
      const t = inits.get(name);
      if (!t) throw new Error(`${source}: no initializer ${name}; is this a SALF-CBM export?`);
      const dims = (t.dims ?? []).map(Number);
      if (dims.length !== shape.length || dims.some((d, i) => d !== shape[i])) {
        throw new Error(
          `${source}: initializer ${name} has shape [${dims.join(', ')}], expected [${shape.join(', ')}] (M=${M} concepts, L=${L} classes in its description)`,
        );
      }
      const v = tensorValues(t, source);
      const length = shape.reduce((a, b) => a * b, 1);
      if (v.length !== length) throw new Error(`${source}: initializer ${name} has ${v.length} values, expected ${length}`);
      const bad = v.findIndex((x) => !Number.isFinite(x));
      if (bad >= 0) throw new Error(`${source}: initializer ${name} holds ${v[bad]} at index ${bad}; the export is corrupt or its model diverged`);
      return v;
    };
    const head = {
      mean: get(HEAD_TENSORS.mean, [M]),
      std: get(HEAD_TENSORS.std, [M]),
      finalWeight: get(HEAD_TENSORS.finalWeight, [L, M]),
      finalBias: get(HEAD_TENSORS.finalBias, [L]),
    };
    const flat = head.std.findIndex((v) => !(v > 0));
    if (flat >= 0)
      throw new Error(`${source}: ${HEAD_TENSORS.std} of concept "${info.concepts[flat]}" is ${head.std[flat]}; standard deviations must be positive`);
    const outputs = new Set((graph.output ?? []).map((o) => o.name));
    for (const name of Object.values(HEAD_OUTPUTS)) {
      if (!outputs.has(name)) throw new Error(`${source}: the model has no output ${name}; is this a SALF-CBM export?`);
    }
    const input = (graph.input ?? []).find((i) => i.name === info.input.name);
    if (!input) throw new Error(`${source}: the model has no input ${info.input.name} (named in its description)`);
    const d0 = input.type?.tensorType?.shape?.dim?.[0];
    const fixedBatch = d0 && !d0.dimParam && Number(d0.dimValue ?? 0) > 0 ? Number(d0.dimValue) : undefined;
    const session = await engine.open(bytes, source);
    return new ExportedSalfCbm(info, head, source, fixedBatch, engine, session);
  }

  /** Runs `n` images given as normalised float32 NCHW pixels (n×3×S×S). */
  async forwardPixels(pixels: Float32Array, n: number): Promise<SalfOutputs> {
    const S = this.inputSize;
    const per = 3 * S * S;
    if (!Number.isInteger(n) || n < 0 || pixels.length !== n * per) {
      throw new Error(`${this.source}: expected ${n}×3×${S}×${S} = ${n * per} pixel values, got ${pixels.length}`);
    }
    const M = this.concepts.length;
    const L = this.classes.length;
    const G = this.grid[0] * this.grid[1];
    const out = await runImageBatches(this.session, this.info.input.name, pixels, n, S, this.fixedBatch, {
      [HEAD_OUTPUTS.logits]: L,
      [HEAD_OUTPUTS.conceptMaps]: M * G,
      [HEAD_OUTPUTS.activations]: M,
      [HEAD_OUTPUTS.standardised]: M,
    });
    const res: SalfOutputs = {
      n,
      logits: out[HEAD_OUTPUTS.logits]!,
      conceptMaps: out[HEAD_OUTPUTS.conceptMaps]!,
      activations: out[HEAD_OUTPUTS.activations]!,
      standardised: out[HEAD_OUTPUTS.standardised]!,
    };
    return res;
  }

  /**
   * Releases the model's session and those cached under it (the intervention graph); the
   * model cannot run afterwards.
   */
  async dispose(): Promise<void> {
    await Promise.all([this.engine.evict(this), this.session.release()]);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}

/** Largest absolute differences between two forward passes, per output. */
export interface ForwardDifference {
  logits: number;
  conceptMaps: number;
  activations: number;
  standardised: number;
}

/** A model that runs normalised NCHW pixels (a ConceptModel, this file's class). */
export interface PixelForward {
  forwardPixels(pixels: Float32Array, n: number): Promise<SalfOutputs>;
}

/**
 * Runs `n` random inputs (seeded, uniform in [−2, 2]) through `reference` (e.g. the library's
 * forward pass) and `candidate` (e.g. the exported model) and returns the largest absolute
 * difference of each output.
 */
export async function compareForward(
  reference: PixelForward & { readonly preprocess: { resize: { size: number } } },
  candidate: PixelForward,
  n = 2,
  seed = 1,
): Promise<ForwardDifference> {
  const S = reference.preprocess.resize.size;
  let s = seed >>> 0 || 1;
  const pixels = Float32Array.from({ length: n * 3 * S * S }, () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return ((s >>> 0) / 2 ** 32) * 4 - 2;
  });
  const [a, b] = [await reference.forwardPixels(pixels, n), await candidate.forwardPixels(pixels, n)];
  const diff = (x: Float32Array, y: Float32Array): number => {
    if (x.length !== y.length) return Infinity;
    let m = 0;
    for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
    return m;
  };
  return {
    logits: diff(a.logits, b.logits),
    conceptMaps: diff(a.conceptMaps, b.conceptMaps),
    activations: diff(a.activations, b.activations),
    standardised: diff(a.standardised, b.standardised),
  };
}
