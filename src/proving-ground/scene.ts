/** Scene descriptions: what the renderer draws and what the class rules read. */
import type { Colour, Pattern, Shape } from './vocab.js';

/** An RGB colour, 0–255 integers. */
export type Rgb = readonly [number, number, number];

/** One object of a scene. */
export interface SceneObject {
  readonly shape: Shape;
  readonly colour: Colour;
  readonly pattern: Pattern;
  /** Centre, in pixels (continuous; pixel (x, y) has its centre at x + 0.5, y + 0.5). */
  readonly cx: number;
  readonly cy: number;
  /** Size: radius of the circle the shape is inscribed in, in pixels. */
  readonly radius: number;
  /** Rotation of the shape, radians. */
  readonly rotation: number;
  /** Main fill colour. */
  readonly fill: Rgb;
  /** Pattern colour (stripes, dots): a darker shade of the same hue. */
  readonly shade: Rgb;
  /** Orientation of the stripes or of the dot grid, radians. */
  readonly patternAngle: number;
  /** Stripe period or dot spacing, pixels. */
  readonly patternPeriod: number;
}

/** Background styles. `radial` and `checker` appear only in the shifted split. */
export const BACKGROUND_STYLES = ['plain', 'gradient', 'noise', 'radial', 'checker'] as const;
export type BackgroundStyle = (typeof BACKGROUND_STYLES)[number];

/** A background: a style blending two low-saturation colours. */
export interface Background {
  readonly style: BackgroundStyle;
  readonly colourA: Rgb;
  readonly colourB: Rgb;
  /** Gradient direction (radians). */
  readonly angle: number;
  /** Noise cell or checker cell size, pixels; radial gradient: radius of the blend. */
  readonly scale: number;
  /** Radial centre (fractions of the size) or checker offset. */
  readonly ox: number;
  readonly oy: number;
  /** Seed of the value-noise lattice. */
  readonly seed: number;
}

/** A whole scene; objects are drawn in order, later ones over earlier ones. */
export interface Scene {
  readonly size: number;
  readonly background: Background;
  readonly objects: readonly SceneObject[];
}

/** Inner radius of a ring, as a fraction of its outer radius. */
export const RING_INNER = 0.55;
/** Inner radius of the five-pointed star, as a fraction of its outer radius. */
export const STAR_INNER = 0.45;
/** Half-width of a cross's arms and their length, as fractions of the radius. */
export const CROSS_HALF_WIDTH = 0.3;
export const CROSS_ARM = 0.95;

/** Area of a shape of radius 1 (exact geometry, before rasterisation). */
export const UNIT_AREA: Readonly<Record<Shape, number>> = {
  circle: Math.PI,
  ring: Math.PI * (1 - RING_INNER * RING_INNER),
  square: 2,
  triangle: (3 * Math.sqrt(3)) / 4,
  star: 5 * STAR_INNER * Math.sin(Math.PI / 5),
  cross: 2 * (2 * CROSS_ARM) * (2 * CROSS_HALF_WIDTH) - (2 * CROSS_HALF_WIDTH) ** 2,
};

/** The geometric area of an object, in square pixels (ignores occlusion). */
export function nominalArea(o: Pick<SceneObject, 'shape' | 'radius'>): number {
  return UNIT_AREA[o.shape] * o.radius * o.radius;
}
