/**
 * The demo: the whole method on the proving ground, offline, in a few minutes on two cores.
 * It generates a world, trains a SALF-CBM on the committed proving-ground models (a small CNN as
 * the black box and a small CLIP-like model, both trained by tools/proving_ground/), and measures
 * it against ground truth: accuracy (black box, SALF-CBM sparse and dense), NEC, and how well
 * the concept maps localise concepts (pointing game and concept mIoU), for the CLIP-like model's
 * own red-circle maps P and for SALF-CBM's maps C, on the test and the shifted split.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadRgb } from '../data/image-io.js';
import { packageRoot } from '../package-root.js';
import { Engine } from '../engine/session.js';
import { explainOutputs, writeExplanationFiles } from '../explain/explain-image.js';
import { imageOutputs, prepareImage } from '../explain/analyse.js';
import type { BackboneConfig } from '../models/backbone.js';
import { backboneConfigSchema } from '../models/config-schemas.js';
import { readJsonAs } from '../data/json-schema.js';
import { ClipModel } from '../models/clip.js';
import { conceptModelFromSalf } from '../models/concept-model.js';
import { extractFeatures } from '../models/extract-features.js';
import { SalfCbm } from '../models/salf-cbm.js';
import type { Pooling } from '../models/salf-head.js';
import { silentProgress, type Progress } from '../progress.js';
import { computePromptedEmbeddings, conceptSimilarities } from '../similarity/compute.js';
import { trainFinalLayer } from '../training/final-layer.js';
import { trainSalfCbm } from '../training/train-salf-cbm.js';
import { conceptMaskFromLabels, generateWorld, loadAnnotation, loadLabelMask, readIndex, type SplitEntry, type WorldCounts } from './dataset.js';
import { LocalisationScore } from './localisation.js';
import { upsampleAtCentres } from '../explain/prompt-aligned.js';
import { gridCentres, type Placement } from '../similarity/prompting.js';
import { CONCEPTS, conceptKind } from './vocab.js';

/** Where the committed proving-ground models live (assets/proving-ground in the package). */
export function provingGroundAssets(): string {
  return join(packageRoot(), 'assets', 'proving-ground');
}

/**
 * The two committed black boxes. `narrow`: the CNN trained on the 8-class rule alone, whose
 * features hardly encode what the rule does not need (the distractors' colours, shapes and
 * patterns). `broad`: the same trunk trained on a broad dense task (each cell's shape x colour
 * x pattern cover), then frozen under a linear head for the 8 classes, as ImageNet backbones
 * are reused (tools/proving_ground/train_models.py --only broad).
 */
export const BLACK_BOXES = ['narrow', 'broad'] as const;
export type BlackBox = (typeof BLACK_BOXES)[number];

/** Folder of each black box under the proving-ground models folder. */
export const BLACK_BOX_FOLDERS: Readonly<Record<BlackBox, string>> = { narrow: 'classifier', broad: 'broad-classifier' };

/** The black box the demo and `eval:proving` use unless told otherwise. */
export const DEFAULT_BLACK_BOX: BlackBox = 'narrow';

/** A committed black-box classifier as a backbone config (absolute model path). */
export function provingGroundBackbone(assets = provingGroundAssets(), blackBox: BlackBox = DEFAULT_BLACK_BOX): BackboneConfig {
  const dir = join(assets, BLACK_BOX_FOLDERS[blackBox]);
  const cfg = readJsonAs(join(dir, 'backbone.json'), backboneConfigSchema, 'backbone config');
  return { model: resolve(dir, cfg.model), featureTensor: cfg.featureTensor, layout: cfg.layout, logitsTensor: cfg.logitsTensor, preprocess: cfg.preprocess };
}

export interface DemoOptions {
  /** Work folder: world, caches, model and pictures. */
  out: string;
  seed?: number;
  counts?: WorldCounts;
  pooling?: Pooling;
  /** Interpretability cutoff of the concept layer; DEMO_CUTOFF by default. */
  cutoff?: number;
  /** Adam learning rate of the concept layer (LF-CBM's 1e-3 by default). */
  lr?: number;
  /** Test images explained in pictures. */
  pictures?: number;
  /** Which committed black box to explain; DEFAULT_BLACK_BOX by default. */
  blackBox?: BlackBox;
  progress?: Progress;
}

/** Measures on one split. */
export interface SplitMeasures {
  images: number;
  accuracyBlackbox: number;
  accuracySalfSparse: number;
  accuracySalfDense: number;
  /** Red-circle similarity maps P of the CLIP-like model. */
  pointingGameP: number;
  conceptMIoUP: number;
  /** SALF-CBM concept maps C. */
  pointingGameC: number;
  conceptMIoUC: number;
  conceptIoUC: Record<string, number>;
  /**
   * The pointing game restricted to concepts of the main (largest, class-deciding) object; the
   * other pairs are concepts only distractors carry, which the black box has no need to encode.
   */
  pointingGameMainP: number;
  pointingGameMainC: number;
  pairs: number;
  /** Pairs whose concept the main object carries. */
  mainPairs: number;
  /** The pointing game's chance level (mean fraction of the image a present concept covers). */
  pointingChance: number;
}

export interface DemoResult {
  blackBox: BlackBox;
  model: string;
  pictures: string;
  concepts: { given: number; kept: string[] };
  nec: number;
  nonZeros: number;
  test: SplitMeasures;
  shifted: SplitMeasures;
}

/**
 * The demo's interpretability cutoff. SPEC's 0.45 is tuned for real CLIP; the small CLIP-like
 * model's cubic similarities are lower (shape words 0.25–0.41 on validation), and at 0.45 the
 * shape words the class rule needs are dropped. 0.2 keeps every concept the model can tell
 * apart (`--cutoff 0.45` shows the SPEC setting).
 */
export const DEMO_CUTOFF = 0.2;

/** Default world size: small enough for five minutes on two cores. */
export const DEMO_COUNTS: WorldCounts = { train: 400, val: 100, test: 200, shifted: 200 };

/** Runs the demo (see the module comment). */
export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const progress = options.progress ?? silentProgress;
  const out = resolve(options.out);
  const seed = options.seed ?? 0;
  const counts = options.counts ?? DEMO_COUNTS;
  const assets = provingGroundAssets();
  const world = join(out, 'world');
  const cacheDir = join(out, 'cache');
  const modelDir = join(out, 'model');
  mkdirSync(out, { recursive: true });

  const total = counts.train + counts.val + counts.test + counts.shifted;
  progress.start('generating the world', total);
  await generateWorld({ seed, counts, outDir: world, onProgress: (done) => progress.update(done) });
  progress.stop();

  const blackBox = options.blackBox ?? DEFAULT_BLACK_BOX;
  const backbone = provingGroundBackbone(assets, blackBox);
  const clipDir = join(assets, 'clip');
  const engine = new Engine();
  const { model, metrics } = await trainSalfCbm({
    data: join(world, 'images'),
    splitFile: join(world, 'split.json'),
    backbone,
    clip: clipDir,
    concepts: [...CONCEPTS],
    out: modelDir,
    cacheDir,
    pooling: options.pooling ?? 'mean',
    cbl: { cutoff: options.cutoff ?? DEMO_CUTOFF, lr: options.lr },
    seed,
    progress,
  });

  // The dense final layer on the same standardised activations (the paper's "non-sparse" row).
  const bb = await model.backbone();
  const index = readIndex(world);
  const standardised = async (entries: SplitEntry[], label: string) => {
    const f = await extractFeatures(
      bb,
      entries.map((e) => ({ path: join(world, e.image), label: e.classIndex })),
      { cacheDir, progress, label },
    );
    const res = await model.forwardFeatures(f.F, f.samples.length);
    return { X: res.standardised, y: Int32Array.from(f.samples.map((s) => s.label)), n: f.samples.length };
  };
  const trainS = await standardised(index.train, 'features (train)');
  const valS = await standardised(index.val, 'features (val)');
  progress.start('final layer (dense)', 1000);
  const dense = await trainFinalLayer({
    Xtrain: trainS.X,
    ytrain: trainS.y,
    Xval: valS.X,
    yval: valS.y,
    nClasses: model.classes.length,
    mode: 'dense',
    seed,
    engine,
    onProgress: (p) => progress.update(p.epoch),
  });
  progress.stop();
  const denseModel = new SalfCbm(model.config, model.concepts, model.classes, { ...model.weights, finalWeight: dense.W, finalBias: dense.b });

  const clip = await ClipModel.load(clipDir);
  const T = await clip.encodeTexts(model.concepts);
  const measure = async (split: 'test' | 'shifted'): Promise<SplitMeasures> => {
    const entries = index[split];
    const paths = entries.map((e) => join(world, e.image));
    const feats = await extractFeatures(
      bb,
      paths.map((path, i) => ({ path, label: entries[i]!.classIndex })),
      { cacheDir, progress, label: `features (${split})` },
    );
    const n = feats.samples.length;
    const sparseOut = await model.forwardFeatures(feats.F, n);
    const denseOut = await denseModel.forwardFeatures(feats.F, n);
    const L = model.classes.length;
    const argmax = (z: Float32Array, i: number): number => {
      let best = 0;
      for (let l = 1; l < L; l++) if (z[i * L + l]! > z[i * L + best]!) best = l;
      return best;
    };
    let bbOk = 0;
    let sparseOk = 0;
    let denseOk = 0;
    for (let i = 0; i < n; i++) {
      const y = feats.samples[i]!.label;
      if (feats.logits && argmax(feats.logits, i) === y) bbOk++;
      if (argmax(sparseOut.logits, i) === y) sparseOk++;
      if (argmax(denseOut.logits, i) === y) denseOk++;
    }
    // The CLIP-like model's own red-circle maps P for the same images.
    const store = await computePromptedEmbeddings({
      encoder: clip,
      images: paths,
      loadImage: (p) => loadRgb(p, { size: clip.inputSize, mode: 'center' }, { interpolation: 'bicubic' }),
      resize: { size: clip.inputSize, mode: 'center', interpolation: 'bicubic' },
      grid: model.config.grid,
      radius: model.config.prompting.radius,
      cacheDir,
      progress,
    });
    const G = model.config.grid[0] * model.config.grid[1];
    const M = model.concepts.length;
    const placement = model.config.prompting.placement as Placement;
    const P = await conceptSimilarities(store.readAll(), n, G, clip.embedDim, T, M, engine);
    const size = clip.inputSize;
    const centres = gridCentres(size, model.config.grid[0], model.config.prompting.radius, placement);
    const centresX = gridCentres(size, model.config.grid[1], model.config.prompting.radius, placement);
    const aligned = (map: ArrayLike<number>, _g: readonly [number, number], s: number) =>
      upsampleAtCentres(
        map,
        centres.map((c) => (c * s) / size),
        centresX.map((c) => (c * s) / size),
        s,
        s,
      );
    const nodes = (_g: readonly [number, number], s: number) => ({ y: centres.map((c) => (c * s) / size), x: centresX.map((c) => (c * s) / size) });
    const scoreP = new LocalisationScore(aligned, nodes);
    const scoreC = new LocalisationScore(aligned, nodes);
    const mainP = new LocalisationScore(aligned, nodes);
    const mainC = new LocalisationScore(aligned, nodes);
    progress.start(`localisation (${split})`, n);
    const mapP = new Float32Array(G);
    entries.forEach((e, i) => {
      const ann = loadAnnotation(world, e.id);
      const labels = loadLabelMask(world, e.id);
      model.concepts.forEach((concept, m) => {
        // Concepts present in the image: some visible object carries the word.
        const kind = conceptKind(concept);
        if (!ann.objects.some((o) => o.area > 0 && o[kind] === concept)) return;
        const mask = conceptMaskFromLabels(labels, ann.objects, concept);
        for (let g = 0; g < G; g++) mapP[g] = P[(i * G + g) * M + m]!;
        const mapC = sparseOut.conceptMaps.subarray((i * M + m) * G, (i * M + m + 1) * G);
        scoreP.add(concept, mapP, model.config.grid, mask, ann.size);
        scoreC.add(concept, mapC, model.config.grid, mask, ann.size);
        const main = ann.objects[ann.mainObject]!;
        if (main.area > 0 && main[kind] === concept) {
          mainP.add(concept, mapP, model.config.grid, mask, ann.size);
          mainC.add(concept, mapC, model.config.grid, mask, ann.size);
        }
      });
      progress.update(i + 1);
    });
    progress.stop();
    return {
      images: n,
      accuracyBlackbox: bbOk / n,
      accuracySalfSparse: sparseOk / n,
      accuracySalfDense: denseOk / n,
      pointingGameP: scoreP.pointingGame,
      conceptMIoUP: scoreP.conceptMIoU,
      pointingGameC: scoreC.pointingGame,
      conceptMIoUC: scoreC.conceptMIoU,
      conceptIoUC: scoreC.conceptIoU(),
      pointingGameMainP: mainP.pointingGame,
      pointingGameMainC: mainC.pointingGame,
      pairs: scoreC.pairs,
      mainPairs: mainC.pairs,
      pointingChance: scoreC.chance,
    };
  };
  const test = await measure('test');
  const shifted = await measure('shifted');

  // Pictures: explanations of the first few test images.
  const pictures = join(out, 'explanations');
  const cm = conceptModelFromSalf(model, engine);
  for (const e of index.test.slice(0, options.pictures ?? 4)) {
    const prepared = await prepareImage(cm, join(world, e.image));
    const res = await model.forwardImages([join(world, e.image)]);
    const outputs = imageOutputs(cm, res, 0);
    const explanation = explainOutputs(cm, e.id, outputs, { topK: 5 });
    await writeExplanationFiles(cm, prepared, outputs, explanation, join(pictures, e.id));
  }
  await Promise.all([clip.dispose(), cm.dispose(), denseModel.dispose(), engine.dispose()]);

  return {
    blackBox,
    model: modelDir,
    pictures,
    concepts: { given: CONCEPTS.length, kept: model.concepts },
    nec: metrics.finalLayer.nec,
    nonZeros: metrics.finalLayer.nnz,
    test,
    shifted,
  };
}
