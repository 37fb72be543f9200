/**
 * Model-input preprocessing without any decoding: PIL-exact resizing (`Image.resize`, the same
 * separable convolution with antialiasing when shrinking, the same fixed-point arithmetic and an
 * 8-bit intermediate after the horizontal pass), torchvision's `Resize` + `CenterCrop`
 * geometry, normalisation to planar float32, and the two together as a model's preprocessing
 * says ({@link InputPreprocess}: the one path every model input takes). Pure TypeScript with
 * no Node imports, so the explorer page runs the very same code in the browser (`image-io.ts`
 * re-exports the resizing and normalisation).
 */
import type { ResizeSpec, RgbImage } from './rgb-image.js';

/** Resampling filter, PIL's definitions (bicubic with a = −0.5). */
export type Interpolation = 'bicubic' | 'bilinear';

/** Brings a decoded image to the square model input described by `spec`. */
export function resizeToSpec(img: RgbImage, spec: ResizeSpec, interpolation: Interpolation = 'bicubic'): RgbImage {
  checkSpec(spec);
  const { size } = spec;
  if (spec.mode === 'stretch') return resizeRgb(img, size, size, interpolation);
  const geo = centerGeometry(img.width, img.height, spec);
  return resizeRgb(img, geo.width, geo.height, interpolation, { x: geo.left, y: geo.top, width: size, height: size });
}

/** Where `center` mode resizes to and crops from, torchvision's arithmetic. */
export function centerGeometry(width: number, height: number, spec: ResizeSpec): { width: number; height: number; left: number; top: number } {
  const short = spec.resize ?? spec.size;
  let w: number;
  let h: number;
  if (width <= height) {
    w = short;
    h = Math.floor((short * height) / width);
  } else {
    h = short;
    w = Math.floor((short * width) / height);
  }
  return { width: w, height: h, left: roundHalfEven((w - spec.size) / 2), top: roundHalfEven((h - spec.size) / 2) };
}

/** A window of the resized image to compute (the rest is never evaluated). */
export interface CropWindow {
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * Resizes RGB to `outW`×`outH` exactly as PIL's `Image.resize` does, optionally computing only
 * the window `crop` of the result (same values as resizing fully, then cropping).
 */
export function resizeRgb(
  img: RgbImage,
  outW: number,
  outH: number,
  interpolation: Interpolation = 'bicubic',
  crop: CropWindow = { x: 0, y: 0, width: outW, height: outH },
): RgbImage {
  const { width: inW, height: inH, data } = img;
  if (!(Number.isInteger(outW) && Number.isInteger(outH) && outW > 0 && outH > 0)) {
    throw new Error(`resizeRgb: output size must be positive integers, got ${outW}×${outH}`);
  }
  if (data.length !== inW * inH * 3) {
    throw new Error(`resizeRgb: image data holds ${data.length} bytes, expected ${inW}×${inH}×3`);
  }
  if (crop.x < 0 || crop.y < 0 || crop.width <= 0 || crop.height <= 0 || crop.x + crop.width > outW || crop.y + crop.height > outH) {
    throw new Error(`resizeRgb: crop window ${crop.width}×${crop.height}+${crop.x}+${crop.y} is outside ${outW}×${outH}`);
  }
  const filter = FILTERS[interpolation];
  // Rows of the input (or of the horizontal result) each output row needs.
  const vert = outH === inH ? null : coefficients(inH, outH, filter, crop.y, crop.height);
  const rowFirst = vert ? vert.bounds[0]! : crop.y;
  const rowLast = vert ? vert.bounds[(crop.height - 1) * 2]! + vert.bounds[(crop.height - 1) * 2 + 1]! : crop.y + crop.height;

  // Horizontal pass over the needed rows only, into an 8-bit intermediate.
  let mid: Uint8Array;
  let midW: number;
  let midX0: number;
  if (outW === inW) {
    mid = data.subarray(rowFirst * inW * 3, rowLast * inW * 3);
    midW = inW;
    midX0 = crop.x;
  } else {
    const hc = coefficients(inW, outW, filter, crop.x, crop.width);
    midW = crop.width;
    midX0 = 0;
    mid = new Uint8Array((rowLast - rowFirst) * midW * 3);
    horizontalPass(data, inW, rowFirst, rowLast, hc, mid, midW);
  }

  const out = new Uint8Array(crop.width * crop.height * 3);
  if (!vert) {
    for (let y = 0; y < crop.height; y++) {
      const src = (y + crop.y - rowFirst) * midW * 3 + midX0 * 3;
      out.set(mid.subarray(src, src + crop.width * 3), y * crop.width * 3);
    }
  } else {
    verticalPass(mid, midW, midX0, rowFirst, vert, out, crop.width, crop.height);
  }
  return { data: out, width: crop.width, height: crop.height };
}

/** `(x/255 − mean)/std` per channel, planar CHW, written into `out` at `offset`; returns `out`. */
export function toChwNormalised(
  img: RgbImage,
  mean: readonly [number, number, number] | readonly number[],
  std: readonly [number, number, number] | readonly number[],
  out?: Float32Array,
  offset = 0,
): Float32Array {
  const plane = img.width * img.height;
  if (img.data.length !== plane * 3) {
    throw new Error(`toChwNormalised: image data holds ${img.data.length} bytes, expected ${img.width}×${img.height}×3`);
  }
  if (mean.length !== 3 || std.length !== 3) throw new Error('toChwNormalised: mean and std need 3 values');
  const dst = out ?? new Float32Array(offset + plane * 3);
  if (!Number.isInteger(offset) || offset < 0 || offset + plane * 3 > dst.length) {
    throw new Error(`toChwNormalised: ${plane * 3} values at offset ${offset} do not fit in an array of ${dst.length}`);
  }
  // One lookup table per channel: the formula is evaluated in float64 and rounded once.
  const lut = new Float32Array(768);
  for (let c = 0; c < 3; c++) {
    const m = mean[c]!;
    const s = std[c]!;
    if (!(s !== 0 && Number.isFinite(s))) throw new Error(`toChwNormalised: std[${c}] must be finite and non-zero`);
    for (let v = 0; v < 256; v++) lut[c * 256 + v] = (v / 255 - m) / s;
  }
  const src = img.data;
  const o0 = offset;
  const o1 = offset + plane;
  const o2 = offset + 2 * plane;
  for (let i = 0, j = 0; i < plane; i++, j += 3) {
    dst[o0 + i] = lut[src[j]!]!;
    dst[o1 + i] = lut[256 + src[j + 1]!]!;
    dst[o2 + i] = lut[512 + src[j + 2]!]!;
  }
  return dst;
}

/**
 * How a decoded image becomes a model's input: a backbone config's `preprocess` (models/
 * backbone.ts), an exported model's, or CLIP's ({@link clipPreprocess}).
 */
export interface InputPreprocess {
  resize: ResizeSpec;
  /** Resampling filter; {@link DEFAULT_INTERPOLATION} when omitted. */
  interpolation?: Interpolation;
  /** Per-channel normalisation of RGB scaled to [0, 1]. */
  mean: readonly number[];
  std: readonly number[];
}

/** The filter of a preprocessing that names none: bilinear, torchvision's default. */
export const DEFAULT_INTERPOLATION: Interpolation = 'bilinear';

/** OpenAI CLIP's preprocessing for an encoder: shorter side to its input, bicubic, centre crop. */
export function clipPreprocess(encoder: { inputSize: number; mean: readonly number[]; std: readonly number[] }): InputPreprocess {
  return { resize: { size: encoder.inputSize, mode: 'center' }, interpolation: 'bicubic', mean: encoder.mean, std: encoder.std };
}

/** The model input of a decoded image (S×S RGB, before normalisation). */
export function modelInput(image: RgbImage, p: InputPreprocess): RgbImage {
  return resizeToSpec(image, p.resize, p.interpolation ?? DEFAULT_INTERPOLATION);
}

/** A model input's normalised planar pixels (3×S×S), written into `out` at `offset` when given. */
export function normaliseInput(input: RgbImage, p: InputPreprocess, out?: Float32Array, offset = 0): Float32Array {
  return toChwNormalised(input, p.mean, p.std, out, offset);
}

/** A decoded image → the model's normalised pixels ({@link modelInput}, then {@link normaliseInput}). */
export function preprocessImage(image: RgbImage, p: InputPreprocess, out?: Float32Array, offset = 0): Float32Array {
  return normaliseInput(modelInput(image, p), p, out, offset);
}

// ---------------------------------------------------------------------------------------------
// PIL-compatible separable resampling (Resample.c, 8 bits per channel).

interface Filter {
  support: number;
  weight(x: number): number;
}

const FILTERS: Record<Interpolation, Filter> = {
  bilinear: {
    support: 1,
    weight(x) {
      x = Math.abs(x);
      return x < 1 ? 1 - x : 0;
    },
  },
  bicubic: {
    support: 2,
    weight(x) {
      const a = -0.5;
      x = Math.abs(x);
      if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
      if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
      return 0;
    },
  },
};

const PRECISION_BITS = 32 - 8 - 2;
const HALF = 1 << (PRECISION_BITS - 1);

/** Fixed-point taps for output positions `first .. first+count-1` of an `inSize → outSize` resize. */
interface Coefficients {
  /** Per output position: first input index, number of taps. */
  bounds: Int32Array;
  /** Taps, `ksize` per output position. */
  taps: Int32Array;
  ksize: number;
}

function coefficients(inSize: number, outSize: number, filter: Filter, first: number, count: number): Coefficients {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filter.support * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(count * 2);
  const taps = new Int32Array(count * ksize);
  const k = new Float64Array(ksize);
  const inv = 1 / filterScale;
  for (let i = 0; i < count; i++) {
    const center = (first + i + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let sum = 0;
    for (let x = 0; x < xmax; x++) {
      const w = filter.weight((x + xmin - center + 0.5) * inv);
      k[x] = w;
      sum += w;
    }
    for (let x = 0; x < xmax; x++) {
      const w = sum !== 0 ? k[x]! / sum : k[x]!;
      taps[i * ksize + x] = w < 0 ? Math.trunc(-0.5 + w * (1 << PRECISION_BITS)) : Math.trunc(0.5 + w * (1 << PRECISION_BITS));
    }
    bounds[i * 2] = xmin;
    bounds[i * 2 + 1] = xmax;
  }
  return { bounds, taps, ksize };
}

function clip8(v: number): number {
  const s = v >> PRECISION_BITS;
  return s < 0 ? 0 : s > 255 ? 255 : s;
}

function horizontalPass(src: Uint8Array, inW: number, rowFirst: number, rowLast: number, c: Coefficients, dst: Uint8Array, outW: number): void {
  const { bounds, taps, ksize } = c;
  for (let y = rowFirst; y < rowLast; y++) {
    const row = y * inW * 3;
    let o = (y - rowFirst) * outW * 3;
    for (let x = 0; x < outW; x++) {
      const xmin = bounds[x * 2]!;
      const n = bounds[x * 2 + 1]!;
      const kb = x * ksize;
      let s0 = HALF;
      let s1 = HALF;
      let s2 = HALF;
      let p = row + xmin * 3;
      for (let t = 0; t < n; t++, p += 3) {
        const w = taps[kb + t]!;
        s0 += src[p]! * w;
        s1 += src[p + 1]! * w;
        s2 += src[p + 2]! * w;
      }
      dst[o++] = clip8(s0);
      dst[o++] = clip8(s1);
      dst[o++] = clip8(s2);
    }
  }
}

function verticalPass(src: Uint8Array, srcW: number, srcX0: number, rowFirst: number, c: Coefficients, dst: Uint8Array, outW: number, outH: number): void {
  const { bounds, taps, ksize } = c;
  const stride = srcW * 3;
  let o = 0;
  for (let y = 0; y < outH; y++) {
    const ymin = bounds[y * 2]! - rowFirst;
    const n = bounds[y * 2 + 1]!;
    const kb = y * ksize;
    for (let x = 0; x < outW; x++) {
      let s0 = HALF;
      let s1 = HALF;
      let s2 = HALF;
      let p = ymin * stride + (srcX0 + x) * 3;
      for (let t = 0; t < n; t++, p += stride) {
        const w = taps[kb + t]!;
        s0 += src[p]! * w;
        s1 += src[p + 1]! * w;
        s2 += src[p + 2]! * w;
      }
      dst[o++] = clip8(s0);
      dst[o++] = clip8(s1);
      dst[o++] = clip8(s2);
    }
  }
}

// ---------------------------------------------------------------------------------------------

/** Throws unless `spec` is a valid resize spec. */
export function checkSpec(spec: ResizeSpec): void {
  if (!Number.isInteger(spec.size) || spec.size <= 0) throw new Error(`resize spec: size must be a positive integer, got ${spec.size}`);
  if (spec.mode !== 'center' && spec.mode !== 'stretch') throw new Error(`resize spec: unknown mode ${String(spec.mode)}`);
  if (spec.resize !== undefined) {
    if (spec.mode !== 'center') throw new Error('resize spec: `resize` applies to center mode only');
    if (!Number.isInteger(spec.resize) || spec.resize < spec.size) {
      throw new Error(`resize spec: resize (${spec.resize}) must be an integer no smaller than size (${spec.size})`);
    }
  }
}

/** Python 3's `round` for halves (ties to even). */
function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}
