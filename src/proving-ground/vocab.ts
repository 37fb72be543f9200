/**
 * The proving ground's concept vocabulary: shapes, colours and patterns.
 *
 * Colours are defined by a hue family in HSV; every object gets a jittered shade of its family,
 * and patterns use a darker shade of the same hue, so each object's pixels keep its colour's hue.
 *
 * Note on `red`: CLIP visual prompting draws pure (255, 0, 0) circles 2 px wide. Red objects are
 * kept as a colour (as in real photographs, where red things and red circles coexist), but their
 * saturation and value stay below 0.9, so an object's red is never the marker's pure red, and the
 * red ring, the shape most like the marker, is one of the combinations held out of the
 * in-distribution splits.
 */

/** Object shapes. */
export const SHAPES = ['circle', 'square', 'triangle', 'star', 'ring', 'cross'] as const;
/** Object colours. */
export const COLOURS = ['red', 'orange', 'yellow', 'green', 'blue', 'purple'] as const;
/** Fill patterns. */
export const PATTERNS = ['solid', 'striped', 'dotted'] as const;

export type Shape = (typeof SHAPES)[number];
export type Colour = (typeof COLOURS)[number];
export type Pattern = (typeof PATTERNS)[number];
/** Any concept word of the world. */
export type Concept = Shape | Colour | Pattern;
/** Which attribute a concept word names. */
export type ConceptKind = 'shape' | 'colour' | 'pattern';

/** Centre hue (degrees) of each colour family. */
export const COLOUR_HUES: Readonly<Record<Colour, number>> = {
  red: 0,
  orange: 28,
  yellow: 52,
  green: 130,
  blue: 225,
  purple: 280,
};

/** Largest hue deviation (degrees) of an object's colour from its family's centre. */
export const HUE_JITTER = 5;

/** All concept words: shapes, then colours, then patterns. */
export const CONCEPTS: readonly Concept[] = [...SHAPES, ...COLOURS, ...PATTERNS];

/** The attribute a concept word names; throws on an unknown word. */
export function conceptKind(concept: string): ConceptKind {
  if ((SHAPES as readonly string[]).includes(concept)) return 'shape';
  if ((COLOURS as readonly string[]).includes(concept)) return 'colour';
  if ((PATTERNS as readonly string[]).includes(concept)) return 'pattern';
  throw new Error(`unknown concept "${concept}"; known: ${CONCEPTS.join(', ')}`);
}

/** RGB (0–255 integers) of an HSV colour, h in degrees, s and v in [0, 1]. */
export function hsvToRgb(h: number, s: number, v: number): [number, number, number] {
  const hh = (((h % 360) + 360) % 360) / 60;
  const c = v * s;
  const x = c * (1 - Math.abs((hh % 2) - 1));
  const m = v - c;
  let r: number;
  let g: number;
  let b: number;
  if (hh < 1) [r, g, b] = [c, x, 0];
  else if (hh < 2) [r, g, b] = [x, c, 0];
  else if (hh < 3) [r, g, b] = [0, c, x];
  else if (hh < 4) [r, g, b] = [0, x, c];
  else if (hh < 5) [r, g, b] = [x, 0, c];
  else [r, g, b] = [c, 0, x];
  return [Math.round((r + m) * 255), Math.round((g + m) * 255), Math.round((b + m) * 255)];
}

/** Hue (degrees, [0, 360)), saturation and value of an RGB colour (0–255). */
export function rgbToHsv(r: number, g: number, b: number): [number, number, number] {
  const max = Math.max(r, g, b);
  const min = Math.min(r, g, b);
  const d = max - min;
  let h = 0;
  if (d > 0) {
    if (max === r) h = 60 * (((g - b) / d) % 6);
    else if (max === g) h = 60 * ((b - r) / d + 2);
    else h = 60 * ((r - g) / d + 4);
  }
  if (h < 0) h += 360;
  return [h, max === 0 ? 0 : d / max, max / 255];
}

/** The colour family whose centre hue is nearest to an RGB colour's hue. */
export function nearestColour(r: number, g: number, b: number): Colour {
  const [h] = rgbToHsv(r, g, b);
  let best: Colour = COLOURS[0];
  let bestD = Infinity;
  for (const c of COLOURS) {
    const raw = Math.abs(h - COLOUR_HUES[c]);
    const d = Math.min(raw, 360 - raw);
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best;
}
