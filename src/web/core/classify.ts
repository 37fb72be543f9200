/**
 * Concept maps → prediction in plain TypeScript, for the page's interventions: pool each map
 * (mean, max or softmax-weighted, as the model says), standardise with the training statistics
 * and apply the final layer. The same equations as the model's head (`models/salf-head.ts`), evaluated
 * in float64 and stored as float32; M×G and L×M products are small enough to need no runtime.
 */
import type { ImageOutputs } from '../../explain/analyse.js';
import type { ExplorerModel } from './manifest.js';

/** Pooled activations c* (length M) of M×G maps. */
export function poolMaps(maps: ArrayLike<number>, M: number, G: number, pooling: ExplorerModel['pooling']): Float64Array {
  if (maps.length !== M * G) throw new Error(`poolMaps: ${maps.length} values, expected M×G = ${M}×${G}`);
  const out = new Float64Array(M);
  for (let m = 0; m < M; m++) {
    const o = m * G;
    if (pooling === 'mean') {
      let s = 0;
      for (let g = 0; g < G; g++) s += maps[o + g]!;
      out[m] = s / G;
    } else if (pooling === 'max') {
      let x = -Infinity;
      for (let g = 0; g < G; g++) x = Math.max(x, maps[o + g]!);
      out[m] = x;
    } else if (pooling === 'softmax') {
      let x = -Infinity;
      for (let g = 0; g < G; g++) x = Math.max(x, maps[o + g]!);
      let z = 0;
      let s = 0;
      for (let g = 0; g < G; g++) {
        const c = maps[o + g]!;
        const e = Math.exp(c - x);
        z += e;
        s += e * c;
      }
      out[m] = s / z;
    } else {
      throw new Error(`poolMaps: unknown pooling ${JSON.stringify(pooling)}`);
    }
  }
  return out;
}

/** Pools, standardises and classifies one image's concept maps (M×Gh×Gw); the maps are kept as given. */
export function classifyMaps(model: Pick<ExplorerModel, 'concepts' | 'classes' | 'grid' | 'pooling' | 'head'>, maps: Float32Array): ImageOutputs {
  const M = model.concepts.length;
  const L = model.classes.length;
  const G = model.grid[0] * model.grid[1];
  const pooled = poolMaps(maps, M, G, model.pooling);
  const { mean, std, finalWeight, finalBias } = model.head;
  const standardised = new Float64Array(M);
  for (let m = 0; m < M; m++) standardised[m] = (pooled[m]! - mean[m]!) / std[m]!;
  const logits = new Float32Array(L);
  for (let l = 0; l < L; l++) {
    let s = finalBias[l]!;
    const row = l * M;
    for (let m = 0; m < M; m++) s += finalWeight[row + m]! * standardised[m]!;
    logits[l] = s;
  }
  return { logits, conceptMaps: maps, activations: Float32Array.from(pooled), standardised: Float32Array.from(standardised) };
}
