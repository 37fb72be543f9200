/**
 * One image in the explorer: the model's outputs for it, the class being explained, and a
 * stack of local interventions (SPEC step 6) with undo and reset. Everything the page shows is
 * computed here with the library's own explanation code (`explain/contributions.ts`,
 * `explain-region.ts`, `raster.ts`, `heatmap.ts`); only the re-classification of edited maps
 * is the page's (`classify.ts`). No DOM: the Node tests run it against the library.
 */
import type { ImageOutputs } from '../../explain/analyse.js';
import { explainClass, rankClasses, type ClassExplanation, type ClassScore } from '../../explain/contributions.js';
import { explainRegion, type RegionExplanation } from '../../explain/explain-region.js';
import type { InputGeometry } from '../../explain/geometry.js';
import { upsampleBilinear, valueRange } from '../../explain/heatmap.js';
import { gridMask, rasteriseRegion, type RasterRegion, type Region, type RegionFrame } from '../../explain/raster.js';
import { classifyMaps } from './classify.js';
import type { ExplorerModel } from './manifest.js';

/** One local intervention: C[concept] += beta · gridMask(region), applied once. */
export interface Edit {
  concept: number;
  beta: number;
  region: RasterRegion;
}

/** A concept map upsampled to the model input, with the range its colours span. */
export interface HeatmapValues {
  concept: number;
  /** S×S values, row-major, in the model input's frame. */
  values: Float32Array;
  size: number;
  /** Smallest and largest value of the grid map (the colour scale's ends). */
  range: [number, number];
}

/** The prediction before and after the current interventions. */
export interface InterventionSummary {
  edits: number;
  before: ClassScore;
  after: ClassScore;
  /** Logit change of every class, in class order. */
  logitDeltas: number[];
}

/** The explorer's state for one image. */
export class ImageExplorer {
  private readonly edits: Edit[] = [];
  private edited: ImageOutputs | undefined;
  /** The original outputs re-classified by `classifyMaps`, so before/after differ only by the edits. */
  private baseline: ImageOutputs | undefined;

  constructor(
    readonly model: ExplorerModel,
    /** The model's outputs for the image (from the exported ONNX model). */
    readonly original: ImageOutputs,
    /** Where the model input sits in the image. */
    readonly geometry: InputGeometry,
  ) {
    const M = model.concepts.length;
    const G = model.grid[0] * model.grid[1];
    if (original.conceptMaps.length !== M * G || original.logits.length !== model.classes.length) {
      throw new Error(`model outputs do not match the model (${original.conceptMaps.length} map values for ${M} concepts on ${G} cells)`);
    }
  }

  /** The outputs the page shows: the original, or the edited maps re-classified. */
  get outputs(): ImageOutputs {
    return this.edited ?? this.original;
  }

  /** Classes by probability, highest first. */
  ranking(): ClassScore[] {
    return rankClasses(this.model, this.outputs.logits);
  }

  /** The predicted class index. */
  predicted(): number {
    return this.ranking()[0]!.index;
  }

  /** Class `cls`'s top-`topK` concept contributions W_F[cls, m]·ĉ[m]. */
  explain(cls: number, topK = 8): ClassExplanation {
    return explainClass(this.model, this.outputs, cls, topK);
  }

  /** Rasterises a region given in image (default) or input pixels. */
  raster(region: Region, frame: RegionFrame = 'image'): RasterRegion {
    return rasteriseRegion(region, this.geometry, { frame });
  }

  /** Explain Anything: the top concepts inside a region of the (edited) concept maps. */
  explainRegion(region: RasterRegion, topK = 8): RegionExplanation {
    return explainRegion(this.model, this.outputs, region, topK);
  }

  /** Concept `m`'s current map upsampled to the model input (bilinear, align_corners=False). */
  heatmap(m: number): HeatmapValues {
    const M = this.model.concepts.length;
    if (!(Number.isInteger(m) && m >= 0 && m < M)) throw new Error(`concept index ${m} is out of range`);
    const [gh, gw] = this.model.grid;
    const G = gh * gw;
    const map = this.outputs.conceptMaps.subarray(m * G, (m + 1) * G);
    const S = this.geometry.size;
    return { concept: m, values: upsampleBilinear(map, gh, gw, S, S), size: S, range: valueRange(map) };
  }

  /** The interventions applied so far, oldest first. */
  get history(): readonly Edit[] {
    return this.edits;
  }

  /** Adds an intervention and re-classifies. */
  addEdit(edit: Edit): void {
    const M = this.model.concepts.length;
    if (!(Number.isInteger(edit.concept) && edit.concept >= 0 && edit.concept < M))
      throw new Error(`intervention: concept index ${edit.concept} is out of range`);
    if (!Number.isFinite(edit.beta)) throw new Error(`intervention: β must be a finite number (got ${edit.beta})`);
    if (edit.region.size !== this.geometry.size)
      throw new Error(`intervention: the region is for a ${edit.region.size}-pixel input, the model's is ${this.geometry.size}`);
    this.edits.push(edit);
    this.recompute();
  }

  /** Removes the last intervention; returns it (undefined when there was none). */
  undo(): Edit | undefined {
    const e = this.edits.pop();
    this.recompute();
    return e;
  }

  /** Removes every intervention. */
  reset(): void {
    this.edits.length = 0;
    this.recompute();
  }

  /** Prediction before and after the interventions (undefined when there are none). */
  intervention(): InterventionSummary | undefined {
    if (!this.edited || !this.baseline) return undefined;
    const before = rankClasses(this.model, this.baseline.logits)[0]!;
    const after = rankClasses(this.model, this.edited.logits)[0]!;
    return {
      edits: this.edits.length,
      before,
      after,
      logitDeltas: Array.from(this.edited.logits, (v, l) => v - this.baseline!.logits[l]!),
    };
  }

  /** The original maps with every edit added once (M×G). */
  editedMaps(): Float32Array {
    const G = this.model.grid[0] * this.model.grid[1];
    const out = Float32Array.from(this.original.conceptMaps);
    for (const e of this.edits) {
      const mask = gridMask(e.region, this.model.grid);
      for (let g = 0; g < G; g++) out[e.concept * G + g]! += e.beta * mask[g]!;
    }
    return out;
  }

  private recompute(): void {
    if (this.edits.length === 0) {
      this.edited = undefined;
      this.baseline = undefined;
      return;
    }
    this.baseline ??= classifyMaps(this.model, this.original.conceptMaps);
    this.edited = classifyMaps(this.model, this.editedMaps());
  }
}
