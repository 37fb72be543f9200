/** A SALF-CBM config for tests that build a model from weights alone (no backbone file is opened). */
import type { Pooling } from '../../src/models/salf-head.js';
import type { SalfCbmConfig } from '../../src/models/salf-cbm.js';

/** A dense SALF-CBM config with M concepts, L classes and feature width D over a `none.onnx` backbone. */
export function tinySalfConfig(D: number, M: number, L: number, options: { pooling?: Pooling; grid?: [number, number] } = {}): SalfCbmConfig {
  return {
    format: 'salf-cbm',
    version: 1,
    backbone: { model: 'none.onnx', featureTensor: 'f', layout: 'nchw', preprocess: { resize: { size: 8, mode: 'stretch' }, mean: [0, 0, 0], std: [1, 1, 1] } },
    clip: { source: 'test', id: 'test' },
    grid: options.grid ?? [2, 2],
    prompting: { radius: 2, placement: 'inside' },
    pooling: options.pooling ?? 'mean',
    finalLayer: { mode: 'dense', nec: M, nonZeros: L * M },
    featureDim: D,
  };
}
