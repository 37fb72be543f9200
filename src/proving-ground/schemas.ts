/**
 * Schemas of the proving ground's files (world.json, index.json, masks/<split>/<id>.json), checked
 * with zod when they are read back, so that a damaged or foreign file names itself and the field.
 */
import { z } from 'zod';
import { BACKGROUND_STYLES } from './scene.js';
import { SPLITS } from './world.js';
import { COLOURS, PATTERNS, SHAPES } from './vocab.js';

const shape = z.enum(SHAPES);
const colour = z.enum(COLOURS);
const pattern = z.enum(PATTERNS);
const count = z.number().int().nonnegative();
const rgb = z.tuple([z.number(), z.number(), z.number()]).readonly();
const counts = z.object({ train: count, val: count, test: count, shifted: count }).readonly();

/** world.json. */
export const worldSchema = z.looseObject({
  format: z.literal('salf-cbm-proving-ground'),
  version: z.literal(1),
  seed: z.number().int(),
  size: z.number().int().positive(),
  counts,
  shapes: z.array(z.string()).readonly(),
  colours: z.array(z.string()).readonly(),
  patterns: z.array(z.string()).readonly(),
  concepts: z.array(z.object({ name: z.union([shape, colour, pattern]), kind: z.enum(['shape', 'colour', 'pattern']) })).readonly(),
  classes: z.array(z.object({ name: z.string(), label: z.string(), shape, colour })).readonly(),
  rule: z.string(),
  heldOut: z.array(z.object({ shape, colour })).readonly(),
  backgrounds: z.object({ inDistribution: z.array(z.string()).readonly(), shifted: z.array(z.string()).readonly() }),
  files: z.object({ index: z.string(), images: z.string(), masks: z.string(), splitFile: z.string(), shiftedSplitFile: z.string() }),
});

const splitEntry = z.object({
  id: z.string(),
  image: z.string(),
  mask: z.string(),
  annotation: z.string(),
  label: z.string(),
  classIndex: count,
});

/** index.json: every split's images. */
export const indexSchema = z.object({
  train: z.array(splitEntry),
  val: z.array(splitEntry),
  test: z.array(splitEntry),
  shifted: z.array(splitEntry),
});

const background = z.looseObject({
  style: z.enum(BACKGROUND_STYLES),
  colourA: rgb,
  colourB: rgb,
  angle: z.number(),
  scale: z.number(),
  ox: z.number(),
  oy: z.number(),
  seed: z.number(),
});

const objectAnnotation = z.looseObject({
  shape,
  colour,
  pattern,
  cx: z.number(),
  cy: z.number(),
  radius: z.number(),
  rotation: z.number(),
  fill: rgb,
  shade: rgb,
  patternAngle: z.number(),
  patternPeriod: z.number(),
  index: z.number().int().positive(),
  area: count,
  bbox: z.tuple([z.number(), z.number(), z.number(), z.number()]).readonly().nullable(),
  heldOut: z.boolean(),
});

/** masks/<split>/<id>.json: an image's annotation. */
export const annotationSchema = z.looseObject({
  id: z.string(),
  split: z.enum(SPLITS),
  label: z.string(),
  classIndex: count,
  size: z.number().int().positive(),
  mainObject: count,
  background,
  objects: z.array(objectAnnotation).readonly(),
});
