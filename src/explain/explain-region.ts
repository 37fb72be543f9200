/**
 * Explain Anything (SPEC step 6): which concepts the model sees inside a region. For the region's
 * binary mask I on the model input and the upsampled concept maps,
 *   sum:  a(x, m | I) = Σ I ⊙ up(C(x)[m])
 *   mean: a / area(I)    (area-normalised; comparable between regions of different sizes)
 *   standardised: (mean − μ_m) / σ_m with the model's training statistics of pooled activations,
 *         i.e. how far above its usual level the concept is in the region (comparable between
 *         concepts whose maps have different scales).
 * Within one region, sum and mean rank concepts identically.
 */
import type { ConceptModel } from '../models/concept-model.js';
import type { ImageOutputs } from './analyse.js';
import { regionGridWeights, type RasterRegion } from './raster.js';

/** One concept's activation in a region. */
export interface RegionConceptScore {
  concept: string;
  index: number;
  sum: number;
  mean: number;
  standardised: number;
}

/** The concepts found in one region. */
export interface RegionExplanation {
  region: string;
  /** Input pixels in the region, and their share of the input. */
  area: number;
  fraction: number;
  /** Top concepts by summed activation (the same order as by mean). */
  bySum: RegionConceptScore[];
  /** Top concepts by area-normalised activation. */
  byMean: RegionConceptScore[];
  /** Top concepts by standardised mean. */
  byStandardised: RegionConceptScore[];
  warnings: string[];
}

/** Every concept's score in the region (length M, concept order). */
export function regionScores(
  model: Pick<ConceptModel, 'concepts' | 'grid' | 'head'>,
  out: Pick<ImageOutputs, 'conceptMaps'>,
  region: RasterRegion,
): RegionConceptScore[] {
  const G = model.grid[0] * model.grid[1];
  const w = regionGridWeights(region, model.grid);
  return model.concepts.map((concept, m) => {
    let sum = 0;
    for (let g = 0; g < G; g++) sum += out.conceptMaps[m * G + g]! * w[g]!;
    const mean = sum / region.area;
    return { concept, index: m, sum, mean, standardised: (mean - model.head.mean[m]!) / model.head.std[m]! };
  });
}

/**
 * The top-`topK` concepts of a region by each score (SPEC step 6, Explain Anything).
 *
 * @example
 * ```ts
 * const { images, outputs } = await analyseImages(model, ['bird.jpg']);
 * const region = rasteriseRegion(await parseRegion('box:10,20,120,140'), images[0]!.geometry);
 * const explanation = explainRegion(model, imageOutputs(model, outputs, 0), region, 5);
 * ```
 */
export function explainRegion(
  model: Pick<ConceptModel, 'concepts' | 'grid' | 'head'>,
  out: Pick<ImageOutputs, 'conceptMaps'>,
  region: RasterRegion,
  topK = 5,
): RegionExplanation {
  const scores = regionScores(model, out, region);
  const top = (key: 'sum' | 'mean' | 'standardised'): RegionConceptScore[] =>
    [...scores].sort((a, b) => b[key] - a[key] || a.index - b.index).slice(0, Math.max(0, topK));
  return {
    region: region.label,
    area: region.area,
    fraction: region.area / (region.size * region.size),
    bySum: top('sum'),
    byMean: top('mean'),
    byStandardised: top('standardised'),
    warnings: region.warnings,
  };
}
