/**
 * One CIFAR-10/100 python batch file as torchvision downloads it (`data_batch_1`…, `test_batch`,
 * `train`, `test`; `batches.meta`, `meta`): a pickled dict (python-pickle.ts) whose `data` is a
 * uint8 N×3072 array, each row the 32×32 red plane, then green, then blue, row-major.
 */
import { readFileSync } from 'node:fs';
import type { RgbImage } from './rgb-image.js';
import { pickleText, readPickle, type PickleValue } from './python-pickle.js';

/** The images and labels of a batch file. */
export interface CifarBatch {
  file: string;
  /** count×3072 bytes, planar per image (see the module comment). */
  data: Uint8Array;
  count: number;
  /** `labels` (CIFAR-10) or `fine_labels` (CIFAR-100), one per image. */
  labels: number[];
}

const SIDE = 32;
const PLANE = SIDE * SIDE;

/** Reads a pickled dict with string keys; errors name the file. */
export function readPickledDict(file: string): Map<string, PickleValue> {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(`${file}: cannot read (${e.code ?? e.message})`);
  }
  const value = readPickle(bytes, file);
  if (!(value instanceof Map)) throw new Error(`${file}: expected a pickled dict`);
  return value;
}

/** Reads a batch file (see the module comment), checking its shape and labels. */
export function readCifarBatch(file: string): CifarBatch {
  const dict = readPickledDict(file);
  const data = dict.get('data');
  if (typeof data !== 'object' || data === null || !('kind' in data) || data.kind !== 'ndarray') {
    throw new Error(`${file}: no "data" array (keys: ${[...dict.keys()].join(', ')})`);
  }
  if (data.dtype !== 'u1' || data.shape.length !== 2 || data.shape[1] !== 3 * PLANE || data.data.length !== data.shape[0]! * 3 * PLANE) {
    throw new Error(`${file}: "data" is ${data.dtype} [${data.shape.join(', ')}], expected uint8 [N, 3072]`);
  }
  const count = data.shape[0]!;
  const key = dict.has('labels') ? 'labels' : 'fine_labels';
  const labels = dict.get(key);
  if (!Array.isArray(labels) || labels.length !== count || !labels.every((l) => typeof l === 'number' && Number.isInteger(l) && l >= 0)) {
    throw new Error(`${file}: "labels" or "fine_labels" must list ${count} class indices`);
  }
  return { file, data: data.data, count, labels: labels as number[] };
}

/** Image `index` of a batch as interleaved 32×32 RGB. */
export function cifarImage(batch: CifarBatch, index: number): RgbImage {
  const src = batch.data.subarray(index * 3 * PLANE, (index + 1) * 3 * PLANE);
  const out = new Uint8Array(3 * PLANE);
  for (let p = 0; p < PLANE; p++) {
    out[3 * p] = src[p]!;
    out[3 * p + 1] = src[PLANE + p]!;
    out[3 * p + 2] = src[2 * PLANE + p]!;
  }
  return { data: out, width: SIDE, height: SIDE };
}

/** A list of names from a meta dict (`label_names`, `fine_label_names`). */
export function namesOf(dict: Map<string, PickleValue>, key: string, file: string): string[] {
  const list = dict.get(key);
  const names = Array.isArray(list) ? list.map((v) => pickleText(v)) : undefined;
  if (!names || names.some((n) => n === undefined)) throw new Error(`${file}: no "${key}" list of names`);
  return names as string[];
}
