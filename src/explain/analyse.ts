/**
 * Images through a model for explanation: decoded once (the original is kept for pictures and
 * for regions given in its pixels), preprocessed exactly as the backbone's config says (the same
 * steps as training's feature extraction), and run in batches.
 */
import { decodeRgb } from '../data/image-io.js';
import { modelInput, normaliseInput } from '../data/resize.js';
import type { RgbImage } from '../data/rgb-image.js';
import type { ConceptModel } from '../models/concept-model.js';
import type { SalfOutputs } from '../models/salf-cbm.js';
import { inputGeometry, type InputGeometry } from './geometry.js';

/** An image ready for the model. */
export interface PreparedImage {
  /** The file it came from, or a label. */
  name: string;
  /** The decoded original. */
  image: RgbImage;
  /** The model input (S×S RGB, before normalisation). */
  input: RgbImage;
  /** Where the input sits in the original. */
  geometry: InputGeometry;
}

/** Decodes (a path) or takes (an RGB image) and preprocesses one image. */
export async function prepareImage(model: ConceptModel, source: string | { name: string; image: RgbImage }): Promise<PreparedImage> {
  const name = typeof source === 'string' ? source : source.name;
  const image = typeof source === 'string' ? await decodeRgb(source) : source.image;
  return { name, image, input: modelInput(image, model.preprocess), geometry: inputGeometry(image.width, image.height, model.preprocess.resize) };
}

/** Runs prepared images through the model in batches of `batchSize`. */
export async function runPrepared(model: ConceptModel, images: readonly PreparedImage[], batchSize = 16): Promise<SalfOutputs> {
  const S = model.preprocess.resize.size;
  const per = 3 * S * S;
  const M = model.concepts.length;
  const L = model.classes.length;
  const G = model.grid[0] * model.grid[1];
  const n = images.length;
  const all: SalfOutputs = {
    n,
    logits: new Float32Array(n * L),
    conceptMaps: new Float32Array(n * M * G),
    activations: new Float32Array(n * M),
    standardised: new Float32Array(n * M),
  };
  const pixels = new Float32Array(Math.min(batchSize, Math.max(n, 1)) * per);
  for (let start = 0; start < n; start += batchSize) {
    const batch = images.slice(start, start + batchSize);
    batch.forEach((p, i) => normaliseInput(p.input, model.preprocess, pixels, i * per));
    const out = await model.forwardPixels(pixels.subarray(0, batch.length * per), batch.length);
    all.logits.set(out.logits, start * L);
    all.conceptMaps.set(out.conceptMaps, start * M * G);
    all.activations.set(out.activations, start * M);
    all.standardised.set(out.standardised, start * M);
  }
  return all;
}

/** One image's outputs, as views into a batch's arrays. */
export interface ImageOutputs {
  /** L logits. */
  logits: Float32Array;
  /** M×Gh×Gw concept maps. */
  conceptMaps: Float32Array;
  /** c*, M. */
  activations: Float32Array;
  /** ĉ, M. */
  standardised: Float32Array;
}

/** The outputs of image `i` of a batch. */
export function imageOutputs(model: Pick<ConceptModel, 'concepts' | 'classes' | 'grid'>, out: SalfOutputs, i: number): ImageOutputs {
  if (!(Number.isInteger(i) && i >= 0 && i < out.n)) throw new Error(`image index ${i} is outside the batch of ${out.n}`);
  const M = model.concepts.length;
  const L = model.classes.length;
  const G = model.grid[0] * model.grid[1];
  return {
    logits: out.logits.subarray(i * L, (i + 1) * L),
    conceptMaps: out.conceptMaps.subarray(i * M * G, (i + 1) * M * G),
    activations: out.activations.subarray(i * M, (i + 1) * M),
    standardised: out.standardised.subarray(i * M, (i + 1) * M),
  };
}

/** Decodes, preprocesses and runs images (paths or RGB images); returns both. */
export async function analyseImages(
  model: ConceptModel,
  sources: readonly (string | { name: string; image: RgbImage })[],
  batchSize = 16,
): Promise<{ images: PreparedImage[]; outputs: SalfOutputs }> {
  const images: PreparedImage[] = [];
  for (const s of sources) images.push(await prepareImage(model, s));
  return { images, outputs: await runPrepared(model, images, batchSize) };
}
