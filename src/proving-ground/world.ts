/**
 * Scene sampling. Every image has its own random stream derived from (world seed, split, index),
 * so a split's first images do not depend on how many are generated.
 *
 * - Class: index modulo the number of classes (balanced splits); the largest object carries the
 *   class's shape and colour, with a random pattern.
 * - Distractors: zero to three smaller objects (radius at most 0.55 of the main one's, so their
 *   area is at most 0.73 of the smallest possible main object's). They never overlap the main
 *   object and may overlap each other a little (occlusion). About a third carry a class's
 *   shape–colour pair.
 * - train / val / test: backgrounds plain, gradient or noise; distractors never use the
 *   held-out shape–colour combinations.
 * - shifted: backgrounds radial or checker; at least one distractor, the first always with a
 *   held-out combination and the others half the time.
 */
import { CLASSES, classifyObjects } from './classes.js';
import { deriveSeed, Sfc32Rng } from './prng.js';
import type { Background, BackgroundStyle, Rgb, Scene, SceneObject } from './scene.js';
import { COLOUR_HUES, COLOURS, HUE_JITTER, hsvToRgb, PATTERNS, SHAPES, type Colour, type Shape } from './vocab.js';

/** The four splits. */
export const SPLITS = ['train', 'val', 'test', 'shifted'] as const;
export type SplitName = (typeof SPLITS)[number];

/** A shape–colour combination. */
export interface Combination {
  readonly shape: Shape;
  readonly colour: Colour;
}

/**
 * Combinations that never appear in train, val and test, and appear on distractors of the
 * shifted split: one per shape and one per colour, none of them a class.
 */
export const HELD_OUT: readonly Combination[] = [
  { shape: 'circle', colour: 'purple' },
  { shape: 'square', colour: 'orange' },
  { shape: 'triangle', colour: 'blue' },
  { shape: 'star', colour: 'green' },
  { shape: 'ring', colour: 'red' },
  { shape: 'cross', colour: 'yellow' },
];

/** Background styles of the in-distribution splits and of the shifted split. */
export const IN_DISTRIBUTION_BACKGROUNDS: readonly BackgroundStyle[] = ['plain', 'gradient', 'noise'];
export const SHIFTED_BACKGROUNDS: readonly BackgroundStyle[] = ['radial', 'checker'];

/** Main-object radius range, as fractions of the image size. */
export const MAIN_RADIUS: readonly [number, number] = [0.16, 0.24];
/** Smallest distractor radius (fraction of the size) and largest (fraction of the main radius). */
export const DISTRACTOR_MIN_RADIUS = 0.07;
export const DISTRACTOR_MAX_RATIO = 0.55;

/** Whether a combination is held out of the in-distribution splits. */
export function isHeldOut(shape: Shape, colour: Colour): boolean {
  return HELD_OUT.some((c) => c.shape === shape && c.colour === colour);
}

const ALLOWED: readonly Combination[] = SHAPES.flatMap((shape) => COLOURS.filter((colour) => !isHeldOut(shape, colour)).map((colour) => ({ shape, colour })));

/** A sampled scene with its class. */
export interface SampledScene {
  readonly scene: Scene;
  readonly classIndex: number;
  /** Index (0-based) of the object that decides the class. */
  readonly mainObject: number;
}

function backgroundColour(rng: Sfc32Rng, value: number): Rgb {
  return hsvToRgb(rng.uniform(0, 360), rng.uniform(0, 0.2), value);
}

function sampleBackground(rng: Sfc32Rng, style: BackgroundStyle, size: number): Background {
  const v = rng.uniform(0.35, 0.9);
  const dv = rng.uniform(0.12, 0.3) * (v > 0.62 ? -1 : 1);
  return {
    style,
    colourA: backgroundColour(rng, v),
    colourB: backgroundColour(rng, v + dv),
    angle: rng.uniform(0, 2 * Math.PI),
    scale: style === 'noise' ? rng.uniform(0.1, 0.2) * size : style === 'checker' ? rng.uniform(0.06, 0.12) * size : rng.uniform(0.5, 0.9) * size,
    ox: rng.uniform(0.2, 0.8),
    oy: rng.uniform(0.2, 0.8),
    seed: rng.nextUint32(),
  };
}

function sampleObject(rng: Sfc32Rng, shape: Shape, colour: Colour, radius: number, cx: number, cy: number, size: number): SceneObject {
  const hue = COLOUR_HUES[colour] + rng.uniform(-HUE_JITTER, HUE_JITTER);
  const sat = rng.uniform(0.7, 0.9);
  const val = rng.uniform(0.75, 0.92);
  return {
    shape,
    colour,
    pattern: rng.pick(PATTERNS),
    cx,
    cy,
    radius,
    rotation: rng.uniform(0, 2 * Math.PI),
    fill: hsvToRgb(hue, sat, val),
    shade: hsvToRgb(hue, sat, val * 0.55),
    patternAngle: rng.uniform(0, Math.PI),
    patternPeriod: Math.max(4, (12 * size) / 224),
  };
}

/** Samples image `index` of a split. */
export function sampleScene(seed: number, split: SplitName, index: number, size = 224): SampledScene {
  if (!SPLITS.includes(split)) throw new Error(`unknown split "${split}"`);
  if (!Number.isInteger(index) || index < 0) throw new Error(`image index must be a non-negative integer, got ${index}`);
  if (!Number.isInteger(size) || size < 32) throw new Error(`image size must be an integer >= 32, got ${size}`);
  const rng = new Sfc32Rng(deriveSeed(seed, split, index));
  const shifted = split === 'shifted';
  const classIndex = index % CLASSES.length;
  const cls = CLASSES[classIndex]!;

  const background = sampleBackground(rng, rng.pick(shifted ? SHIFTED_BACKGROUNDS : IN_DISTRIBUTION_BACKGROUNDS), size);
  const mainR = rng.uniform(MAIN_RADIUS[0], MAIN_RADIUS[1]) * size;
  const margin = 2;
  const main = sampleObject(
    rng,
    cls.shape,
    cls.colour,
    mainR,
    rng.uniform(mainR + margin, size - mainR - margin),
    rng.uniform(mainR + margin, size - mainR - margin),
    size,
  );
  const objects: SceneObject[] = [main];

  const wanted = shifted ? rng.int(1, 3) : rng.int(0, 3);
  const minR = DISTRACTOR_MIN_RADIUS * size;
  const maxR = Math.max(minR, DISTRACTOR_MAX_RATIO * mainR);
  for (let k = 0; k < wanted; k++) {
    let combo: Combination;
    if (shifted && (k === 0 || rng.next() < 0.5)) combo = rng.pick(HELD_OUT);
    else if (rng.next() < 0.35) combo = rng.pick(CLASSES);
    else combo = rng.pick(ALLOWED);
    const placed = place(rng, objects, minR, maxR, size, margin);
    if (!placed) {
      if (shifted && k === 0) throw new Error(`could not place a held-out distractor in shifted image ${index}`);
      continue;
    }
    objects.push(sampleObject(rng, combo.shape, combo.colour, placed.r, placed.cx, placed.cy, size));
  }

  const scene: Scene = { size, background, objects };
  if (classifyObjects(objects) !== classIndex) throw new Error(`internal: scene ${split}/${index} breaks the class rule`);
  return { scene, classIndex, mainObject: 0 };
}

/** A free spot for a distractor: clear of the main object, mild overlap with other distractors. */
function place(
  rng: Sfc32Rng,
  objects: readonly SceneObject[],
  minR: number,
  maxR: number,
  size: number,
  margin: number,
): { cx: number; cy: number; r: number } | null {
  for (let attempt = 0; attempt < 100; attempt++) {
    const r = rng.uniform(minR, maxR);
    const cx = rng.uniform(r + margin, size - r - margin);
    const cy = rng.uniform(r + margin, size - r - margin);
    const ok = objects.every((o, i) => {
      const d = Math.hypot(o.cx - cx, o.cy - cy);
      return i === 0 ? d >= o.radius + r + margin : d >= 0.7 * (o.radius + r);
    });
    if (ok) return { cx, cy, r };
  }
  return null;
}
