/**
 * Rasterises scenes into RGB pixels plus an object label image. No antialiasing: a pixel belongs
 * to an object when its centre lies inside the shape, so masks are exact. The label image holds,
 * per pixel, 0 for background or k for the k-th object (1-based) that is visible there after
 * occlusion (later objects cover earlier ones).
 */
import type { RgbImage } from '../data/rgb-image.js';
import { Sfc32Rng } from './prng.js';
import { CROSS_ARM, CROSS_HALF_WIDTH, RING_INNER, STAR_INNER, type Background, type Scene, type SceneObject } from './scene.js';

/** A rendered scene. */
export interface RenderedScene {
  readonly image: RgbImage;
  /** size×size object labels: 0 background, k = objects[k-1]. */
  readonly labels: Uint8Array;
}

/** Renders a scene. At most 255 objects. */
export function renderScene(scene: Scene): RenderedScene {
  const { size } = scene;
  if (!Number.isInteger(size) || size < 8) throw new Error(`scene size must be an integer >= 8, got ${size}`);
  if (scene.objects.length > 255) throw new Error('at most 255 objects per scene');
  const data = new Uint8Array(size * size * 3);
  const labels = new Uint8Array(size * size);
  drawBackground(data, size, scene.background);
  scene.objects.forEach((o, i) => drawObject(data, labels, size, o, i + 1));
  return { image: { data, width: size, height: size }, labels };
}

function lerpInto(data: Uint8Array, p: number, a: readonly number[], b: readonly number[], t: number): void {
  const u = t < 0 ? 0 : t > 1 ? 1 : t;
  data[p] = Math.round(a[0]! + (b[0]! - a[0]!) * u);
  data[p + 1] = Math.round(a[1]! + (b[1]! - a[1]!) * u);
  data[p + 2] = Math.round(a[2]! + (b[2]! - a[2]!) * u);
}

/** Smoothly interpolated random lattice values in [0, 1] (value noise), two octaves. */
function valueNoise(size: number, cell: number, seed: number): Float32Array {
  const out = new Float32Array(size * size);
  const rng = new Sfc32Rng(seed);
  const octaves: [number, number][] = [
    [cell, 0.7],
    [cell / 2, 0.3],
  ];
  for (const [c, weight] of octaves) {
    const n = Math.ceil(size / c) + 2;
    const lattice = new Float32Array(n * n);
    for (let i = 0; i < lattice.length; i++) lattice[i] = rng.next();
    for (let y = 0; y < size; y++) {
      const fy = (y + 0.5) / c;
      const iy = Math.floor(fy);
      const ty = fy - iy;
      const sy = ty * ty * (3 - 2 * ty);
      for (let x = 0; x < size; x++) {
        const fx = (x + 0.5) / c;
        const ix = Math.floor(fx);
        const tx = fx - ix;
        const sx = tx * tx * (3 - 2 * tx);
        const v00 = lattice[iy * n + ix]!;
        const v01 = lattice[iy * n + ix + 1]!;
        const v10 = lattice[(iy + 1) * n + ix]!;
        const v11 = lattice[(iy + 1) * n + ix + 1]!;
        const top = v00 + (v01 - v00) * sx;
        const bottom = v10 + (v11 - v10) * sx;
        out[y * size + x]! += weight * (top + (bottom - top) * sy);
      }
    }
  }
  return out;
}

function drawBackground(data: Uint8Array, size: number, bg: Background): void {
  const a = bg.colourA;
  const b = bg.colourB;
  switch (bg.style) {
    case 'plain':
      for (let p = 0; p < data.length; p += 3) lerpInto(data, p, a, b, 0);
      return;
    case 'gradient': {
      const dx = Math.cos(bg.angle);
      const dy = Math.sin(bg.angle);
      const half = (size / 2) * (Math.abs(dx) + Math.abs(dy));
      for (let y = 0; y < size; y++)
        for (let x = 0; x < size; x++) {
          const t = ((x + 0.5 - size / 2) * dx + (y + 0.5 - size / 2) * dy) / (2 * half) + 0.5;
          lerpInto(data, (y * size + x) * 3, a, b, t);
        }
      return;
    }
    case 'noise': {
      const noise = valueNoise(size, bg.scale, bg.seed);
      for (let i = 0; i < size * size; i++) lerpInto(data, i * 3, a, b, noise[i]!);
      return;
    }
    case 'radial': {
      const ox = bg.ox * size;
      const oy = bg.oy * size;
      for (let y = 0; y < size; y++)
        for (let x = 0; x < size; x++) {
          const t = Math.hypot(x + 0.5 - ox, y + 0.5 - oy) / bg.scale;
          lerpInto(data, (y * size + x) * 3, a, b, t);
        }
      return;
    }
    case 'checker': {
      const ox = bg.ox * bg.scale;
      const oy = bg.oy * bg.scale;
      for (let y = 0; y < size; y++)
        for (let x = 0; x < size; x++) {
          const odd = (Math.floor((x + ox) / bg.scale) + Math.floor((y + oy) / bg.scale)) & 1;
          lerpInto(data, (y * size + x) * 3, a, b, odd);
        }
      return;
    }
    default: {
      const never: never = bg.style;
      throw new Error(`unknown background style ${String(never)}`);
    }
  }
}

/** Vertices (image coordinates) of a polygon shape: triangle or star. */
function polygon(o: SceneObject): Float64Array {
  const points = o.shape === 'triangle' ? 3 : 10;
  const v = new Float64Array(points * 2);
  for (let k = 0; k < points; k++) {
    const r = o.shape === 'star' && k % 2 === 1 ? o.radius * STAR_INNER : o.radius;
    const ang = o.rotation - Math.PI / 2 + (2 * Math.PI * k) / points;
    v[2 * k] = o.cx + r * Math.cos(ang);
    v[2 * k + 1] = o.cy + r * Math.sin(ang);
  }
  return v;
}

/** Even–odd point-in-polygon test. */
function insidePolygon(v: Float64Array, px: number, py: number): boolean {
  let inside = false;
  const n = v.length / 2;
  for (let i = 0, j = n - 1; i < n; j = i++) {
    const xi = v[2 * i]!;
    const yi = v[2 * i + 1]!;
    const xj = v[2 * j]!;
    const yj = v[2 * j + 1]!;
    if (yi > py !== yj > py && px < ((xj - xi) * (py - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** A point-in-shape test for one object, in image coordinates. */
export function shapeTest(o: SceneObject): (px: number, py: number) => boolean {
  const r = o.radius;
  const cos = Math.cos(o.rotation);
  const sin = Math.sin(o.rotation);
  switch (o.shape) {
    case 'circle':
      return (px, py) => (px - o.cx) ** 2 + (py - o.cy) ** 2 <= r * r;
    case 'ring': {
      const inner = r * RING_INNER;
      return (px, py) => {
        const d2 = (px - o.cx) ** 2 + (py - o.cy) ** 2;
        return d2 <= r * r && d2 > inner * inner;
      };
    }
    case 'square': {
      const h = r / Math.SQRT2;
      return (px, py) => {
        const dx = px - o.cx;
        const dy = py - o.cy;
        return Math.abs(dx * cos + dy * sin) <= h && Math.abs(-dx * sin + dy * cos) <= h;
      };
    }
    case 'cross': {
      const w = r * CROSS_HALF_WIDTH;
      const l = r * CROSS_ARM;
      return (px, py) => {
        const dx = px - o.cx;
        const dy = py - o.cy;
        const u = Math.abs(dx * cos + dy * sin);
        const v = Math.abs(-dx * sin + dy * cos);
        return (u <= w && v <= l) || (v <= w && u <= l);
      };
    }
    case 'triangle':
    case 'star': {
      const v = polygon(o);
      return (px, py) => insidePolygon(v, px, py);
    }
    default: {
      const never: never = o.shape;
      throw new Error(`unknown shape ${String(never)}`);
    }
  }
}

/** Whether the pattern puts the shade colour at a point (true) or the fill (false). */
function patternShade(o: SceneObject, px: number, py: number): boolean {
  if (o.pattern === 'solid') return false;
  const dx = px - o.cx;
  const dy = py - o.cy;
  const c = Math.cos(o.patternAngle);
  const s = Math.sin(o.patternAngle);
  const u = (dx * c + dy * s) / o.patternPeriod;
  if (o.pattern === 'striped') return (Math.floor(u * 2) & 1) === 1;
  const v = (-dx * s + dy * c) / o.patternPeriod;
  const fu = u - Math.round(u);
  const fv = v - Math.round(v);
  return fu * fu + fv * fv <= 0.3 * 0.3;
}

function drawObject(data: Uint8Array, labels: Uint8Array, size: number, o: SceneObject, label: number): void {
  const inside = shapeTest(o);
  const x0 = Math.max(0, Math.floor(o.cx - o.radius - 1));
  const x1 = Math.min(size - 1, Math.ceil(o.cx + o.radius + 1));
  const y0 = Math.max(0, Math.floor(o.cy - o.radius - 1));
  const y1 = Math.min(size - 1, Math.ceil(o.cy + o.radius + 1));
  for (let y = y0; y <= y1; y++) {
    const py = y + 0.5;
    for (let x = x0; x <= x1; x++) {
      const px = x + 0.5;
      if (!inside(px, py)) continue;
      const i = y * size + x;
      const colour = patternShade(o, px, py) ? o.shade : o.fill;
      data[i * 3] = colour[0];
      data[i * 3 + 1] = colour[1];
      data[i * 3 + 2] = colour[2];
      labels[i] = label;
    }
  }
}
