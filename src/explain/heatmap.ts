/**
 * Heatmaps: concept maps upsampled bilinearly (PyTorch `F.interpolate(mode='bilinear',
 * align_corners=False)`, the same resampling the backbone's feature map gets) and coloured with
 * a perceptual colormap.
 *
 * The colormap is built in OKLab (Ottosson 2020), a perceptually uniform colour space:
 * lightness rises linearly from 0.27 to 0.94, so equal steps in value are equal steps in
 * perceived lightness and the map reads correctly in greyscale; the hue turns from violet
 * through blue, teal and green to yellow (viridis's path), with chroma reduced where needed to
 * stay inside sRGB.
 */
import { bilinearMatrix } from '../models/bilinear.js';

/**
 * Upsamples a row-major `gh`×`gw` map to `outH`×`outW` with PyTorch's bilinear,
 * align_corners=False semantics (separable; exact for any sizes).
 */
export function upsampleBilinear(map: ArrayLike<number>, gh: number, gw: number, outH: number, outW: number): Float32Array {
  if (map.length !== gh * gw) throw new Error(`upsampleBilinear: map has ${map.length} values, expected ${gh}×${gw}`);
  const rh = bilinearMatrix(gh, outH);
  const rw = bilinearMatrix(gw, outW);
  const rows = new Float64Array(gh * outW);
  for (let a = 0; a < gh; a++) {
    for (let x = 0; x < outW; x++) {
      let s = 0;
      for (let b = 0; b < gw; b++) s += rw[x * gw + b]! * map[a * gw + b]!;
      rows[a * outW + x] = s;
    }
  }
  const out = new Float32Array(outH * outW);
  for (let y = 0; y < outH; y++) {
    for (let a = 0; a < gh; a++) {
      const w = rh[y * gh + a]!;
      if (w === 0) continue;
      const o = y * outW;
      const r = a * outW;
      for (let x = 0; x < outW; x++) out[o + x]! += w * rows[r + x]!;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The colormap.

/** OKLab → linear sRGB (Ottosson's matrices). */
function oklabToLinear(L: number, a: number, b: number): [number, number, number] {
  const l = (L + 0.3963377774 * a + 0.2158037573 * b) ** 3;
  const m = (L - 0.1055613458 * a - 0.0638541728 * b) ** 3;
  const s = (L - 0.0894841775 * a - 1.291485548 * b) ** 3;
  return [
    4.0767416621 * l - 3.3077115913 * m + 0.2309699292 * s,
    -1.2684380046 * l + 2.6097574011 * m - 0.3413193965 * s,
    -0.0041960863 * l - 0.7034186147 * m + 1.707614701 * s,
  ];
}

function encodeSrgb(v: number): number {
  const c = Math.min(1, Math.max(0, v));
  return c <= 0.0031308 ? 12.92 * c : 1.055 * c ** (1 / 2.4) - 0.055;
}

/** 256 RGB entries of the colormap, dark violet (0) to light yellow (255). */
function buildColormap(): Uint8Array {
  const lut = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) {
    const t = i / 255;
    const L = 0.27 + 0.67 * t;
    const hue = ((310 - 205 * t) * Math.PI) / 180;
    let chroma = 0.13 + 0.05 * t;
    let rgb = oklabToLinear(L, chroma * Math.cos(hue), chroma * Math.sin(hue));
    // Reduce chroma until the colour fits in sRGB (lightness and hue are kept).
    while (chroma > 0 && rgb.some((c) => c < -1e-6 || c > 1 + 1e-6)) {
      chroma -= 0.002;
      rgb = oklabToLinear(L, chroma * Math.cos(hue), chroma * Math.sin(hue));
    }
    for (let c = 0; c < 3; c++) lut[i * 3 + c] = Math.round(255 * encodeSrgb(rgb[c]!));
  }
  return lut;
}

/** The colormap as 256 RGB triples (index 0 = lowest value). */
export const COLORMAP: Uint8Array = buildColormap();

/** The colormap's RGB for a value already scaled to [0, 1] (clamped). */
export function colormapAt(t: number): [number, number, number] {
  const i = Math.round(255 * Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0))) * 3;
  return [COLORMAP[i]!, COLORMAP[i + 1]!, COLORMAP[i + 2]!];
}

/** `#rrggbb` of the colormap at t ∈ [0, 1]. */
export function colormapHex(t: number): string {
  return `#${colormapAt(t)
    .map((c) => c.toString(16).padStart(2, '0'))
    .join('')}`;
}

/** The smallest and largest value of a map. */
export function valueRange(values: ArrayLike<number>): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

/**
 * Colours `values` (any layout) with the colormap, scaling [lo, hi] to [0, 1] (a constant map
 * gets the middle colour). Returns interleaved RGB.
 */
export function colourise(values: ArrayLike<number>, lo: number, hi: number): Uint8Array {
  const out = new Uint8Array(values.length * 3);
  const span = hi - lo;
  for (let i = 0; i < values.length; i++) {
    const t = span > 0 ? (values[i]! - lo) / span : 0.5;
    out.set(colormapAt(t), i * 3);
  }
  return out;
}

/** (1 − alpha)·base + alpha·overlay, both interleaved RGB of the same size. */
export function blend(base: Uint8Array, overlay: Uint8Array, alpha: number): Uint8Array {
  if (base.length !== overlay.length) throw new Error(`blend: images differ in size (${base.length} and ${overlay.length} bytes)`);
  const out = new Uint8Array(base.length);
  for (let i = 0; i < base.length; i++) out[i] = Math.round((1 - alpha) * base[i]! + alpha * overlay[i]!);
  return out;
}
