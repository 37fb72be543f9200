/**
 * Random-weight SALF-CBMs for the benchmarks: a random ResNet backbone (random-resnet.ts) with a
 * random concept layer and final layer. Timing only: the weights mean nothing.
 */
import { join } from 'node:path';
import { Engine } from '../src/engine/session.js';
import { SalfCbm, type SalfCbmConfig } from '../src/models/salf-cbm.js';
import type { Pooling } from '../src/models/salf-head.js';
import { uniform } from './random-fill.js';
import { writeRandomResNet, type ResNetArch, type ResNetInfo } from './random-resnet.js';

/** n values uniform in [−scale, scale) from a xorshift generator (cheap, deterministic). */
export function fill(n: number, seed: number, scale: number): Float32Array {
  return uniform(n, seed, -scale, scale);
}

export interface RandomSalfOptions {
  arch: ResNetArch;
  /** Concepts M and classes L. */
  M: number;
  L: number;
  pooling?: Pooling;
  size?: number;
  engine?: Engine;
}

/** Writes a random ResNet under `dir` and returns it with a random SALF-CBM on top (7×7 grid). */
export function randomSalfCbm(dir: string, o: RandomSalfOptions): { net: ResNetInfo; model: SalfCbm } {
  const size = o.size ?? 224;
  const net = writeRandomResNet(join(dir, `${o.arch}.onnx`), o.arch, size, 1000);
  const D = net.featureDim;
  const { M, L } = o;
  const config: SalfCbmConfig = {
    format: 'salf-cbm',
    version: 1,
    backbone: {
      model: net.path,
      featureTensor: net.featureTensor,
      layout: 'nchw',
      preprocess: { resize: { size, mode: 'center', resize: 256 }, interpolation: 'bilinear', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
    },
    clip: { source: 'bench', id: 'none' },
    grid: [7, 7],
    prompting: { radius: 32, placement: 'inside' },
    pooling: o.pooling ?? 'mean',
    finalLayer: { mode: 'dense', nec: M, nonZeros: L * M },
    featureDim: D,
  };
  const model = new SalfCbm(
    config,
    Array.from({ length: M }, (_, i) => `concept ${i}`),
    Array.from({ length: L }, (_, i) => `class ${i}`),
    {
      conceptWeight: fill(M * D, 3, Math.sqrt(3 / D)),
      mean: fill(M, 5, 0.1),
      std: fill(M, 7, 0.1).map((v) => 1 + v),
      finalWeight: fill(L * M, 11, 0.05),
      finalBias: fill(L, 13, 0.1),
    },
    o.engine,
  );
  return { net, model };
}
