/**
 * Zero-shot segmentation (SPEC "Evaluation protocols"; Chefer et al. 2021): heatmaps for the
 * predicted class, on the same images and the same backbone, scored against foreground masks
 * with the reference metrics (segmentation-metrics.ts). Methods:
 *
 * - `salf`: SALF-CBM's map for its predicted class l*. `concept` mode: the concept map of the
 *   concept that names the class (the paper trains with the concepts "An image of a {class}");
 *   `contribution` mode: Σ_m W_F[l*, m]·(C[m] − μ_m)/σ_m, the class's evidence at each grid
 *   position (with mean pooling its average plus b_F[l*] is the logit). `auto` uses `concept`
 *   when every class has a concept, else `contribution`.
 * - `cam`: Grad-CAM = ReLU(CAM) of the backbone's predicted class (cam.ts; no gradients needed
 *   for a global-average-pool + linear head).
 * - `scorecam`: Score-CAM of the backbone's predicted class (score-cam.ts; forward passes only).
 * - `teacher`: the CLIP teacher's red-circle map P of the concept naming SALF-CBM's predicted
 *   class (teacher-map.ts), upsampled as SALF-CBM's map: the map SALF-CBM's class map is trained
 *   to imitate. Not run by default (G_h·G_w CLIP passes per image).
 *
 * Images are stretched to the backbone's S×S input (bilinear, PIL-exact, as torchvision's
 * `Resize((S, S))`), masks resized with nearest neighbour; maps are upsampled bilinearly to S×S
 * (Score-CAM's already is). Per-image results are cached in shards, so a killed run resumes.
 */
import { resizeRgb, toChwNormalised } from '../data/image-io.js';
import type { RgbImage } from '../data/rgb-image.js';
import { Engine, type Device } from '../engine/session.js';
import type { Backbone } from '../models/backbone.js';
import { SalfCbm } from '../models/salf-cbm.js';
import { silentProgress, type Progress } from '../progress.js';
import { allClassMaps, camOf, logitsFromClassMaps, type LinearHead } from './cam.js';
import { writeHeatmapFigure, type FigureRow } from './figure.js';
import { backboneHead, loadNativeBackbone, scoreCamModel } from './native-backbone.js';
import { resizeFeatureGrid, resizeMaskNearest, upsampleMaps } from './resample.js';
import { scoreCam, type ScoreCamModel } from './score-cam.js';
import { TeacherClassMaps } from './teacher-map.js';
import type { SegDataset, SegExample } from './seg-datasets.js';
import { arraysIdentity, fileIdentity } from '../store/fingerprint.js';
import { ShardCache } from './shard-cache.js';
import { segmentationImageStats, summariseSegmentation, type SegImageStats, type SegSummary } from './segmentation-metrics.js';

/** The heatmap methods. */
export type SegMethod = 'salf' | 'teacher' | 'cam' | 'scorecam';
export const SEG_METHODS: readonly SegMethod[] = ['salf', 'teacher', 'cam', 'scorecam'];
/** The methods run when none are named. */
export const DEFAULT_SEG_METHODS: readonly SegMethod[] = ['salf', 'cam', 'scorecam'];
export const SEG_METHOD_LABELS: Record<SegMethod, string> = {
  salf: 'SALF-CBM',
  teacher: 'P (CLIP teacher)',
  cam: 'Grad-CAM (= CAM)',
  scorecam: 'Score-CAM',
};

/** How SALF-CBM's class heatmap is formed (see the module comment). */
export type SalfMapMode = 'auto' | 'concept' | 'contribution';

/** Options of {@link evaluateSegmentation}. */
export interface SegmentationEvalOptions {
  /** A trained SALF-CBM (directory or loaded). Its backbone serves every method. */
  model: string | SalfCbm;
  dataset: SegDataset;
  /** Methods, in report order; salf, cam and scorecam by default. */
  methods?: readonly SegMethod[];
  /** Evaluate only the first `limit` images. */
  limit?: number;
  salfMap?: SalfMapMode;
  /** Template naming a class's concept, `{class}` replaced (underscores also tried as spaces). Default: "an image of a {class}", then "a photo of a {class}", then "{class}". */
  classConcept?: string;
  /** Or the concept of every class explicitly, in class order (e.g. for classes named by ImageNet synset ids). */
  classConcepts?: readonly string[];
  /** The teacher's CLIP model (folder or hub id), instead of the one recorded in the SALF-CBM's config. */
  clip?: string;
  /** The backbone's logits tensor, overriding the model's backbone config. */
  logitsTensor?: string;
  /** CAM head weights (safetensors: weight [L,D], bias [L]) instead of reading them from the ONNX graph. */
  headFile?: string;
  /** ReLU on the CAM map (Grad-CAM); true. */
  camRelu?: boolean;
  /** Masked images per Score-CAM batch; 32. */
  scoreCamBatch?: number;
  /** Images per cached shard; 16. */
  shardSize?: number;
  /** Cache folder for per-image results. */
  cacheDir: string;
  /** Also write a figure of the first `count` (default 4) images with every method's heatmap. */
  figure?: { path: string; count?: number };
  device?: Device;
  engine?: Engine;
  progress?: Progress;
}

/** One method's scores. */
export interface SegMethodResult extends SegSummary {
  method: SegMethod;
  label: string;
}

/** What {@link evaluateSegmentation} returns (and the CLI writes as JSON). */
export interface SegmentationResult {
  dataset: string;
  images: number;
  inputSize: number;
  backbone: string;
  salfMap?: 'concept' | 'contribution';
  camHead?: string;
  methods: SegMethodResult[];
  /** Fraction of images where SALF-CBM and the backbone predict the same class (when both ran). */
  predictionAgreement?: number;
  figure?: { path: string; images: string[]; columns: string[] };
  cacheDir: string;
}

interface ImageRecord {
  id: string;
  pred: { salf?: number; backbone?: number };
  stats: Partial<Record<SegMethod, SegImageStats>>;
}

interface Shard {
  range: [number, number];
  images: ImageRecord[];
}

const DEFAULT_TEMPLATES = ['an image of a {class}', 'a photo of a {class}', '{class}'];

/**
 * For every class, the index of the concept that names it (case-insensitive, `{class}` in the
 * template replaced by the class name, or by it with underscores as spaces), or -1.
 */
export function classConceptIndex(classes: readonly string[], concepts: readonly string[], template?: string, explicit?: readonly string[]): number[] {
  const index = new Map<string, number>();
  concepts.forEach((c, i) => {
    const key = c.trim().toLowerCase();
    if (!index.has(key)) index.set(key, i);
  });
  if (explicit) {
    if (explicit.length !== classes.length)
      throw new Error(`segmentation: ${explicit.length} class concepts given for ${classes.length} classes (one per class, in class order)`);
    return explicit.map((c) => index.get(c.trim().toLowerCase()) ?? -1);
  }
  const templates = template ? [template] : DEFAULT_TEMPLATES;
  return classes.map((cls) => {
    for (const t of templates) {
      for (const name of new Set([cls, cls.replace(/_/g, ' ')])) {
        const hit = index.get(t.split('{class}').join(name).trim().toLowerCase());
        if (hit !== undefined) return hit;
      }
    }
    return -1;
  });
}

function argmax(z: Float32Array, i: number, L: number): number {
  let best = 0;
  for (let c = 1; c < L; c++) if (z[i * L + c]! > z[i * L + best]!) best = c;
  return best;
}

/** Everything one run needs, loaded once. */
interface Context {
  engine: Engine;
  salf: SalfCbm;
  backbone: Backbone;
  methods: readonly SegMethod[];
  salfMode?: 'concept' | 'contribution';
  classConcept: number[];
  teacher?: TeacherClassMaps;
  head?: LinearHead;
  scoreModel?: ScoreCamModel;
  camRelu: boolean;
  scoreCamBatch: number;
}

/** Per-image maps at S×S and statistics for a batch of examples. */
async function processBatch(ctx: Context, examples: SegExample[], keepMaps: boolean): Promise<{ records: ImageRecord[]; rows: FigureRow[] }> {
  const { engine, salf, backbone } = ctx;
  const S = backbone.inputSize;
  const n = examples.length;
  const { mean, std } = backbone.config.preprocess;
  const pixels = new Float32Array(n * 3 * S * S);
  const images: RgbImage[] = [];
  const masks: Uint8Array[] = [];
  examples.forEach((ex, i) => {
    const img = ex.image.width === S && ex.image.height === S ? ex.image : resizeRgb(ex.image, S, S, 'bilinear');
    images.push(img);
    toChwNormalised(img, mean, std, pixels, i * 3 * S * S);
    masks.push(resizeMaskNearest(ex.mask, S, S).data);
  });
  const native = backbone.nativeGrid;
  const P = backbone.gridSize;
  const D = backbone.featureDim;
  const out = await backbone.run(pixels, n);
  const records: ImageRecord[] = examples.map((ex) => ({ id: ex.id, pred: {}, stats: {} }));
  const maps: Partial<Record<SegMethod, Float32Array[]>> = {};

  if (ctx.methods.includes('salf') || ctx.methods.includes('teacher')) {
    const { grid, M, L } = salf.shape;
    const G = grid[0] * grid[1];
    const gridF = await resizeFeatureGrid(engine, out.features, n, native, grid, D);
    const res = await salf.forwardFeatures(gridF, n);
    const low = new Float32Array(n * G);
    const teacherLow = new Float32Array(ctx.teacher ? n * G : 0);
    for (let i = 0; i < n; i++) {
      const l = argmax(res.logits, i, L);
      records[i]!.pred.salf = l;
      if (ctx.teacher) teacherLow.set(await ctx.teacher.map(examples[i]!.image, l), i * G);
      if (!ctx.salfMode) continue;
      const C = res.conceptMaps.subarray(i * M * G, (i + 1) * M * G);
      if (ctx.salfMode === 'concept') {
        low.set(C.subarray(ctx.classConcept[l]! * G, (ctx.classConcept[l]! + 1) * G), i * G);
      } else {
        const W = salf.weights.finalWeight;
        for (let m = 0; m < M; m++) {
          const a = W[l * M + m]!;
          if (a === 0) continue;
          const k = a / salf.weights.std[m]!;
          const mu = salf.weights.mean[m]!;
          for (let g = 0; g < G; g++) low[i * G + g]! += k * (C[m * G + g]! - mu);
        }
      }
    }
    const perImage = (up: Float32Array) => examples.map((_, i) => up.subarray(i * S * S, (i + 1) * S * S));
    if (ctx.methods.includes('salf')) maps.salf = perImage(await upsampleMaps(engine, low, n, [grid[0], grid[1]], [S, S]));
    if (ctx.teacher) maps.teacher = perImage(await upsampleMaps(engine, teacherLow, n, [grid[0], grid[1]], [S, S]));
  }

  if (ctx.methods.includes('cam') || ctx.methods.includes('scorecam')) {
    const head = ctx.head;
    const classMaps = head ? await allClassMaps(engine, head, out.features, n, P) : undefined;
    const logits = out.logits ?? (head && classMaps ? logitsFromClassMaps(head, classMaps, n, P) : undefined);
    const L = backbone.numClasses ?? head!.L;
    for (let i = 0; i < n; i++) records[i]!.pred.backbone = argmax(logits!, i, L);
    if (ctx.methods.includes('cam')) {
      const low = new Float32Array(n * P);
      for (let i = 0; i < n; i++) low.set(camOf(classMaps!, i, P, head!.L, records[i]!.pred.backbone!, ctx.camRelu), i * P);
      const up = await upsampleMaps(engine, low, n, native, [S, S]);
      maps.cam = examples.map((_, i) => up.subarray(i * S * S, (i + 1) * S * S));
    }
    if (ctx.methods.includes('scorecam')) {
      maps.scorecam = [];
      for (let i = 0; i < n; i++) {
        maps.scorecam.push(
          await scoreCam(
            engine,
            ctx.scoreModel!,
            pixels.subarray(i * 3 * S * S, (i + 1) * 3 * S * S),
            out.features.subarray(i * P * D, (i + 1) * P * D),
            native,
            D,
            records[i]!.pred.backbone!,
            { batch: ctx.scoreCamBatch },
          ),
        );
      }
    }
  }

  for (const m of ctx.methods) {
    maps[m]!.forEach((map, i) => {
      records[i]!.stats[m] = segmentationImageStats(map, masks[i]!);
    });
  }
  const rows: FigureRow[] = keepMaps
    ? examples.map((_, i) => ({ image: images[i]!, mask: masks[i]!, maps: ctx.methods.map((m) => Float32Array.from(maps[m]![i]!)) }))
    : [];
  return { records, rows };
}

/** Runs the zero-shot segmentation evaluation (see the module comment). */
export async function evaluateSegmentation(options: SegmentationEvalOptions): Promise<SegmentationResult> {
  const progress = options.progress ?? silentProgress;
  const methods = options.methods ?? DEFAULT_SEG_METHODS;
  if (methods.length === 0) throw new Error('segmentation: no methods to evaluate');
  for (const m of methods) if (!SEG_METHODS.includes(m)) throw new Error(`segmentation: unknown method '${String(m)}' (${SEG_METHODS.join(', ')})`);
  const engine = options.engine ?? new Engine({ device: options.device });
  const salf = typeof options.model === 'string' ? SalfCbm.load(options.model, engine) : options.model;
  let head: LinearHead | undefined;
  let teacher: TeacherClassMaps | undefined;
  try {
    const config = { ...salf.config.backbone, ...(options.logitsTensor ? { logitsTensor: options.logitsTensor } : {}) };
    const backbone = await loadNativeBackbone(config, engine, [salf.config.grid[0], salf.config.grid[1]]);
    if (backbone.featureDim !== salf.shape.D)
      throw new Error(`${config.model}: the feature map has ${backbone.featureDim} channels but the SALF-CBM expects D = ${salf.shape.D}`);

    // SALF map mode.
    let salfMode: 'concept' | 'contribution' | undefined;
    const classConcept = classConceptIndex(salf.classes, salf.concepts, options.classConcept, options.classConcepts);
    if (methods.includes('salf')) {
      const wanted = options.salfMap ?? 'auto';
      const missing = salf.classes.filter((_, l) => classConcept[l]! < 0);
      if (wanted === 'concept' && missing.length > 0) {
        throw new Error(
          `segmentation: no concept names the class(es) ${missing
            .slice(0, 5)
            .map((c) => JSON.stringify(c))
            .join(
              ', ',
            )}${missing.length > 5 ? ' …' : ''} (${options.classConcepts ? "the given class concepts are not among the model's concepts" : `template ${JSON.stringify(options.classConcept ?? DEFAULT_TEMPLATES.join(' | '))}`}); give --class-concept(s) or use the contribution map`,
        );
      }
      if (wanted !== 'auto' && wanted !== 'concept' && wanted !== 'contribution')
        throw new Error(`segmentation: salfMap must be auto, concept or contribution (got ${String(wanted)})`);
      salfMode = wanted === 'auto' ? (missing.length === 0 ? 'concept' : 'contribution') : wanted;
    }

    // CAM head and Score-CAM classifier.
    if (methods.includes('cam') || (methods.includes('scorecam') && backbone.numClasses === undefined)) head = backboneHead(backbone, options.headFile);
    const scoreModel = methods.includes('scorecam') ? scoreCamModel(engine, backbone, head) : undefined;
    if (head && backbone.numClasses !== undefined && backbone.numClasses !== head.L) {
      throw new Error(`${head.source}: the head has ${head.L} classes but the logits tensor ${config.logitsTensor} has ${backbone.numClasses}`);
    }

    if (methods.includes('teacher')) teacher = await TeacherClassMaps.load(salf, classConcept, options.clip, options.device);

    const ctx: Context = {
      engine,
      salf,
      backbone,
      methods,
      salfMode,
      classConcept,
      teacher,
      head,
      scoreModel,
      camRelu: options.camRelu ?? true,
      scoreCamBatch: options.scoreCamBatch ?? 32,
    };
    const dataset = options.dataset;
    const count = Math.min(dataset.length, options.limit ?? dataset.length);
    if (count < 1) throw new Error(`segmentation: ${dataset.name} has no images to evaluate`);
    const w = salf.weights;
    const cache = new ShardCache(
      options.cacheDir,
      'segmentation',
      {
        v: 1,
        model: arraysIdentity([w.conceptWeight, w.mean, w.std, w.finalWeight, w.finalBias]),
        grid: salf.config.grid,
        pooling: salf.config.pooling,
        backbone: config,
        backboneFile: fileIdentity([config.model]),
        data: dataset.identity,
        methods,
        salfMode,
        classConcept: salfMode === 'concept' || teacher ? classConcept : undefined,
        teacher: teacher ? { clip: teacher.clip.id, radius: salf.config.prompting.radius, placement: salf.config.prompting.placement } : undefined,
        head: head ? arraysIdentity([head.weight, head.bias]) : undefined,
        camRelu: ctx.camRelu,
      },
      options.shardSize ?? 16,
    );

    const records: ImageRecord[] = [];
    const shards = cache.shards(count);
    progress.start(`segmentation (${methods.join(', ')})`, count);
    let reused = 0;
    for (let s = 0; s < shards; s++) {
      const range = cache.range(s, count);
      let shard = cache.readJson<Shard>(s);
      if (shard && (shard.range[0] !== range[0] || shard.range[1] !== range[1])) shard = undefined;
      if (shard) {
        reused++;
      } else {
        const examples: SegExample[] = [];
        for (let i = range[0]; i < range[1]; i++) examples.push(await dataset.read(i));
        shard = { range, images: (await processBatch(ctx, examples, false)).records };
        cache.writeJson(s, shard);
      }
      records.push(...shard.images);
      progress.update(range[1]);
    }
    progress.stop();
    if (reused > 0) progress.log(`segmentation: reused ${reused} of ${shards} cached shard(s) from ${cache.dir}`);

    const result: SegmentationResult = {
      dataset: dataset.name,
      images: count,
      inputSize: backbone.inputSize,
      backbone: config.model,
      ...(salfMode ? { salfMap: salfMode } : {}),
      ...(head ? { camHead: head.source } : {}),
      methods: methods.map((m) => ({ method: m, label: SEG_METHOD_LABELS[m], ...summariseSegmentation(records.map((r) => r.stats[m]!)) })),
      cacheDir: cache.dir,
    };
    if (records.every((r) => r.pred.salf !== undefined && r.pred.backbone !== undefined)) {
      result.predictionAgreement = records.filter((r) => r.pred.salf === r.pred.backbone).length / records.length;
    }

    if (options.figure) {
      const k = Math.min(options.figure.count ?? 4, count);
      const examples: SegExample[] = [];
      for (let i = 0; i < k; i++) examples.push(await dataset.read(i));
      const { rows } = await processBatch(ctx, examples, true);
      await writeHeatmapFigure(options.figure.path, rows);
      result.figure = {
        path: options.figure.path,
        images: examples.map((e) => e.id),
        columns: ['image', 'ground truth', ...methods.map((m) => SEG_METHOD_LABELS[m])],
      };
    }
    return result;
  } finally {
    // What this evaluation opened goes with it: the engine when it made one, else the sessions
    // of the model it loaded and those cached under the CAM head.
    await teacher?.dispose();
    if (!options.engine) await engine.dispose();
    else await Promise.all([salf === options.model ? undefined : salf.dispose(), head ? engine.evict(head) : undefined]);
  }
}
