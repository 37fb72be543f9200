/**
 * CLIP loaded from a local folder (always, offline) or a Hugging Face hub model id (online, or
 * offline once cached), through @huggingface/transformers. Folder layout and ONNX I/O contract:
 * docs/clip-folder-layout.md.
 *
 * transformers.js finds, downloads and caches the files, builds the tokenizer and creates the ONNX
 * Runtime sessions; the towers are then run on those sessions directly, fed pixel tensors we
 * prepared ourselves (normalised NCHW float32) and fetching only the embedding outputs, so a
 * call costs little more than the bare encoder.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { AutoImageProcessor, AutoTokenizer, CLIPTextModelWithProjection, CLIPVisionModelWithProjection, env as hfEnv } from '@huggingface/transformers';
import { Engine, ort, type Device, type ModelResource } from '../engine/session.js';
import { fromFloat16Bits, toFloat16Bits } from '../store/float16.js';
import type { ImageEncoder, TextEncoder as TextEncoderApi } from './encoders.js';

/** Options of {@link ClipModel.load}. */
export interface ClipLoadOptions {
  /** Execution provider for both towers; `cpu` by default. */
  device?: Device;
  /** Hub revision (branch, tag or commit); `main` by default. Ignored for local folders. */
  revision?: string;
  /** Intra-op threads of the two sessions; ONNX Runtime's default when omitted. */
  threads?: number;
  /** Where hub downloads are cached; transformers.js' `env.cacheDir` by default. */
  cacheDir?: string;
  /**
   * Hub endpoint (a mirror); `HF_ENDPOINT` or transformers.js' `env.remoteHost` by default.
   * Setting it sets transformers.js' process-wide `env.remoteHost`.
   */
  hubEndpoint?: string;
  /** How long the hub reachability check may take, in ms (default 10000). */
  hubTimeoutMs?: number;
  /**
   * Weights of the two towers: `fp32` (default; `onnx/vision_model.onnx`, `onnx/text_model.onnx`)
   * or `fp16` (`onnx/vision_model_fp16.onnx`, `onnx/text_model_fp16.onnx`, as transformers.js
   * names them): half the memory and, on a GPU, faster; float16 inputs and outputs are converted.
   */
  precision?: ClipPrecision;
  /** Most images per vision-tower run (default 64); a model with a fixed batch size uses that. */
  imageBatch?: number;
  /** Most texts per text-tower run (default 256). */
  textBatch?: number;
}

/** Which weights of the towers are loaded. */
export type ClipPrecision = 'fp32' | 'fp16';

/** Where a CLIP comes from: a local folder or a hub model id. */
export type ClipSource = { kind: 'folder'; path: string } | { kind: 'hub'; modelId: string };

/** Input size and normalisation of the vision tower, for RGB values scaled to [0, 1]. */
export interface ClipPreprocessing {
  inputSize: number;
  mean: [number, number, number];
  std: [number, number, number];
}

/** Files a CLIP folder must hold (relative paths). */
export const CLIP_FOLDER_FILES = [
  'config.json',
  'preprocessor_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'onnx/vision_model.onnx',
  'onnx/text_model.onnx',
] as const;

const OPENAI_CLIP_MEAN: [number, number, number] = [0.48145466, 0.4578275, 0.40821073];
const OPENAI_CLIP_STD: [number, number, number] = [0.26862954, 0.26130258, 0.27577711];
const LAYOUT_DOC = 'docs/clip-folder-layout.md';
const HUB_ID = /^[A-Za-z0-9][\w.-]{0,95}(\/[A-Za-z0-9][\w.-]{0,95})?$/;

/**
 * Decides whether `source` is a local folder or a hub model id: an existing path, or anything
 * that looks like a path (absolute, starting with `.` or `~`, with a backslash or more than one
 * `/`), is a folder; `name` or `owner/name` otherwise is a hub id.
 */
export function resolveClipSource(source: string): ClipSource {
  const s = source.trim();
  if (s === '') throw new Error('CLIP source is empty: give a local folder or a Hugging Face model id');
  if (existsSync(s)) return { kind: 'folder', path: resolve(s) };
  const looksLikePath = isAbsolute(s) || s.startsWith('.') || s.startsWith('~') || s.includes('\\') || s.split('/').length > 2;
  if (!looksLikePath && HUB_ID.test(s) && !s.includes('..') && !s.includes('--')) return { kind: 'hub', modelId: s };
  return { kind: 'folder', path: resolve(s) };
}

function triple(v: unknown, what: string, where: string): [number, number, number] {
  const arr = typeof v === 'number' ? [v, v, v] : v;
  if (!Array.isArray(arr) || arr.length !== 3 || !arr.every((x) => typeof x === 'number' && Number.isFinite(x))) {
    throw new Error(`${where}: ${what} must be a number or 3 numbers (got ${JSON.stringify(v)})`);
  }
  return [arr[0], arr[1], arr[2]];
}

function squareSize(v: unknown, what: string, where: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number') return v;
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (typeof o.height === 'number' && typeof o.width === 'number') {
      if (o.height !== o.width) throw new Error(`${where}: ${what} is ${o.width}×${o.height}; only square CLIP inputs are supported`);
      return o.height;
    }
    if (typeof o.shortest_edge === 'number') return o.shortest_edge;
  }
  throw new Error(`${where}: cannot read ${what} (${JSON.stringify(v)})`);
}

/**
 * Input size, mean and std from a preprocessor_config.json (CLIPImageProcessor style). The crop
 * size is the input size; mean and std are rescaled when `rescale_factor` is not 1/255, so they
 * always apply to RGB values in [0, 1]. `where` names the file in errors.
 */
export function clipPreprocessing(cfg: Record<string, unknown>, where = 'preprocessor_config.json'): ClipPreprocessing {
  const size = (cfg.do_center_crop !== false ? squareSize(cfg.crop_size, 'crop_size', where) : undefined) ?? squareSize(cfg.size, 'size', where);
  if (size === undefined || !Number.isInteger(size) || size <= 0) {
    throw new Error(`${where}: no usable crop_size or size (need a positive integer input size)`);
  }
  let mean = triple(cfg.image_mean ?? cfg.mean ?? OPENAI_CLIP_MEAN, 'image_mean', where);
  let std = triple(cfg.image_std ?? cfg.std ?? OPENAI_CLIP_STD, 'image_std', where);
  if (cfg.do_normalize === false) {
    mean = [0, 0, 0];
    std = [1, 1, 1];
  }
  if (std.some((x) => x <= 0)) throw new Error(`${where}: image_std must be positive (got ${std.join(', ')})`);
  const rescale = cfg.do_rescale === false ? 1 : typeof cfg.rescale_factor === 'number' ? cfg.rescale_factor : 1 / 255;
  // The model sees (255·x·rescale − mean)/std for x ∈ [0, 1]; rewrite as (x − mean')/std'.
  const k = 255 * rescale;
  if (Math.abs(k - 1) > 1e-9) {
    mean = mean.map((m) => m / k) as [number, number, number];
    std = std.map((s) => s / k) as [number, number, number];
  }
  return { inputSize: size, mean, std };
}

/** A short sha256 over the named files (name, size and bytes of each, in order). */
async function hashFiles(root: string, files: readonly string[]): Promise<string> {
  const h = createHash('sha256');
  for (const f of files) {
    const full = join(root, f);
    h.update(`${f}\0${(await stat(full)).size}\0`);
    for await (const chunk of createReadStream(full, { highWaterMark: 1 << 22 })) h.update(chunk as Buffer);
  }
  return h.digest('hex').slice(0, 16);
}

/** The files whose bytes identify a CLIP folder: configs, tokenizer, ONNX files and their external data. */
async function identityFiles(dir: string): Promise<string[]> {
  const onnxFiles = (await readdir(join(dir, 'onnx')))
    .filter((f) => f.startsWith('vision_model.onnx') || f.startsWith('text_model.onnx'))
    .sort()
    .map((f) => `onnx/${f}`);
  return ['config.json', 'preprocessor_config.json', 'tokenizer.json', 'tokenizer_config.json', ...onnxFiles];
}

function missingFiles(dir: string, precision: ClipPrecision = 'fp32'): string[] {
  const files = CLIP_FOLDER_FILES.map((f) => (precision === 'fp16' ? f.replace(/_model\.onnx$/, '_model_fp16.onnx') : f));
  return files.filter((f) => !existsSync(join(dir, f)));
}

function isOffline(): boolean {
  const on = (v: string | undefined): boolean => v !== undefined && ['1', 'true', 'yes', 'on'].includes(v.toLowerCase());
  return on(process.env.HF_HUB_OFFLINE) || on(process.env.TRANSFORMERS_OFFLINE);
}

function hubAdvice(): string {
  return `Download the model on a machine with access and pass its local folder instead (layout: ${LAYOUT_DOC}; tools/ can export one), or set HF_ENDPOINT to a reachable mirror.`;
}

/** Checks that the hub answers for `modelId`, quickly; throws a clear error when it does not. */
async function probeHub(modelId: string, revision: string, timeoutMs: number): Promise<void> {
  const path = hfEnv.remotePathTemplate.replaceAll('{model}', modelId).replaceAll('{revision}', encodeURIComponent(revision));
  const url = `${hfEnv.remoteHost.replace(/\/+$/, '')}/${path.replace(/^\/+/, '').replace(/\/*$/, '/')}config.json`;
  const headers: Record<string, string> = {};
  const token = process.env.HF_TOKEN ?? process.env.HF_ACCESS_TOKEN;
  if (token) headers.Authorization = `Bearer ${token}`;
  let status: number;
  try {
    const res = await fetch(url, { method: 'HEAD', headers, signal: AbortSignal.timeout(timeoutMs) });
    status = res.status;
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    const why = e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (e.cause?.code ?? e.cause?.message ?? e.message);
    throw new Error(`CLIP "${modelId}": the Hugging Face hub (${hfEnv.remoteHost}) is unreachable (${why}) and the model is not in the cache. ${hubAdvice()}`);
  }
  if (status === 401 || status === 403 || status === 404) {
    throw new Error(
      `CLIP "${modelId}": not found on the hub at revision "${revision}" (HTTP ${status}; gated or private repositories need HF_TOKEN). A local folder also works: ${LAYOUT_DOC}.`,
    );
  }
  if (status >= 400) throw new Error(`CLIP "${modelId}": the hub answered HTTP ${status} for ${url}`);
}

/** The parts of a transformers.js tokenizer used here. */
interface Tokenizer {
  (
    texts: string[],
    options: { padding: boolean; truncation: boolean; max_length?: number },
  ): {
    input_ids: { data: BigInt64Array; dims: number[] };
    attention_mask: { data: BigInt64Array; dims: number[] };
  };
  model_max_length: number;
}

/** The parts of a transformers.js model used here. */
interface HfModel {
  sessions: Record<string, ort.InferenceSession>;
  config: Record<string, unknown>;
  dispose(): Promise<unknown>;
}

function fixedDim(session: ort.InferenceSession, name: string, axis: number, input = true): number | undefined {
  const meta = (input ? session.inputMetadata : session.outputMetadata).find((m) => m.name === name);
  if (!meta || !meta.isTensor) return undefined;
  const d = meta.shape[axis];
  return typeof d === 'number' && d > 0 ? d : undefined;
}

/** In place: each of `rows` rows of width `dim` scaled to unit L2 norm (zero rows stay zero). */
function normaliseRows(data: Float32Array, rows: number, dim: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    let ss = 0;
    for (let j = 0; j < dim; j++) ss += data[o + j]! * data[o + j]!;
    const inv = 1 / Math.max(Math.sqrt(ss), 1e-12);
    for (let j = 0; j < dim; j++) data[o + j]! *= inv;
  }
}

interface Parts {
  vision: HfModel;
  text: HfModel;
  tokenizer: Tokenizer;
  pre: ClipPreprocessing;
}

/** CLIP's two towers behind the {@link ImageEncoder} and {@link TextEncoderApi} interfaces. */
export class ClipModel implements ImageEncoder, TextEncoderApi, ModelResource {
  readonly id: string;
  readonly inputSize: number;
  readonly mean: readonly [number, number, number];
  readonly std: readonly [number, number, number];
  readonly embedDim: number;
  /** The folder or hub id it was loaded from. */
  readonly source: string;
  readonly device: Device;

  private readonly vision: HfModel;
  private readonly text: HfModel;
  private readonly tokenizer: Tokenizer;
  private readonly visionSession: ort.InferenceSession;
  private readonly textSession: ort.InferenceSession;
  private readonly pixelInput: string;
  /** Whether the vision tower takes float16 pixels (an fp16 export without float32 I/O). */
  private readonly pixelsHalf: boolean;
  private readonly feedMask: boolean;
  private readonly imageBatch: number;
  private readonly textBatch: number;
  private readonly maxTokens: number;

  private constructor(parts: Parts, id: string, source: string, device: Device, options: ClipLoadOptions) {
    const where = `CLIP ${source}`;
    this.id = id;
    this.source = source;
    this.device = device;
    this.vision = parts.vision;
    this.text = parts.text;
    this.tokenizer = parts.tokenizer;
    this.inputSize = parts.pre.inputSize;
    this.mean = parts.pre.mean;
    this.std = parts.pre.std;

    const vs = parts.vision.sessions.model;
    const ts = parts.text.sessions.model;
    if (!vs || !ts) throw new Error(`${where}: transformers.js created no session for a tower`);
    this.visionSession = vs;
    this.textSession = ts;

    // Vision tower: one float32 NCHW input, `image_embeds` output.
    if (vs.inputNames.length !== 1) {
      throw new Error(`${where}: onnx/vision_model.onnx must have exactly one input (pixel_values); it has ${vs.inputNames.join(', ')}`);
    }
    this.pixelInput = vs.inputNames[0]!;
    const pixelMeta = vs.inputMetadata.find((m) => m.name === this.pixelInput);
    this.pixelsHalf = pixelMeta !== undefined && pixelMeta.isTensor && pixelMeta.type === 'float16';
    if (!vs.outputNames.includes('image_embeds')) {
      throw new Error(`${where}: onnx/vision_model.onnx has no output "image_embeds" (outputs: ${vs.outputNames.join(', ')}); see ${LAYOUT_DOC}`);
    }
    const s = fixedDim(vs, this.pixelInput, 2);
    if (s !== undefined && s !== this.inputSize) {
      throw new Error(`${where}: onnx/vision_model.onnx takes ${s}×${s} pixels but preprocessor_config.json says ${this.inputSize}`);
    }

    // Text tower: input_ids (+ attention_mask), `text_embeds` output.
    const extra = ts.inputNames.filter((n) => n !== 'input_ids' && n !== 'attention_mask');
    if (!ts.inputNames.includes('input_ids') || extra.length > 0) {
      throw new Error(`${where}: onnx/text_model.onnx must take input_ids and optionally attention_mask; it takes ${ts.inputNames.join(', ')}`);
    }
    this.feedMask = ts.inputNames.includes('attention_mask');
    if (!ts.outputNames.includes('text_embeds')) {
      throw new Error(`${where}: onnx/text_model.onnx has no output "text_embeds" (outputs: ${ts.outputNames.join(', ')}); see ${LAYOUT_DOC}`);
    }

    const projection = parts.vision.config.projection_dim;
    const dims = [projection, fixedDim(vs, 'image_embeds', 1, false), fixedDim(ts, 'text_embeds', 1, false)].filter((d): d is number => typeof d === 'number');
    if (dims.length === 0) throw new Error(`${where}: embedding width unknown (config.json has no projection_dim)`);
    if (dims.some((d) => d !== dims[0])) {
      throw new Error(`${where}: embedding widths disagree (config projection_dim, image_embeds, text_embeds: ${dims.join(', ')})`);
    }
    this.embedDim = dims[0]!;

    this.imageBatch = fixedDim(vs, this.pixelInput, 0) ?? Math.max(1, options.imageBatch ?? 64);
    this.textBatch = Math.max(1, options.textBatch ?? 256);
    const fromTok = parts.tokenizer.model_max_length;
    const textCfg = parts.text.config.text_config as Record<string, unknown> | undefined;
    const fromCfg = textCfg?.max_position_embeddings ?? parts.text.config.max_position_embeddings;
    this.maxTokens = Number.isFinite(fromTok) && fromTok > 0 ? fromTok : typeof fromCfg === 'number' ? fromCfg : 77;
  }

  /**
   * Loads a CLIP from a local folder (works offline; see docs/clip-folder-layout.md) or a hub
   * model id such as `openai/clip-vit-base-patch16` in its transformers.js ONNX form (e.g.
   * `Xenova/clip-vit-base-patch16`): from the cache when present, else downloaded, which needs
   * the hub. Offline, a hub id that is not cached fails at once with a clear error.
   */
  static async load(source: string, options: ClipLoadOptions = {}): Promise<ClipModel> {
    const device = options.device ?? 'cpu';
    const precision = options.precision ?? 'fp32';
    if (precision !== 'fp32' && precision !== 'fp16') throw new Error(`CLIP precision must be fp32 or fp16, got ${String(precision)}`);
    const engine = new Engine({ device, ...(options.threads !== undefined ? { threads: options.threads } : {}) });
    const resolved = resolveClipSource(source);
    if (resolved.kind === 'folder') {
      const dir = resolved.path;
      if (!existsSync(dir)) throw new Error(`CLIP folder ${dir} does not exist (expected a folder laid out as in ${LAYOUT_DOC}, or a Hugging Face model id)`);
      if (!statSync(dir).isDirectory()) throw new Error(`CLIP source ${dir} is a file; expected a folder laid out as in ${LAYOUT_DOC}`);
      const missing = missingFiles(dir, precision);
      if (missing.length > 0) throw new Error(`CLIP folder ${dir} is missing ${missing.join(', ')} (layout: ${LAYOUT_DOC})`);
      const [parts, hash] = await Promise.all([
        ClipModel.loadParts(dir, dir, { local_files_only: true }, engine, precision),
        identityFiles(dir).then((f) => hashFiles(dir, f)),
      ]);
      return ClipModel.create(parts, `file:${dir}#sha256:${hash}${precisionTag(precision)}`, dir, device, options);
    }

    const { modelId } = resolved;
    const revision = options.revision ?? 'main';
    const endpoint = options.hubEndpoint ?? process.env.HF_ENDPOINT;
    if (endpoint) hfEnv.remoteHost = endpoint.endsWith('/') ? endpoint : `${endpoint}/`;
    const cacheDir = options.cacheDir ?? hfEnv.cacheDir;
    // transformers.js' file cache mirrors the repository: <cache>/<id>[/<revision>]/<file>.
    const cached = cacheDir ? (revision === 'main' ? join(cacheDir, modelId) : join(cacheDir, modelId, revision)) : undefined;
    const isCached = cached !== undefined && missingFiles(cached, precision).length === 0;
    if (!isCached) {
      if (isOffline()) {
        throw new Error(
          `CLIP "${modelId}": HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE is set and the model is not in the cache (${cached ?? 'no cache'}). ${hubAdvice()}`,
        );
      }
      await probeHub(modelId, revision, options.hubTimeoutMs ?? 10_000);
    }
    // A cached copy is a complete folder: load it as one, which never touches the network
    // (transformers.js looks some files up outside `cache_dir` when given a hub id).
    const parts = isCached
      ? await ClipModel.loadParts(cached, `"${modelId}" (cached at ${cached})`, { local_files_only: true }, engine, precision)
      : await ClipModel.loadParts(
          modelId,
          `"${modelId}"`,
          { revision, local_files_only: false, ...(cacheDir ? { cache_dir: cacheDir } : {}) },
          engine,
          precision,
        );
    const hash = cached !== undefined && missingFiles(cached, precision).length === 0 ? `#sha256:${await hashFiles(cached, await identityFiles(cached))}` : '';
    return ClipModel.create(parts, `hf:${modelId}@${revision}${hash}${precisionTag(precision)}`, modelId, device, options);
  }

  /** The constructor's checks, releasing the sessions when they fail. */
  private static async create(parts: Parts, id: string, source: string, device: Device, options: ClipLoadOptions): Promise<ClipModel> {
    try {
      return new ClipModel(parts, id, source, device, options);
    } catch (err) {
      await Promise.all([parts.vision.dispose(), parts.text.dispose()]);
      throw err;
    }
  }

  /** Loads configs, tokenizer and both sessions through transformers.js. */
  private static async loadParts(
    pathOrId: string,
    where: string,
    hfOptions: { local_files_only: boolean; revision?: string; cache_dir?: string },
    engine: Engine,
    precision: ClipPrecision,
  ): Promise<Parts> {
    const modelOptions = {
      ...hfOptions,
      dtype: precision,
      device: engine.device,
      session_options: engine.sessionOptions(),
    };
    let loaded: [unknown, unknown, unknown, unknown];
    try {
      loaded = await Promise.all([
        CLIPVisionModelWithProjection.from_pretrained(pathOrId, modelOptions),
        CLIPTextModelWithProjection.from_pretrained(pathOrId, modelOptions),
        AutoTokenizer.from_pretrained(pathOrId, hfOptions),
        AutoImageProcessor.from_pretrained(pathOrId, hfOptions),
      ]);
    } catch (err) {
      const hint =
        engine.device === 'cuda'
          ? ' (device cuda: is onnxruntime-node installed with CUDA, e.g. ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js?)'
          : '';
      throw new Error(`CLIP ${where}: could not be loaded by transformers.js${hint}: ${(err as Error).message}`);
    }
    const [vision, text, tokenizer, processor] = loaded as [HfModel, HfModel, Tokenizer, { config: Record<string, unknown> }];
    const pre = clipPreprocessing(processor.config, `CLIP ${where}: preprocessor_config.json`);
    return { vision, text, tokenizer, pre };
  }

  /**
   * Encodes `n` images given as normalised float32 NCHW pixels (n×3×S×S, S = inputSize; a longer
   * array or a subarray view is fine, nothing is copied). Returns L2-normalised embeddings, n×E.
   */
  async encodeImages(pixels: Float32Array, n: number): Promise<Float32Array> {
    const S = this.inputSize;
    const per = 3 * S * S;
    if (!Number.isInteger(n) || n < 0) throw new Error(`CLIP encodeImages: n must be a non-negative integer (got ${n})`);
    if (pixels.length < n * per) {
      throw new Error(`CLIP encodeImages: ${pixels.length} values for ${n} images of 3×${S}×${S} (need ${n * per})`);
    }
    const E = this.embedDim;
    if (n === 0) return new Float32Array(0);
    const batch = this.imageBatch;
    if (n === batch || (n < batch && fixedDim(this.visionSession, this.pixelInput, 0) === undefined)) {
      // One run; ORT's fresh output buffer is normalised in place and returned.
      const out = await this.runVision(pixels.subarray(0, n * per), n);
      normaliseRows(out, n, E);
      return out;
    }
    const result = new Float32Array(n * E);
    for (let start = 0; start < n; start += batch) {
      const count = Math.min(batch, n - start);
      let chunk = pixels.subarray(start * per, (start + count) * per);
      if (count < batch && fixedDim(this.visionSession, this.pixelInput, 0) !== undefined) {
        const padded = new Float32Array(batch * per); // a fixed-batch model needs a full batch
        padded.set(chunk);
        chunk = padded;
      }
      const out = await this.runVision(chunk, chunk.length / per);
      result.set(out.subarray(0, count * E), start * E);
    }
    normaliseRows(result, n, E);
    return result;
  }

  private async runVision(pixels: Float32Array, n: number): Promise<Float32Array> {
    const S = this.inputSize;
    const dims = [n, 3, S, S];
    const feeds = { [this.pixelInput]: this.pixelsHalf ? new ort.Tensor('float16', toFloat16Bits(pixels), dims) : new ort.Tensor('float32', pixels, dims) };
    const res = await this.visionSession.run(feeds, ['image_embeds']);
    return this.checkedEmbeds(res.image_embeds, n, 'image_embeds');
  }

  private checkedEmbeds(t: ort.OnnxValue | undefined, n: number, name: string): Float32Array {
    const tensor = t as ort.Tensor | undefined;
    if (!tensor || (tensor.type !== 'float32' && tensor.type !== 'float16')) throw new Error(`CLIP ${this.source}: ${name} is missing or not float32/float16`);
    if (tensor.dims.length !== 2 || tensor.dims[0] !== n || tensor.dims[1] !== this.embedDim) {
      throw new Error(`CLIP ${this.source}: ${name} has shape [${tensor.dims.join(', ')}], expected [${n}, ${this.embedDim}]`);
    }
    return tensor.type === 'float16' ? fromFloat16Bits(tensor.data as Uint16Array) : (tensor.data as Float32Array);
  }

  /** L2-normalised embeddings of the texts, texts.length×E row-major. */
  async encodeTexts(texts: readonly string[]): Promise<Float32Array> {
    const E = this.embedDim;
    const result = new Float32Array(texts.length * E);
    for (let start = 0; start < texts.length; start += this.textBatch) {
      const chunk = texts.slice(start, start + this.textBatch);
      const enc = this.tokenizer(chunk, { padding: true, truncation: true, max_length: this.maxTokens });
      const feeds: Record<string, ort.Tensor> = {
        input_ids: new ort.Tensor('int64', enc.input_ids.data, enc.input_ids.dims),
      };
      if (this.feedMask) feeds.attention_mask = new ort.Tensor('int64', enc.attention_mask.data, enc.attention_mask.dims);
      const res = await this.textSession.run(feeds, ['text_embeds']);
      result.set(this.checkedEmbeds(res.text_embeds, chunk.length, 'text_embeds'), start * E);
    }
    normaliseRows(result, texts.length, E);
    return result;
  }

  /** Token ids of one text as the text tower sees it (start and end tokens included). */
  tokenize(text: string): number[] {
    const enc = this.tokenizer([text], { padding: false, truncation: true, max_length: this.maxTokens });
    return Array.from(enc.input_ids.data, (v) => Number(v));
  }

  /** Releases both sessions. */
  async dispose(): Promise<void> {
    await Promise.all([this.vision.dispose(), this.text.dispose()]);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}

/** The id suffix of non-default weights (so caches keyed by the id never mix precisions). */
function precisionTag(precision: ClipPrecision): string {
  return precision === 'fp32' ? '' : `#${precision}`;
}
