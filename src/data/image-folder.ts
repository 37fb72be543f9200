/**
 * Image-folder datasets: `root/<class>/.../<image>`, one sub-folder per class (torchvision's
 * `ImageFolder` layout), plus train/val/test splits and batched, bounded-concurrency decoding.
 *
 * Split file formats (paths relative to the root, `/`-separated, class folder included):
 * - text (any name not ending in `.json`): one `relative/path<TAB>split` or
 *   `relative/path,split` per line, split ∈ {train, val, test}; blank lines and lines starting
 *   with `#` are ignored;
 * - JSON (`*.json`): `{ "train": [paths], "val": [paths], "test": [paths] }`, any key optional.
 * Every listed path must be an image found by the scan; images the file does not list belong to
 * no split.
 */
import { readdirSync, readFileSync, realpathSync, statSync, type Dirent } from 'node:fs';
import { availableParallelism } from 'node:os';
import { extname, join, relative, resolve, sep } from 'node:path';
import { decodeRgb, loadRgb, type Interpolation } from './image-io.js';
import { Rng } from '../rng.js';
import type { ResizeSpec, RgbImage } from './rgb-image.js';
import { parseJson } from './parse-json.js';

/** One image and its class index. */
export interface Sample {
  /** Absolute path of the image file. */
  path: string;
  /** Index into `ImageFolder.classes`. */
  label: number;
}

/** The three dataset splits. */
export type SplitName = 'train' | 'val' | 'test';

const SPLIT_NAMES: readonly SplitName[] = ['train', 'val', 'test'];

/** A scanned image folder. */
export interface ImageFolder {
  /** Absolute root folder. */
  root: string;
  /** Class names (sub-folder names), sorted; a sample's label indexes this list. */
  classes: string[];
  /** Every image, sorted by class then by relative path. */
  samples: Sample[];
  /** Things worth telling the user that do not stop the scan (e.g. class names differing only by case). */
  warnings: string[];
  /**
   * The samples of one split, in `samples` order. Without a split file or holdout fractions,
   * `train` is every sample and `val`/`test` throw.
   */
  split(name: SplitName): Sample[];
}

/** Fractions held out per class by {@link splitSamples}. */
export interface SplitFractions {
  /** Fraction of each class for validation, in [0, 1). */
  val: number;
  /** Fraction of each class for test (default 0). */
  test?: number;
  /** Shuffle seed (default 0); the same seed and samples give the same split. */
  seed?: number;
}

/** Options for {@link scanImageFolder}. */
export interface ScanOptions {
  /** A split file (see the module comment). */
  splitFile?: string;
  /** A seeded, class-stratified split instead of a split file. */
  holdout?: SplitFractions;
  /** File extensions counted as images, case-insensitive (default {@link IMAGE_EXTENSIONS}). */
  extensions?: readonly string[];
}

/** Extensions of the formats sharp decodes here (BMP is not among them). */
export const IMAGE_EXTENSIONS: readonly string[] = ['.jpg', '.jpeg', '.jpe', '.jfif', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif'];

/**
 * Scans `root/<class>/**` for images. Fails at once, naming the folder, when the root is missing
 * or holds no class folders, when a class folder holds no images, or when a folder link inside a
 * class loops or leads out of that class's folder (it would label other images as this class).
 */
export function scanImageFolder(root: string, options: ScanOptions = {}): ImageFolder {
  const absRoot = resolve(root);
  if (options.splitFile !== undefined && options.holdout !== undefined) {
    throw new Error(`${absRoot}: give either a split file or holdout fractions, not both`);
  }
  const exts = new Set((options.extensions ?? IMAGE_EXTENSIONS).map(normaliseExtension));
  let entries: Dirent[];
  try {
    if (!statSync(absRoot).isDirectory()) throw new Error('not a folder');
    entries = readdirSync(absRoot, { withFileTypes: true });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(`${absRoot}: cannot read the image folder (${e.code ?? e.message})`);
  }
  const classes = entries
    .filter((e) => !e.name.startsWith('.') && isDirectory(absRoot, e))
    .map((e) => e.name)
    .sort(compareStrings);
  if (classes.length === 0) throw new Error(`${absRoot}: no class folders (expected root/<class>/<images>)`);

  const warnings = caseClashes(classes).map(
    (group) => `${absRoot}: class folders ${group.map((c) => `"${c}"`).join(', ')} differ only by case; they are trained as separate classes`,
  );

  const samples: Sample[] = [];
  const relPaths: string[] = [];
  classes.forEach((name, label) => {
    const found: string[] = [];
    const others = new Set<string>();
    const classDir = join(absRoot, name);
    walk(classDir, name, exts, found, others, { classDir, classReal: realpathOf(classDir), visited: new Set() });
    if (found.length === 0) {
      const seen = others.size > 0 ? `; other files found: ${[...others].slice(0, 5).join(', ')}` : '';
      throw new Error(`${join(absRoot, name)}: class folder "${name}" holds no images (extensions ${[...exts].join(', ')}${seen})`);
    }
    found.sort(compareStrings);
    for (const rel of found) {
      relPaths.push(rel);
      samples.push({ path: join(absRoot, ...rel.split('/')), label });
    }
  });

  let splits: Record<SplitName, Sample[]> | undefined;
  if (options.splitFile !== undefined) {
    splits = applySplitFile(options.splitFile, relPaths, samples);
  } else if (options.holdout !== undefined) {
    splits = splitSamples(samples, options.holdout);
  }

  return {
    root: absRoot,
    classes,
    samples,
    warnings,
    split(name: SplitName): Sample[] {
      if (!SPLIT_NAMES.includes(name)) throw new Error(`unknown split "${String(name)}" (train, val or test)`);
      if (splits) return splits[name];
      if (name === 'train') return samples;
      throw new Error(`${absRoot}: no "${name}" split: pass a split file or holdout fractions`);
    },
  };
}

/**
 * Reads a split file (format in the module comment) into a map from relative path to split.
 * Errors name the file and line.
 */
export function readSplitFile(file: string): Map<string, SplitName> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(`${file}: cannot read split file (${e.code ?? e.message})`);
  }
  const map = new Map<string, SplitName>();
  const add = (rawPath: string, split: string, where: string): void => {
    if (!SPLIT_NAMES.includes(split as SplitName)) {
      throw new Error(`${file}${where}: unknown split "${split}" (train, val or test)`);
    }
    const rel = normaliseRelPath(rawPath);
    if (rel === '') throw new Error(`${file}${where}: empty path`);
    const prev = map.get(rel);
    if (prev !== undefined && prev !== split) {
      throw new Error(`${file}${where}: "${rel}" is listed in both "${prev}" and "${split}"`);
    }
    map.set(rel, split as SplitName);
  };

  if (file.toLowerCase().endsWith('.json')) {
    const json = parseJson(text, file);
    if (typeof json !== 'object' || json === null || Array.isArray(json)) {
      throw new Error(`${file}: expected an object {"train": [...], "val": [...], "test": [...]}`);
    }
    for (const [split, list] of Object.entries(json as Record<string, unknown>)) {
      if (!Array.isArray(list)) throw new Error(`${file}: "${split}" must be an array of paths`);
      list.forEach((p, i) => {
        if (typeof p !== 'string') throw new Error(`${file}: ${split}[${i}] is not a string`);
        add(p, split, ` (${split}[${i}])`);
      });
    }
    return map;
  }

  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const cut = line.includes('\t') ? line.lastIndexOf('\t') : line.lastIndexOf(',');
    if (cut < 0) throw new Error(`${file}:${i + 1}: expected "relative/path<TAB>split", got "${line}"`);
    add(line.slice(0, cut).trim(), line.slice(cut + 1).trim(), `:${i + 1}`);
  });
  return map;
}

/**
 * A deterministic split, stratified per class: each class's samples are shuffled with a stream
 * seeded by (seed, label); `round(n·test)` go to test, then `round(n·val)` (at most what is left)
 * to val, the rest to train. Each split keeps the input order.
 */
export function splitSamples<S extends { label: number }>(samples: readonly S[], fractions: SplitFractions): Record<SplitName, S[]> {
  const val = fractions.val;
  const test = fractions.test ?? 0;
  const seed = fractions.seed ?? 0;
  if (!(val >= 0 && test >= 0 && val + test < 1)) {
    throw new Error(`splitSamples: fractions must be ≥ 0 with val + test < 1, got val=${val}, test=${test}`);
  }
  if (!Number.isInteger(seed)) throw new Error(`splitSamples: seed must be an integer, got ${seed}`);
  const byClass = new Map<number, number[]>();
  samples.forEach((s, i) => {
    let list = byClass.get(s.label);
    if (!list) byClass.set(s.label, (list = []));
    list.push(i);
  });
  const assign = new Uint8Array(samples.length); // 0 train, 1 val, 2 test
  for (const [label, idx] of byClass) {
    const rng = new Rng(mixSeed(seed, label));
    const rnd = (): number => rng.next();
    for (let i = idx.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      const t = idx[i]!;
      idx[i] = idx[j]!;
      idx[j] = t;
    }
    const n = idx.length;
    const nTest = Math.min(Math.round(n * test), n);
    const nVal = Math.min(Math.round(n * val), n - nTest);
    for (let k = 0; k < nTest; k++) assign[idx[k]!] = 2;
    for (let k = nTest; k < nTest + nVal; k++) assign[idx[k]!] = 1;
  }
  const out: Record<SplitName, S[]> = { train: [], val: [], test: [] };
  samples.forEach((s, i) => out[SPLIT_NAMES[assign[i]!]!].push(s));
  return out;
}

/** Options for {@link loadBatch} and {@link iterateBatches}. */
export interface BatchOptions {
  /** Report undecodable files in `skipped` instead of throwing (default false). */
  skipBad?: boolean;
  /** Files decoded at once (default min(4, CPU count)). */
  concurrency?: number;
  /** Resampling filter (default bicubic). */
  interpolation?: Interpolation;
  /** Apply EXIF orientation (default true). */
  autoOrient?: boolean;
}

/** Decoded images, aligned with the samples they came from. */
export interface LoadedBatch<S> {
  images: RgbImage[];
  /** The samples decoded, in input order; `samples[i]` gave `images[i]`. */
  samples: S[];
  /** Files that could not be decoded (only with `skipBad`). */
  skipped: { path: string; reason: string }[];
}

/**
 * Decodes and resizes `samples` per `spec` (`null`: decoded at native size, for callers that
 * make several model inputs of one image), a few at a time. A file that cannot be read or
 * decoded throws an error naming it, unless `skipBad`.
 */
export async function loadBatch<S extends { path: string }>(
  samples: readonly S[],
  spec: ResizeSpec | null,
  options: BatchOptions = {},
): Promise<LoadedBatch<S>> {
  const concurrency = options.concurrency ?? Math.min(4, availableParallelism());
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new Error(`loadBatch: concurrency must be a positive integer, got ${concurrency}`);
  }
  const results: (RgbImage | Error | undefined)[] = new Array(samples.length);
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (next < samples.length && !failed) {
      const i = next++;
      try {
        results[i] = await (spec ? loadRgb(samples[i]!.path, spec, options) : decodeRgb(samples[i]!.path, options));
      } catch (err) {
        results[i] = err instanceof Error ? err : new Error(String(err));
        if (!options.skipBad) failed = true;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, samples.length) }, worker));

  const out: LoadedBatch<S> = { images: [], samples: [], skipped: [] };
  for (let i = 0; i < samples.length; i++) {
    const r = results[i];
    if (r === undefined) continue; // not reached because an earlier file failed
    if (r instanceof Error) {
      if (!options.skipBad) throw r;
      out.skipped.push({ path: samples[i]!.path, reason: r.message });
    } else {
      out.images.push(r);
      out.samples.push(samples[i]!);
    }
  }
  return out;
}

/** Options for {@link iterateBatches}. */
export interface IterateOptions extends BatchOptions {
  /** Samples per batch. */
  batchSize: number;
}

/**
 * Yields decoded batches of `batchSize` samples in order (resized as {@link loadBatch} says),
 * decoding the next batch while the caller works on the current one.
 */
export async function* iterateBatches<S extends { path: string }>(
  samples: readonly S[],
  spec: ResizeSpec | null,
  options: IterateOptions,
): AsyncGenerator<LoadedBatch<S> & { start: number }> {
  const { batchSize } = options;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new Error(`iterateBatches: batchSize must be a positive integer, got ${batchSize}`);
  }
  const start = (at: number): Promise<LoadedBatch<S>> => {
    const p = loadBatch(samples.slice(at, at + batchSize), spec, options);
    p.catch(() => undefined); // surfaced when awaited; avoids an unhandled rejection if abandoned
    return p;
  };
  let pending = samples.length > 0 ? start(0) : undefined;
  for (let at = 0; pending; at += batchSize) {
    const batch = await pending;
    pending = at + batchSize < samples.length ? start(at + batchSize) : undefined;
    yield { ...batch, start: at };
  }
}

// ---------------------------------------------------------------------------------------------

/** What {@link walk} needs to refuse folder links that loop or leave the class folder. */
interface WalkGuard {
  /** The class folder as named under the root. */
  classDir: string;
  /** Its real path (the class folder itself may be a link). */
  classReal: string;
  /** Real paths of the folders entered so far. */
  visited: Set<string>;
}

function walk(dir: string, rel: string, exts: Set<string>, found: string[], others: Set<string>, guard: WalkGuard): void {
  const real = realpathOf(dir);
  if (guard.visited.has(real)) {
    throw new Error(`${dir}: folder link loop (or a second link to the same folder) in class folder ${guard.classDir}; it leads back to ${real}`);
  }
  if (real !== guard.classReal && !isInside(guard.classReal, real)) {
    throw new Error(
      `${dir}: folder link leads out of class folder ${guard.classDir} (to ${real}); its images would be labelled as this class — remove the link or copy the images in`,
    );
  }
  guard.visited.add(real);
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(`${dir}: cannot read folder (${e.code ?? e.message})`);
  }
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const childRel = `${rel}/${e.name}`;
    if (isDirectory(dir, e)) {
      walk(join(dir, e.name), childRel, exts, found, others, guard);
    } else if (exts.has(extname(e.name).toLowerCase())) {
      found.push(childRel);
    } else {
      others.add(extname(e.name).toLowerCase() || e.name);
    }
  }
}

function isDirectory(parent: string, e: Dirent): boolean {
  if (e.isDirectory()) return true;
  if (!e.isSymbolicLink()) return false;
  try {
    return statSync(join(parent, e.name)).isDirectory();
  } catch {
    return false;
  }
}

function realpathOf(dir: string): string {
  try {
    return realpathSync(dir);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(`${dir}: cannot resolve folder (${e.code ?? e.message})`);
  }
}

function isInside(parent: string, child: string): boolean {
  const rel = relative(parent, child);
  return rel !== '' && !rel.startsWith('..') && !rel.startsWith(sep) && !/^[A-Za-z]:/.test(rel);
}

/** Groups of class names that are equal ignoring case (each group sorted, only groups of two or more). */
function caseClashes(classes: readonly string[]): string[][] {
  const byFold = new Map<string, string[]>();
  for (const c of classes) {
    const key = c.toLowerCase();
    byFold.set(key, [...(byFold.get(key) ?? []), c]);
  }
  return [...byFold.values()].filter((g) => g.length > 1);
}

function applySplitFile(file: string, relPaths: readonly string[], samples: readonly Sample[]): Record<SplitName, Sample[]> {
  const listed = readSplitFile(file);
  const index = new Map<string, number>();
  relPaths.forEach((p, i) => index.set(p, i));
  const missing = [...listed.keys()].filter((p) => !index.has(p));
  if (missing.length > 0) {
    throw new Error(`${file}: ${missing.length} listed path(s) are not images of the folder, e.g. ${missing.slice(0, 3).join(', ')}`);
  }
  const out: Record<SplitName, Sample[]> = { train: [], val: [], test: [] };
  relPaths.forEach((p, i) => {
    const split = listed.get(p);
    if (split) out[split].push(samples[i]!);
  });
  return out;
}

function normaliseExtension(ext: string): string {
  const e = ext.toLowerCase();
  return e.startsWith('.') ? e : `.${e}`;
}

function normaliseRelPath(p: string): string {
  let s = p.split('\\').join('/');
  if (sep !== '/') s = s.split(sep).join('/');
  while (s.startsWith('./')) s = s.slice(2);
  return s.replace(/\/+/g, '/');
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Mixes a seed and a class label into a 32-bit state. */
function mixSeed(seed: number, label: number): number {
  let h = Math.imul((seed >>> 0) ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(label + 1, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  return h >>> 0;
}
