/**
 * Backbone features for a list of images: decoded and preprocessed per the backbone's config,
 * run in batches, and cached on disk (keyed by the backbone file, its config, the grid and the
 * image list) so a restarted training does not recompute them.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '../data/atomic-write.js';
import { iterateBatches } from '../data/image-folder.js';
import { toChwNormalised } from '../data/image-io.js';
import { silentProgress, type Progress } from '../progress.js';
import type { Backbone } from './backbone.js';

/** Features of the images that decoded, aligned with `samples`. */
export interface FeatureSet<S> {
  /** n×G×D channels-last grid features. */
  F: Float32Array;
  /** n×L backbone logits, when the backbone names a logits tensor. */
  logits?: Float32Array;
  samples: S[];
  skipped: { path: string; reason: string }[];
}

export interface ExtractOptions {
  batchSize?: number;
  skipBad?: boolean;
  /** Folder for the feature cache; no caching when omitted. */
  cacheDir?: string;
  progress?: Progress;
  /** Name of the stage in progress reports. */
  label?: string;
}

function cacheKey(backbone: Backbone, paths: readonly string[]): string {
  const h = createHash('sha256');
  const model = resolve(backbone.config.model);
  const st = statSync(model);
  h.update(JSON.stringify({ v: 1, model, size: st.size, mtime: st.mtimeMs, config: backbone.config, grid: backbone.grid }));
  for (const p of paths) {
    const s = statSync(p);
    h.update(`${resolve(p)}\0${s.size}\0${s.mtimeMs}\n`);
  }
  return h.digest('hex').slice(0, 32);
}

/** Runs the backbone over `samples` (see the module comment). */
export async function extractFeatures<S extends { path: string }>(
  backbone: Backbone,
  samples: readonly S[],
  options: ExtractOptions = {},
): Promise<FeatureSet<S>> {
  const progress = options.progress ?? silentProgress;
  const G = backbone.gridSize;
  const D = backbone.featureDim;
  const L = backbone.numClasses;
  const key = options.cacheDir ? cacheKey(backbone, samples.map((s) => s.path)) : undefined;
  const base = key ? join(options.cacheDir!, `features-${key}`) : undefined;
  if (base && existsSync(`${base}.json`) && existsSync(`${base}.f32`)) {
    const meta = JSON.parse(readFileSync(`${base}.json`, 'utf8')) as { kept: number[]; skipped: FeatureSet<S>['skipped']; hasLogits: boolean };
    const bytes = readFileSync(`${base}.f32`);
    const all = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    const n = meta.kept.length;
    const F = all.slice(0, n * G * D);
    const logits = meta.hasLogits ? all.slice(n * G * D) : undefined;
    if (F.length === n * G * D) {
      progress.log(`${options.label ?? 'features'}: reusing ${n} cached feature maps`);
      return { F, logits, samples: meta.kept.map((i) => samples[i]!), skipped: meta.skipped };
    }
  }
  const batchSize = options.batchSize ?? 32;
  const S = backbone.inputSize;
  const { mean, std, resize, interpolation } = backbone.config.preprocess;
  const F = new Float32Array(samples.length * G * D);
  const logits = L !== undefined ? new Float32Array(samples.length * L) : undefined;
  const kept: number[] = [];
  const skipped: FeatureSet<S>['skipped'] = [];
  const pixels = new Float32Array(batchSize * 3 * S * S);
  progress.start(options.label ?? 'backbone features', samples.length);
  const index = new Map(samples.map((s, i) => [s, i]));
  for await (const batch of iterateBatches(samples, resize, { batchSize, skipBad: options.skipBad, interpolation: interpolation ?? 'bilinear' })) {
    skipped.push(...batch.skipped);
    for (const s of batch.skipped) progress.log(`skipped ${s.path}: ${s.reason}`);
    const n = batch.images.length;
    if (n > 0) {
      batch.images.forEach((img, i) => toChwNormalised(img, mean, std, pixels, i * 3 * S * S));
      const out = await backbone.run(pixels.subarray(0, n * 3 * S * S), n);
      F.set(out.features, kept.length * G * D);
      if (logits && out.logits) logits.set(out.logits, kept.length * L!);
      for (const s of batch.samples) kept.push(index.get(s)!);
    }
    progress.update(batch.start + batch.samples.length + batch.skipped.length);
  }
  progress.stop();
  const n = kept.length;
  const result: FeatureSet<S> = {
    F: F.subarray(0, n * G * D),
    logits: logits?.subarray(0, n * L!),
    samples: kept.map((i) => samples[i]!),
    skipped,
  };
  if (base) {
    const parts = [result.F, ...(result.logits ? [result.logits] : [])];
    const bytes = new Uint8Array(parts.reduce((a, p) => a + p.byteLength, 0));
    let at = 0;
    for (const p of parts) {
      bytes.set(new Uint8Array(p.buffer, p.byteOffset, p.byteLength), at);
      at += p.byteLength;
    }
    writeFileAtomic(`${base}.f32`, bytes);
    writeJsonAtomic(`${base}.json`, { kept, skipped, hasLogits: result.logits !== undefined });
  }
  return result;
}
