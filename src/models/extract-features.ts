/**
 * Backbone features for a list of images. Without a cache folder they are computed in memory;
 * with one they go through the feature store (feature-store.ts: float16 shards on disk, keyed by
 * the backbone file, its config, the grid and the image list) so that a restarted run does not
 * recompute them, and are read back for the images that decoded.
 */
import { silentProgress, type Progress } from '../progress.js';
import type { StoreDtype } from '../store/row-store.js';
import type { Backbone } from './backbone.js';
import { runBackbone } from './backbone-runs.js';
import { computeFeatureStore, type FeatureSet } from './feature-store.js';

export interface ExtractOptions {
  batchSize?: number;
  skipBad?: boolean;
  /** Folder of the feature store; computed in memory when omitted. */
  cacheDir?: string;
  /** How the store keeps features: float16 (default) or float32. */
  dtype?: StoreDtype;
  progress?: Progress;
  /** Name of the stage in progress reports. */
  label?: string;
}

/** Runs the backbone over `samples` (see the module comment). */
export async function extractFeatures<S extends { path: string }>(
  backbone: Backbone,
  samples: readonly S[],
  options: ExtractOptions = {},
): Promise<FeatureSet<S>> {
  if (options.cacheDir) return (await computeFeatureStore(backbone, samples, { ...options, cacheDir: options.cacheDir })).featureSet();
  const progress = options.progress ?? silentProgress;
  const GD = backbone.gridSize * backbone.featureDim;
  const L = backbone.numClasses;
  const F = new Float32Array(samples.length * GD);
  const logits = L !== undefined ? new Float32Array(samples.length * L) : undefined;
  const kept: number[] = [];
  const skipped: FeatureSet<S>['skipped'] = [];
  progress.start(options.label ?? 'backbone features', samples.length);
  for await (const batch of runBackbone(backbone, samples, { batchSize: options.batchSize ?? 32, skipBad: options.skipBad })) {
    for (const s of batch.skipped) {
      skipped.push({ path: s.path, reason: s.reason });
      progress.log(`skipped ${s.path}: ${s.reason}`);
    }
    F.set(batch.features, kept.length * GD);
    if (logits && batch.logits) logits.set(batch.logits, kept.length * L!);
    kept.push(...batch.rows);
    progress.update(batch.done);
  }
  progress.stop();
  const n = kept.length;
  return {
    F: F.subarray(0, n * GD),
    logits: logits?.subarray(0, n * L!),
    samples: kept.map((i) => samples[i]!),
    skipped,
  };
}
