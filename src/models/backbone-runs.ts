/**
 * The backbone over a list of images, batch by batch: files decoded and preprocessed per the
 * backbone's config, then run. Used by the in-memory feature extraction and the feature store.
 */
import { iterateBatches } from '../data/image-folder.js';
import { DEFAULT_INTERPOLATION, normaliseInput } from '../data/resize.js';
import type { Backbone } from './backbone.js';

/** One batch's results. */
export interface BackboneBatch {
  /** Indices (into the given samples) of the images that decoded; `features` row j is `rows[j]`. */
  rows: number[];
  /** rows.length×G×D channels-last features. */
  features: Float32Array;
  /** rows.length×L logits, when the backbone names a logits tensor. */
  logits?: Float32Array;
  /** Images of this batch that could not be decoded (only with `skipBad`). */
  skipped: { index: number; path: string; reason: string }[];
  /** Samples handled so far, this batch included. */
  done: number;
}

/** Runs `backbone` over `samples` in batches of `batchSize` (see the module comment). */
export async function* runBackbone(
  backbone: Backbone,
  samples: readonly { path: string }[],
  options: { batchSize: number; skipBad?: boolean },
): AsyncGenerator<BackboneBatch> {
  const S = backbone.inputSize;
  const pre = backbone.config.preprocess;
  const pixels = new Float32Array(options.batchSize * 3 * S * S);
  const indexed = samples.map((s, index) => ({ path: s.path, index }));
  for await (const batch of iterateBatches(indexed, pre.resize, {
    batchSize: options.batchSize,
    skipBad: options.skipBad,
    interpolation: pre.interpolation ?? DEFAULT_INTERPOLATION,
  })) {
    const decoded = new Set(batch.samples.map((s) => s.index));
    const all = indexed.slice(batch.start, batch.start + batch.samples.length + batch.skipped.length);
    const failed = all.filter((s) => !decoded.has(s.index));
    const skipped = failed.map((s, i) => ({ index: s.index, path: s.path, reason: batch.skipped[i]!.reason }));
    const n = batch.images.length;
    const rows = batch.samples.map((s) => s.index);
    const done = batch.start + all.length;
    if (n === 0) {
      yield { rows, features: new Float32Array(0), skipped, done };
      continue;
    }
    batch.images.forEach((img, i) => normaliseInput(img, pre, pixels, i * 3 * S * S));
    const out = await backbone.run(pixels.subarray(0, n * 3 * S * S), n);
    yield { rows, features: out.features, ...(out.logits ? { logits: out.logits } : {}), skipped, done };
  }
}
