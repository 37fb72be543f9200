/**
 * The class rules. A scene's class is the shape and colour of its largest object (by area);
 * the other, smaller objects are distractors that may carry the shape, the colour, or even the
 * whole shape–colour pair of another class. Every shape and every colour used by a class is
 * shared with another class, so neither concept alone decides the class.
 */
import { nominalArea, type SceneObject } from './scene.js';
import type { Colour, Shape } from './vocab.js';

/** One class: a shape–colour pair for the largest object. */
export interface ClassRule {
  /** Folder-safe name, e.g. `blue_star`. */
  readonly name: string;
  /** Human-readable name, e.g. `blue star`. */
  readonly label: string;
  readonly shape: Shape;
  readonly colour: Colour;
}

function rule(colour: Colour, shape: Shape): ClassRule {
  return { name: `${colour}_${shape}`, label: `${colour} ${shape}`, shape, colour };
}

/**
 * The eight classes: a cycle over four shapes and four colours (each shape in two classes,
 * each colour in two classes), listed in the order of their names, which is the order an image
 * folder sorts its class sub-folders in, so class indices agree everywhere.
 */
export const CLASSES: readonly ClassRule[] = [
  rule('blue', 'square'),
  rule('blue', 'star'),
  rule('green', 'square'),
  rule('green', 'triangle'),
  rule('red', 'circle'),
  rule('red', 'star'),
  rule('yellow', 'circle'),
  rule('yellow', 'triangle'),
];

/** The rule in words, recorded in world.json. */
export const RULE_DESCRIPTION =
  'The class is the colour and shape of the largest object in the image (largest geometric area); ' +
  'smaller objects are distractors and may show any shape, colour and pattern, including those of other classes.';

/** Index of the largest object (geometric area; first one on ties), or -1 for an empty scene. */
export function largestObjectIndex(objects: readonly Pick<SceneObject, 'shape' | 'radius'>[]): number {
  let best = -1;
  let bestArea = -Infinity;
  objects.forEach((o, i) => {
    const a = nominalArea(o);
    if (a > bestArea) {
      bestArea = a;
      best = i;
    }
  });
  return best;
}

/** Index in CLASSES of a shape–colour pair, or -1 when the pair is not a class. */
export function classIndexOf(shape: Shape, colour: Colour): number {
  return CLASSES.findIndex((c) => c.shape === shape && c.colour === colour);
}

/**
 * The class index of a scene under the rule, or -1 when the largest object's pair is no class
 * (never the case for generated scenes).
 */
export function classifyObjects(objects: readonly Pick<SceneObject, 'shape' | 'colour' | 'radius'>[]): number {
  const i = largestObjectIndex(objects);
  if (i < 0) return -1;
  const o = objects[i]!;
  return classIndexOf(o.shape, o.colour);
}
