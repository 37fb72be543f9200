/**
 * Local intervention (SPEC step 6): edit concept maps on the grid, C(x)[m] ← C(x)[m] + β·I with
 * I the region resized to the grid (`gridMask`: the covered fraction of each cell), then pool,
 * standardise and classify again with the model's own pooling and weights (an ONNX graph from
 * concept maps to logits, `buildClassifierModel`).
 *
 * Each edit is applied exactly once. (The authors' released code adds the mask twice through a
 * tensor aliasing bug, doubling β; SPEC says to apply it once.) Edits of the same concept add up.
 */
import { dataF32, f32 } from '../engine/session.js';
import type { ConceptModel } from '../models/concept-model.js';
import { HEAD_OUTPUTS, buildClassifierModel } from '../models/salf-head.js';
import type { ImageOutputs } from './analyse.js';
import { rankClasses, type ClassScore } from './contributions.js';
import { gridMask, type RasterRegion } from './raster.js';

/** One edit: add `beta` times the region's grid mask to concept `concept`'s map. */
export interface ConceptEdit {
  /** Concept index m. */
  concept: number;
  beta: number;
  region: RasterRegion;
}

/** Classifier outputs for n sets of concept maps. */
export interface ClassifierOutputs {
  /** n×L */
  logits: Float32Array;
  /** n×M */
  activations: Float32Array;
  /** n×M */
  standardised: Float32Array;
}

/** Pools, standardises and classifies n sets of concept maps (n×M×Gh×Gw) with the model's head. */
export async function classifyConceptMaps(model: ConceptModel, maps: Float32Array, n: number): Promise<ClassifierOutputs> {
  const M = model.concepts.length;
  const L = model.classes.length;
  const [gh, gw] = model.grid;
  if (maps.length !== n * M * gh * gw) throw new Error(`classifyConceptMaps: ${maps.length} values, expected n×M×Gh×Gw = ${n}×${M}×${gh}×${gw}`);
  const session = await model.engine.cached(model, 'salf-classifier', () => buildClassifierModel({ M, L, grid: model.grid }, model.head, model.pooling));
  const out = await session.run({ [HEAD_OUTPUTS.conceptMaps]: f32(maps, [n, M, gh, gw]) });
  return {
    logits: dataF32(out[HEAD_OUTPUTS.logits]!),
    activations: dataF32(out[HEAD_OUTPUTS.activations]!),
    standardised: dataF32(out[HEAD_OUTPUTS.standardised]!),
  };
}

/** A copy of one image's concept maps (M×G) with every edit added once. */
export function applyEdits(model: Pick<ConceptModel, 'concepts' | 'grid'>, maps: Float32Array, edits: readonly ConceptEdit[]): Float32Array {
  const M = model.concepts.length;
  const G = model.grid[0] * model.grid[1];
  if (maps.length !== M * G) throw new Error(`applyEdits: maps have ${maps.length} values, expected M×G = ${M}×${G}`);
  const out = Float32Array.from(maps);
  for (const e of edits) {
    if (!(Number.isInteger(e.concept) && e.concept >= 0 && e.concept < M)) throw new Error(`intervention: concept index ${e.concept} is out of range`);
    if (!Number.isFinite(e.beta)) throw new Error(`intervention: β must be a finite number (got ${e.beta})`);
    const mask = gridMask(e.region, model.grid);
    for (let g = 0; g < G; g++) out[e.concept * G + g]! += e.beta * mask[g]!;
  }
  for (let i = 0; i < out.length; i++) {
    if (Number.isFinite(out[i]!)) continue;
    const m = Math.floor(i / G);
    const betas = edits.filter((e) => e.concept === m).map((e) => e.beta);
    throw new Error(`intervention: β ${betas.join(', ')} on concept "${model.concepts[m]}" makes its map ${out[i]} (beyond float32); use a smaller β`);
  }
  return out;
}

/** How one concept's activations changed. */
export interface ConceptChange {
  concept: string;
  index: number;
  activationBefore: number;
  activationAfter: number;
  standardisedBefore: number;
  standardisedAfter: number;
}

/** How one concept's contribution to one class changed. */
export interface ContributionChange {
  class: string;
  concept: string;
  /** W_F[l, m]. */
  weight: number;
  before: number;
  after: number;
  delta: number;
}

/** The outcome of an intervention on one image. */
export interface InterventionResult {
  edits: { concept: string; index: number; beta: number; region: string; gridMask: number[] }[];
  before: { prediction: ClassScore; classes: ClassScore[] };
  after: { prediction: ClassScore; classes: ClassScore[] };
  /** Every class's logit before and after. */
  logits: { class: string; before: number; after: number; delta: number }[];
  /** The edited concepts, with their activations before and after. */
  concepts: ConceptChange[];
  /**
   * For the tracked classes (the predictions before and after, and any asked for), every
   * contribution that changed, largest change first.
   */
  contributions: ContributionChange[];
  /** Warnings from the regions. */
  warnings: string[];
}

/**
 * Applies `edits` to one image's concept maps and classifies again. `classes` adds classes
 * whose contribution changes are reported besides the predictions before and after.
 *
 * @example Switch concept 3 off inside a box
 * ```ts
 * const { images, outputs } = await analyseImages(model, ['bird.jpg']);
 * const region = rasteriseRegion(await parseRegion('box:10,20,120,140'), images[0]!.geometry);
 * const result = await intervene(model, imageOutputs(model, outputs, 0), [{ concept: 3, beta: 0, region }]);
 * console.log(result.before.prediction, result.after.prediction);
 * ```
 */
export async function intervene(
  model: ConceptModel,
  out: Pick<ImageOutputs, 'conceptMaps'>,
  edits: readonly ConceptEdit[],
  classes: readonly number[] = [],
): Promise<InterventionResult> {
  if (edits.length === 0) throw new Error('intervention: no edits given');
  const M = model.concepts.length;
  const L = model.classes.length;
  const edited = applyEdits(model, out.conceptMaps, edits);
  // Before and after through the same graph, so only the edits make a difference.
  const both = new Float32Array(2 * edited.length);
  both.set(out.conceptMaps);
  both.set(edited, edited.length);
  const res = await classifyConceptMaps(model, both, 2);
  const bad = res.logits.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) {
    const which = bad < L ? 'the unedited image' : 'the edited image';
    throw new Error(
      `intervention: the logit of class "${model.classes[bad % L]}" for ${which} is ${res.logits[bad]} (overflow in the classifier); use a smaller β`,
    );
  }
  const b = { logits: res.logits.subarray(0, L), activations: res.activations.subarray(0, M), standardised: res.standardised.subarray(0, M) };
  const a = { logits: res.logits.subarray(L), activations: res.activations.subarray(M), standardised: res.standardised.subarray(M) };
  const beforeRank = rankClasses(model, b.logits);
  const afterRank = rankClasses(model, a.logits);
  const changed = [...new Set(edits.filter((e) => e.beta !== 0).map((e) => e.concept))].sort((x, y) => x - y);
  const tracked = [...new Set([beforeRank[0]!.index, afterRank[0]!.index, ...classes])];
  const w = model.head.finalWeight;
  const contributions: ContributionChange[] = [];
  for (const l of tracked) {
    for (const m of changed) {
      const weight = w[l * M + m]!;
      if (weight === 0) continue;
      const before = weight * b.standardised[m]!;
      const after = weight * a.standardised[m]!;
      contributions.push({ class: model.classes[l]!, concept: model.concepts[m]!, weight, before, after, delta: after - before });
    }
  }
  contributions.sort((a, b) => Math.abs(b.delta) - Math.abs(a.delta));
  return {
    edits: edits.map((e) => ({
      concept: model.concepts[e.concept]!,
      index: e.concept,
      beta: e.beta,
      region: e.region.label,
      gridMask: Array.from(gridMask(e.region, model.grid)),
    })),
    before: { prediction: beforeRank[0]!, classes: beforeRank },
    after: { prediction: afterRank[0]!, classes: afterRank },
    logits: model.classes.map((c, l) => ({ class: c, before: b.logits[l]!, after: a.logits[l]!, delta: a.logits[l]! - b.logits[l]! })),
    concepts: changed.map((m) => ({
      concept: model.concepts[m]!,
      index: m,
      activationBefore: b.activations[m]!,
      activationAfter: a.activations[m]!,
      standardisedBefore: b.standardised[m]!,
      standardisedAfter: a.standardised[m]!,
    })),
    contributions,
    warnings: [...new Set(edits.flatMap((e) => e.region.warnings))],
  };
}
