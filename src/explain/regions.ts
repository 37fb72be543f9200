/**
 * Regions for Explain Anything and local intervention (SPEC step 6): points (a disk of a given
 * radius), boxes, binary mask images and SAM-style masks (COCO RLE in JSON, compressed or not,
 * or PNG), all turned into a binary mask of the model's S×S input.
 *
 * Coordinates are in the original image's pixels by default (`frame: 'image'`), mapped through
 * the preprocessing (stretch, or resize + centre crop); `frame: 'input'` takes them in the
 * model input's pixels. A pixel of the input belongs to the region when its centre does.
 * Boxes are [x0, x1) × [y0, y1) in continuous coordinates.
 *
 * From the input mask:
 * - `regionGridWeights` gives w such that Σ_pixels I ⊙ up(C[m]) = Σ_g C[m, g]·w[g] (the
 *   transpose of the bilinear upsampling applied to I), so region sums over upsampled maps are
 *   exact without upsampling M maps;
 * - `gridMask` resizes the mask to the grid by area: each cell gets the fraction of its input
 *   pixels inside the region (1 for a cell fully inside), the I of intervention's C + β·I.
 *
 * The rasterising itself is in `raster.ts` (no Node imports, so the explorer page shares it);
 * this module adds reading regions from text and files, and re-exports it.
 */
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import sharp, { type OutputInfo } from 'sharp';
import type { Region } from './raster.js';
import { parseJson } from '../data/parse-json.js';

export {
  describeRegion,
  gridMask,
  rasteriseRegion,
  regionGridWeights,
  type RasteriseOptions,
  type RasterRegion,
  type Region,
  type RegionFrame,
} from './raster.js';

function numbers(text: string, count: number[], spec: string): number[] {
  const parts = text.split(',').map((s) => s.trim());
  const v = parts.map(Number);
  if (!count.includes(parts.length) || parts.some((p) => p === '') || v.some((x) => !Number.isFinite(x))) {
    throw new Error(`region ${JSON.stringify(spec)}: expected ${count.join(' or ')} comma-separated numbers`);
  }
  return v;
}

/**
 * Parses a region given as text:
 * `point:x,y[,radius]`, `box:x0,y0,x1,y1`, `mask:<file>` (a binary mask image, or a SAM/COCO
 * RLE JSON file), `sam:<file>[#index]` (the same, picking one mask of a JSON list) or `all`.
 */
export async function parseRegion(spec: string): Promise<Region> {
  const s = spec.trim();
  if (s === 'all') return { kind: 'all' };
  const colon = s.indexOf(':');
  const kind = colon < 0 ? s : s.slice(0, colon);
  const rest = colon < 0 ? '' : s.slice(colon + 1);
  switch (kind) {
    case 'point': {
      const [x, y, radius] = numbers(rest, [2, 3], spec);
      if (radius !== undefined && !(radius > 0)) throw new Error(`region ${JSON.stringify(spec)}: the radius must be positive`);
      return radius === undefined ? { kind: 'point', x: x!, y: y! } : { kind: 'point', x: x!, y: y!, radius };
    }
    case 'box': {
      const [x0, y0, x1, y1] = numbers(rest, [4], spec) as [number, number, number, number];
      if (!(x1 > x0 && y1 > y0)) throw new Error(`region ${JSON.stringify(spec)}: a box needs x1 > x0 and y1 > y0`);
      return { kind: 'box', x0, y0, x1, y1 };
    }
    case 'mask':
    case 'sam': {
      if (!rest) throw new Error(`region ${JSON.stringify(spec)}: give a file, e.g. ${kind}:mask.png`);
      const hash = rest.lastIndexOf('#');
      const file = hash >= 0 && /^#\d+$/.test(rest.slice(hash)) ? rest.slice(0, hash) : rest;
      const index = file === rest ? undefined : Number(rest.slice(hash + 1));
      return loadMaskFile(file, index);
    }
    default:
      throw new Error(
        `region ${JSON.stringify(spec)}: unknown kind ${JSON.stringify(kind)} (use point:x,y[,r], box:x0,y0,x1,y1, mask:<file>, sam:<file>[#i] or all)`,
      );
  }
}

/** Loads a mask file: `.json` as SAM/COCO RLE (entry `index` of a list), anything else as an image. */
export async function loadMaskFile(path: string, index?: number): Promise<Region & { kind: 'mask' }> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(`${path}: cannot read the mask (${e.code === 'ENOENT' ? 'file not found' : e.message})`);
  }
  const source = index === undefined ? path : `${path}#${index}`;
  if (extname(path).toLowerCase() === '.json') {
    const m = samMaskFromJson(bytes.toString('utf8'), path, index);
    return { kind: 'mask', ...m, source };
  }
  if (index !== undefined) throw new Error(`${path}: #${index} picks a mask from a JSON list; an image holds one mask`);
  return { kind: 'mask', ...(await decodeMaskImage(bytes, path)), source };
}

/**
 * A binary mask from image bytes: where the image has transparency, alpha ≥ 128 is inside;
 * otherwise the brightest channel ≥ 128 (or > 0 when the image only holds 0 and 1).
 */
export async function decodeMaskImage(bytes: Uint8Array, name = 'mask'): Promise<{ mask: Uint8Array; width: number; height: number }> {
  let data: Buffer;
  let info: OutputInfo;
  try {
    ({ data, info } = await sharp(bytes, { failOn: 'error' }).raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true }));
  } catch (err) {
    throw new Error(`${name}: cannot decode the mask image (${(err as Error).message.split('\n')[0]})`);
  }
  const { width, height, channels } = info;
  const n = width * height;
  const hasAlpha = channels === 2 || channels === 4;
  const colours = hasAlpha ? channels - 1 : channels;
  let useAlpha = false;
  if (hasAlpha) for (let p = 0; p < n && !useAlpha; p++) useAlpha = data[p * channels + colours]! < 255;
  const value = new Uint8Array(n);
  let max = 0;
  for (let p = 0; p < n; p++) {
    let v = 0;
    if (useAlpha) v = data[p * channels + colours]!;
    else for (let c = 0; c < colours; c++) v = Math.max(v, data[p * channels + c]!);
    value[p] = v;
    if (v > max) max = v;
  }
  const threshold = max <= 1 ? 1 : 128;
  const mask = value.map((v) => (v >= threshold ? 1 : 0));
  return { mask, width, height };
}

// ---------------------------------------------------------------------------------------------
// COCO run-length encoding (what SAM's automatic mask generator writes with output_mode
// "coco_rle"): counts alternate 0-runs and 1-runs over the mask in column-major order.

/** A COCO RLE: `size` is [height, width]; `counts` compressed (string) or plain. */
export interface CocoRle {
  size: [number, number];
  counts: string | number[];
}

/**
 * Decodes pycocotools' compressed counts string: each run in 5-bit chunks (LEB128-like, 0x20 =
 * more chunks follow, 0x10 in the last chunk = negative), stored as characters from '0'; from
 * the fourth run on, the value is the difference from the run two before.
 */
export function decodeRleString(s: string): number[] {
  const counts: number[] = [];
  let p = 0;
  while (p < s.length) {
    let x = 0;
    let k = 0;
    let more = true;
    let c = 0;
    while (more) {
      if (p >= s.length) throw new Error('RLE counts string ends in the middle of a number');
      c = s.charCodeAt(p) - 48;
      if (c < 0 || c > 63) throw new Error(`RLE counts string has an invalid character ${JSON.stringify(s[p])}`);
      x += (c & 0x1f) * 32 ** k;
      more = (c & 0x20) !== 0;
      p++;
      k++;
    }
    if (c & 0x10) x -= 32 ** k; // sign bit of the last chunk
    if (counts.length > 2) x += counts[counts.length - 2]!;
    counts.push(x);
  }
  return counts;
}

/** Encodes run counts as pycocotools' compressed string. */
export function encodeRleString(counts: readonly number[]): string {
  let s = '';
  for (let i = 0; i < counts.length; i++) {
    let x = counts[i]! - (i > 2 ? counts[i - 2]! : 0);
    let more = true;
    while (more) {
      let c = ((x % 32) + 32) % 32;
      x = Math.floor(x / 32);
      more = c & 0x10 ? x !== -1 : x !== 0;
      if (more) c |= 0x20;
      s += String.fromCharCode(c + 48);
    }
  }
  return s;
}

/** A row-major binary mask from a COCO RLE. */
export function decodeRle(rle: CocoRle, name = 'RLE'): { mask: Uint8Array; width: number; height: number } {
  const size = rle?.size;
  if (!Array.isArray(size) || size.length !== 2 || !size.every((v) => Number.isInteger(v) && v > 0)) {
    throw new Error(`${name}: an RLE needs "size": [height, width]`);
  }
  const [h, w] = size;
  let counts: number[];
  if (typeof rle.counts === 'string') {
    try {
      counts = decodeRleString(rle.counts);
    } catch (err) {
      throw new Error(`${name}: ${(err as Error).message}`);
    }
  } else if (Array.isArray(rle.counts) && rle.counts.every((v) => Number.isInteger(v) && v >= 0)) counts = rle.counts;
  else throw new Error(`${name}: "counts" must be a string (compressed RLE) or a list of non-negative integers`);
  const total = counts.reduce((a, b) => a + b, 0);
  if (total !== h * w) throw new Error(`${name}: the runs cover ${total} pixels but the mask is ${h}×${w} = ${h * w}`);
  const mask = new Uint8Array(h * w);
  let p = 0;
  counts.forEach((run, i) => {
    if (i % 2 === 1) {
      for (let q = p; q < p + run; q++) mask[(q % h) * w + Math.floor(q / h)] = 1;
    }
    p += run;
  });
  return { mask, width: w, height: h };
}

/** Encodes a row-major binary mask as a compressed COCO RLE. */
export function encodeRle(mask: Uint8Array, width: number, height: number): CocoRle {
  const counts: number[] = [];
  let cur = 0;
  let run = 0;
  for (let q = 0; q < width * height; q++) {
    const v = mask[(q % height) * width + Math.floor(q / height)] ? 1 : 0;
    if (v !== cur) {
      counts.push(run);
      run = 0;
      cur = v;
    }
    run++;
  }
  counts.push(run);
  return { size: [height, width], counts: encodeRleString(counts) };
}

/**
 * The mask in a SAM/COCO JSON text: an RLE object, an annotation with `segmentation`, a list of
 * either (SAM's output) or an object with an `annotations` list. A list of several needs `index`.
 */
export function samMaskFromJson(text: string, name: string, index?: number): { mask: Uint8Array; width: number; height: number } {
  const doc = parseJson(text, name);
  let list: unknown[] | undefined;
  if (Array.isArray(doc)) list = doc;
  else if (doc && typeof doc === 'object' && Array.isArray((doc as { annotations?: unknown }).annotations))
    list = (doc as { annotations: unknown[] }).annotations;
  let entry: unknown = doc;
  if (list) {
    if (list.length === 0) throw new Error(`${name}: the file holds no masks`);
    if (index === undefined && list.length > 1)
      throw new Error(`${name}: the file holds ${list.length} masks; pick one with #<index> (0 to ${list.length - 1})`);
    const i = index ?? 0;
    if (i >= list.length) throw new Error(`${name}: mask #${i} does not exist (the file holds ${list.length})`);
    entry = list[i];
  } else if (index !== undefined && index !== 0) throw new Error(`${name}: the file holds one mask; #${index} does not exist`);
  const seg = entry && typeof entry === 'object' && 'segmentation' in entry ? (entry as { segmentation: unknown }).segmentation : entry;
  if (Array.isArray(seg)) throw new Error(`${name}: polygon segmentations are not supported; give the mask as RLE or as a PNG`);
  return decodeRle(seg as CocoRle, name);
}
