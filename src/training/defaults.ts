/**
 * The defaults of training (SPEC steps 2–4), in one place: the library falls back to them and the
 * CLI shows them, so `salf-cbm train` and `trainSalfCbm` behave alike when an option is left out.
 */
export const TRAINING_DEFAULTS = {
  /** Prompting grid (step 2), H×W circle centres. */
  grid: [7, 7] as [number, number],
  /** Circle centres kept inside the image (step 2). */
  placement: 'inside' as const,
  /** Random seed, also of the validation hold-out. */
  seed: 0,
  /** Validation hold-out per class when there is no split file. */
  valFraction: 0.1,
  /** Images per backbone run. */
  batchSize: 32,
  /** Concept layer (step 3): Adam learning rate, most steps, images per step, validation interval. */
  lr: 1e-3,
  maxSteps: 1000,
  stepSamples: 50000,
  valEvery: 50,
  /** Interpretability cutoff on the validation similarity (step 3). */
  cutoff: 0.45,
  /** Spatial pooling of concept maps (step 4). */
  pooling: 'mean' as const,
  /** Final layer (step 4): sparse GLM-SAGA, its λ, and most epochs per λ. */
  finalMode: 'sparse' as const,
  lam: 7e-4,
  epochsPerLambda: 1000,
};
