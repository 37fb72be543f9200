/**
 * Schemas of the model files read from disk (backbone.json, a model folder's config.json,
 * concepts.json and classes.json, an export's sidecar JSON), checked with zod on load so that a
 * bad file is reported with its name and field (see src/data/json-schema.ts).
 */
import { z } from 'zod';
import type { Pooling } from './salf-head.js';

const triple = z.tuple([z.number(), z.number(), z.number()]);
const positiveInt = z.number().int().positive();
const pooling: z.ZodType<Pooling> = z.enum(['mean', 'max', 'softmax']);
const shape = z.array(z.union([z.number(), z.string()]));

const preprocess = z.looseObject({
  resize: z.looseObject({ size: positiveInt, mode: z.enum(['center', 'stretch']), resize: positiveInt.optional() }),
  interpolation: z.enum(['bilinear', 'bicubic']).optional(),
  mean: triple,
  std: triple,
});

/** backbone.json, and the `backbone` of a model's config.json. */
export const backboneConfigSchema = z.looseObject({
  model: z.string(),
  featureTensor: z.string(),
  layout: z.enum(['nchw', 'tokens']),
  cls: z.enum(['none', 'drop', 'concat']).optional(),
  logitsTensor: z.string().optional(),
  preprocess,
});

const finalLayer = z.looseObject({
  mode: z.enum(['sparse', 'dense']),
  lambda: z.number().optional(),
  nec: z.number(),
  nonZeros: z.number(),
});
const clip = z.looseObject({ source: z.string(), id: z.string() });
const grid = z.tuple([positiveInt, positiveInt]);

/** A model folder's config.json. */
export const salfCbmConfigSchema = z.looseObject({
  format: z.literal('salf-cbm'),
  version: z.literal(1),
  backbone: backboneConfigSchema,
  clip,
  grid,
  prompting: z.looseObject({ radius: z.number(), placement: z.string() }),
  pooling,
  finalLayer,
  featureDim: positiveInt,
});

/** concepts.json or classes.json: a list of names. */
export const nameListSchema = z.array(z.string());

/** The sidecar JSON of an exported model (`salf-cbm export`). */
export const exportInfoSchema = z.looseObject({
  format: z.literal('salf-cbm-onnx'),
  version: z.literal(1),
  model: z.string(),
  input: z.looseObject({
    name: z.string(),
    shape,
    dtype: z.literal('float32'),
    layout: z.literal('NCHW'),
    channels: z.literal('RGB'),
  }),
  preprocess: preprocess.extend({ scale: z.number(), description: z.string() }),
  outputs: z.record(z.string(), shape),
  concepts: nameListSchema,
  classes: nameListSchema,
  grid,
  pooling,
  featureDim: positiveInt,
  finalLayer,
  backbone: z.looseObject({
    file: z.string(),
    featureTensor: z.string(),
    layout: z.enum(['nchw', 'tokens']),
    cls: z.enum(['none', 'drop', 'concat']).optional(),
  }),
  clip,
  opset: positiveInt,
});
