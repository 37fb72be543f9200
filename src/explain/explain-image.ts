/**
 * Explanations of whole images (SPEC step 5): the prediction with its probabilities, and for the
 * predicted class or any classes asked for, the top-k concept contributions with each listed
 * concept's heatmap. `writeExplanationFiles` writes them for machines (JSON) and for people
 * (the heatmaps overlaid on the image, and a contribution bar chart as SVG and PNG).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { writeJsonAtomic } from '../data/atomic-write.js';
import type { RgbImage } from '../data/rgb-image.js';
import type { ConceptModel } from '../models/concept-model.js';
import type { SalfOutputs } from '../models/salf-cbm.js';
import { analyseImages, imageOutputs, type ImageOutputs, type PreparedImage } from './analyse.js';
import { explainClass, rankClasses, type ClassExplanation, type ClassScore } from './contributions.js';
import { valueRange } from './heatmap.js';
import { resolveName } from './names.js';
import { contributionBarsSvg, makeView, renderExplanationFigure } from './render.js';
import { svgToPng } from './svg.js';

/** Options for {@link explainImages}. */
export interface ExplainOptions {
  /** Classes to explain (names or indices); the predicted class when omitted. */
  classes?: readonly (string | number)[];
  /** Contributions listed per class (5). */
  topK?: number;
  /** Images per forward batch (16). */
  batchSize?: number;
}

/** A listed concept's map on the grid. */
export interface Heatmap {
  concept: string;
  index: number;
  min: number;
  max: number;
  /** Gh rows of Gw values (C(x)[m] before upsampling). */
  map: number[][];
}

/** One class's explanation with the heatmaps of its listed concepts. */
export type ClassExplanationWithMaps = ClassExplanation & { heatmaps: Heatmap[] };

/** Everything explained about one image. */
export interface ImageExplanation {
  image: string;
  prediction: ClassScore;
  /** All classes, most probable first. */
  probabilities: ClassScore[];
  explanations: ClassExplanationWithMaps[];
  /** How heatmaps are made from `map`. */
  heatmap: { grid: [number, number]; upsampling: string; inputSize: number };
}

/** The grid map of concept m in one image's outputs. */
export function conceptMap(model: Pick<ConceptModel, 'grid'>, out: Pick<ImageOutputs, 'conceptMaps'>, m: number): Float32Array {
  const G = model.grid[0] * model.grid[1];
  return out.conceptMaps.subarray(m * G, (m + 1) * G);
}

/** Explains one image's outputs (see {@link explainImages}). */
export function explainOutputs(model: ConceptModel, name: string, out: ImageOutputs, options: Pick<ExplainOptions, 'classes' | 'topK'> = {}): ImageExplanation {
  const ranked = rankClasses(model, out.logits);
  const wanted = options.classes && options.classes.length > 0 ? options.classes.map((c) => resolveName(model.classes, c, 'class')) : [ranked[0]!.index];
  const [gh, gw] = model.grid;
  const explanations = [...new Set(wanted)].map((cls) => {
    const e = explainClass(model, out, cls, options.topK ?? 5);
    const heatmaps = e.contributions.map((c) => {
      const map = conceptMap(model, out, c.index);
      const [min, max] = valueRange(map);
      return { concept: c.concept, index: c.index, min, max, map: Array.from({ length: gh }, (_, a) => Array.from(map.subarray(a * gw, (a + 1) * gw))) };
    });
    return { ...e, heatmaps };
  });
  return {
    image: name,
    prediction: ranked[0]!,
    probabilities: ranked,
    explanations,
    heatmap: { grid: [gh, gw], upsampling: 'bilinear, align_corners=False, to the model input', inputSize: model.preprocess.resize.size },
  };
}

/**
 * Decodes, runs and explains images (paths or RGB images): prediction, top concept contributions
 * and their heatmaps per explained class (SPEC step 5).
 *
 * @example
 * ```ts
 * const model = await loadConceptModel('model/');
 * const { results } = await explainImages(model, ['bird.jpg'], { classes: ['cardinal'], topK: 5 });
 * for (const c of results[0]!.explanations[0]!.contributions) console.log(c.concept, c.contribution);
 * ```
 */
export async function explainImages(
  model: ConceptModel,
  sources: readonly (string | { name: string; image: RgbImage })[],
  options: ExplainOptions = {},
): Promise<{ results: ImageExplanation[]; images: PreparedImage[]; outputs: SalfOutputs }> {
  // Resolve class names before the (possibly long) forward pass.
  for (const c of options.classes ?? []) resolveName(model.classes, c, 'class');
  const { images, outputs } = await analyseImages(model, sources, options.batchSize);
  const results = images.map((p, i) => explainOutputs(model, p.name, imageOutputs(model, outputs, i), options));
  return { results, images, outputs };
}

/** A file-name-safe form of a name. */
export function safeName(name: string): string {
  const s = name
    .normalize('NFKD')
    .replace(/[^\w.-]+/g, '_')
    .replace(/^_+|_+$/g, '');
  return s.slice(0, 80) || 'item';
}

/** The folder name for an image's outputs: its file stem, made unique by `index` when asked. */
export function imageFolderName(name: string, index?: number): string {
  const stem = safeName(basename(name, extname(name)));
  return index === undefined ? stem : `${String(index).padStart(3, '0')}-${stem}`;
}

/**
 * Writes an image's explanation into `dir`: explanation.json, and for each explained class
 * heatmaps-<class>.png (overlays with colour bars), contributions-<class>.svg and .png.
 * Returns the files written.
 */
export async function writeExplanationFiles(
  model: ConceptModel,
  prepared: PreparedImage,
  out: ImageOutputs,
  result: ImageExplanation,
  dir: string,
  options: { viewSize?: number } = {},
): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  const view = await makeView(prepared, options.viewSize ?? 320);
  const pictures: Record<string, { heatmaps: string; contributions: string; contributionsPng: string }> = {};
  for (const e of result.explanations) {
    const tag = safeName(e.class);
    const heat = join(dir, `heatmaps-${tag}.png`);
    const heading = `${basename(result.image)} — predicted "${result.prediction.class}" (p = ${result.prediction.probability.toFixed(3)}); explaining "${e.class}"`;
    writeFileSync(heat, await renderExplanationFigure(view, e, (m) => conceptMap(model, out, m), model.grid, heading));
    const svg = contributionBarsSvg(e);
    const bars = join(dir, `contributions-${tag}.svg`);
    writeFileSync(bars, svg);
    const barsPng = join(dir, `contributions-${tag}.png`);
    writeFileSync(barsPng, await svgToPng(svg));
    files.push(heat, bars, barsPng);
    pictures[e.class] = { heatmaps: basename(heat), contributions: basename(bars), contributionsPng: basename(barsPng) };
  }
  const json = join(dir, 'explanation.json');
  writeJsonAtomic(json, { ...result, files: pictures });
  files.unshift(json);
  return files;
}
