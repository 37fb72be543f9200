/**
 * Writing a generated world to disk and reading its masks back.
 *
 * Layout of `outDir`:
 * - `world.json`: vocabulary, classes, the rule, held-out combinations, counts (WorldManifest).
 * - `index.json`: per split (train, val, test, shifted), its images (SplitEntry), paths
 *   relative to outDir.
 * - `images/<class>/<id>.png`: every split's RGB images, one image folder (classes sorted by
 *   name, as in world.json).
 * - `split.json`: the image folder's split file, `{"train": [...], "val": [...], "test": [...]}`,
 *   paths relative to `images/`.
 * - `split-shifted.json`: the same train and val, with the shifted split as `test`.
 * - `masks/<split>/<id>.png`: 8-bit label image, 0 = background, k = k-th object of the
 *   annotation (visible pixels after occlusion).
 * - `masks/<split>/<id>.json`: the image's annotation (ImageAnnotation): class, background and
 *   objects with their concepts, geometry and visible area.
 * Image ids are `<split>-<index, 5 digits>`.
 *
 * While a world is generated, `generating.json` (seed, size, counts) marks the folder as
 * unfinished; each file is written under a temporary name and renamed, so a generation that is
 * killed leaves only complete files, and a rerun with the same settings resumes (keeping the
 * images written) while one with other settings starts over. `world.json` is written last.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { z } from 'zod';
import { checkJson, readJsonAs } from '../data/json-schema.js';
import { annotationSchema, indexSchema, worldSchema } from './schemas.js';
import { CLASSES, RULE_DESCRIPTION, type ClassRule } from './classes.js';
import { decodePng, encodeGrayPng } from './png.js';
import { renderScene, type RenderedScene } from './render.js';
import type { Background, SceneObject } from './scene.js';
import { CONCEPTS, COLOURS, conceptKind, PATTERNS, SHAPES, type Concept, type ConceptKind } from './vocab.js';
import { HELD_OUT, IN_DISTRIBUTION_BACKGROUNDS, isHeldOut, sampleScene, SHIFTED_BACKGROUNDS, SPLITS, type Combination, type SplitName } from './world.js';

/** Number of images per split. */
export type WorldCounts = Readonly<Record<SplitName, number>>;

/** Options of generateWorld. */
export interface GenerateWorldOptions {
  /** World seed (32-bit integer); same seed, same bytes. */
  seed: number;
  counts: WorldCounts;
  /** Image side in pixels (default 224). */
  size?: number;
  /** Output folder; created if missing. A previous world there is replaced; other content is an error. */
  outDir: string;
  /** Called after each image is written. */
  onProgress?: (done: number, total: number) => void;
}

/** Contents of world.json. */
export interface WorldManifest {
  readonly format: 'salf-cbm-proving-ground';
  readonly version: 1;
  readonly seed: number;
  readonly size: number;
  readonly counts: WorldCounts;
  readonly shapes: readonly string[];
  readonly colours: readonly string[];
  readonly patterns: readonly string[];
  /** All concept words with the attribute each names. */
  readonly concepts: readonly { name: Concept; kind: ConceptKind }[];
  readonly classes: readonly ClassRule[];
  readonly rule: string;
  /** Shape–colour combinations absent from train/val/test, present on shifted distractors. */
  readonly heldOut: readonly Combination[];
  readonly backgrounds: { readonly inDistribution: readonly string[]; readonly shifted: readonly string[] };
  readonly files: {
    readonly index: string;
    readonly images: string;
    readonly masks: string;
    readonly splitFile: string;
    readonly shiftedSplitFile: string;
  };
}

/** One image of a split, as listed in index.json. */
export interface SplitEntry {
  readonly id: string;
  /** Paths relative to the world folder. */
  readonly image: string;
  readonly mask: string;
  readonly annotation: string;
  /** Class name (folder name) and its index in world.json's classes. */
  readonly label: string;
  readonly classIndex: number;
}

/** One object of an annotation. */
export interface ObjectAnnotation extends SceneObject {
  /** Its value in the label image (1-based). */
  readonly index: number;
  /** Visible pixels after occlusion. */
  readonly area: number;
  /** Visible bounding box [x0, y0, x1, y1], inclusive pixel indices; null when fully hidden. */
  readonly bbox: readonly [number, number, number, number] | null;
  /** Whether its shape–colour combination is held out of the in-distribution splits. */
  readonly heldOut: boolean;
}

/** Per-image annotation (masks/<split>/<id>.json). */
export interface ImageAnnotation {
  readonly id: string;
  readonly split: SplitName;
  readonly label: string;
  readonly classIndex: number;
  readonly size: number;
  /** Index into objects of the object that decides the class. */
  readonly mainObject: number;
  readonly background: Background;
  readonly objects: readonly ObjectAnnotation[];
}

/** The id of image `index` of a split. */
export function imageId(split: SplitName, index: number): string {
  return `${split}-${String(index).padStart(5, '0')}`;
}

/** The split of an image id; throws on a malformed id. */
export function splitOfId(id: string): SplitName {
  const m = /^([a-z]+)-\d+$/.exec(id);
  const split = m?.[1] as SplitName | undefined;
  if (!split || !SPLITS.includes(split)) throw new Error(`malformed proving-ground image id "${id}"`);
  return split;
}

/** Renders image `index` of a split and builds its annotation (no file I/O). */
export function renderWorldImage(seed: number, split: SplitName, index: number, size = 224): { rendered: RenderedScene; annotation: ImageAnnotation } {
  const sampled = sampleScene(seed, split, index, size);
  const rendered = renderScene(sampled.scene);
  const n = sampled.scene.objects.length;
  const area = new Array<number>(n).fill(0);
  const box = Array.from({ length: n }, () => [size, size, -1, -1]);
  const { labels } = rendered;
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      const k = labels[y * size + x]!;
      if (k === 0) continue;
      area[k - 1]!++;
      const b = box[k - 1]!;
      if (x < b[0]!) b[0] = x;
      if (y < b[1]!) b[1] = y;
      if (x > b[2]!) b[2] = x;
      if (y > b[3]!) b[3] = y;
    }
  const cls = CLASSES[sampled.classIndex]!;
  const annotation: ImageAnnotation = {
    id: imageId(split, index),
    split,
    label: cls.name,
    classIndex: sampled.classIndex,
    size,
    mainObject: sampled.mainObject,
    background: sampled.scene.background,
    objects: sampled.scene.objects.map((o, i) => ({
      ...o,
      index: i + 1,
      area: area[i]!,
      bbox: area[i]! > 0 ? (box[i] as [number, number, number, number]) : null,
      heldOut: isHeldOut(o.shape, o.colour),
    })),
  };
  return { rendered, annotation };
}

function splitEntry(annotation: ImageAnnotation): SplitEntry {
  return {
    id: annotation.id,
    image: `images/${annotation.label}/${annotation.id}.png`,
    mask: `masks/${annotation.split}/${annotation.id}.png`,
    annotation: `masks/${annotation.split}/${annotation.id}.json`,
    label: annotation.label,
    classIndex: annotation.classIndex,
  };
}

function manifest(seed: number, size: number, counts: WorldCounts): WorldManifest {
  return {
    format: 'salf-cbm-proving-ground',
    version: 1,
    seed,
    size,
    counts: { train: counts.train, val: counts.val, test: counts.test, shifted: counts.shifted },
    shapes: SHAPES,
    colours: COLOURS,
    patterns: PATTERNS,
    concepts: CONCEPTS.map((name) => ({ name, kind: conceptKind(name) })),
    classes: CLASSES,
    rule: RULE_DESCRIPTION,
    heldOut: HELD_OUT,
    backgrounds: { inDistribution: IN_DISTRIBUTION_BACKGROUNDS, shifted: SHIFTED_BACKGROUNDS },
    files: { index: 'index.json', images: 'images', masks: 'masks', splitFile: 'split.json', shiftedSplitFile: 'split-shifted.json' },
  };
}

/** Marks a world folder whose generation has not finished (see the module comment). */
const GENERATING_FILE = 'generating.json';
const GENERATED_NAMES = ['world.json', 'index.json', 'split.json', 'split-shifted.json', 'images', 'masks'];

/**
 * Makes `outDir` ready for a generation with `settings`; returns whether an interrupted
 * generation with the same settings is resumed (its complete files are kept).
 */
function prepareOutDir(outDir: string, settings: object): boolean {
  const marker = join(outDir, GENERATING_FILE);
  const wanted = JSON.stringify(settings);
  if (existsSync(outDir)) {
    const entries = readdirSync(outDir);
    if (entries.length > 0 && !entries.includes('world.json') && !entries.includes(GENERATING_FILE))
      throw new Error(`${outDir} is not empty and holds no world.json; refusing to write a world there`);
    if (!entries.includes('world.json') && entries.includes(GENERATING_FILE) && readFileSync(marker, 'utf8') === wanted) return true;
    rmSync(join(outDir, 'world.json'), { force: true }); // first, so a stop below leaves no world that looks complete
    for (const name of [...GENERATED_NAMES, GENERATING_FILE]) rmSync(join(outDir, name), { recursive: true, force: true });
  }
  mkdirSync(outDir, { recursive: true });
  writeNamed(marker, wanted);
  return false;
}

/** Writes a file under a temporary name, then renames it, with errors naming the file. */
function writeNamed(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.partial`;
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    const e = err as NodeJS.ErrnoException;
    const hint = e.code === 'ENOSPC' ? ': the disk is full; free space and run again (the generation resumes)' : '';
    throw Object.assign(new Error(`${path}: cannot write (${e.code ?? e.message})${hint}`, { cause: err }), { code: e.code });
  }
}

/**
 * Generates a world: renders every split's images, writes images, masks, annotations,
 * index.json, the split files and (last) world.json. Returns the manifest.
 */
export async function generateWorld(options: GenerateWorldOptions): Promise<WorldManifest> {
  const { seed, outDir, onProgress } = options;
  const size = options.size ?? 224;
  if (!Number.isInteger(seed)) throw new Error(`seed must be an integer, got ${seed}`);
  for (const split of SPLITS) {
    const c = options.counts[split];
    if (!Number.isInteger(c) || c < 0) throw new Error(`counts.${split} must be a non-negative integer, got ${c}`);
  }
  if (options.counts.train < CLASSES.length)
    throw new Error(`counts.train must be at least ${CLASSES.length} (one image per class), got ${options.counts.train}`);
  const resumed = prepareOutDir(outDir, { seed, size, counts: options.counts });
  const total = SPLITS.reduce((s, split) => s + options.counts[split], 0);
  const jobs: { split: SplitName; index: number }[] = [];
  for (const split of SPLITS) for (let i = 0; i < options.counts[split]; i++) jobs.push({ split, index: i });
  for (const split of SPLITS) mkdirSync(join(outDir, 'masks', split), { recursive: true });
  for (const c of CLASSES) mkdirSync(join(outDir, 'images', c.name), { recursive: true });

  const splits = Object.fromEntries(SPLITS.map((s) => [s, [] as SplitEntry[]])) as Record<SplitName, SplitEntry[]>;
  let done = 0;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      const job = jobs[next++]!;
      const annotationPath = join(outDir, 'masks', job.split, `${imageId(job.split, job.index)}.json`);
      if (resumed && existsSync(annotationPath)) {
        // Written last of the image's three files, each renamed into place: the image is complete.
        splits[job.split][job.index] = splitEntry(JSON.parse(readFileSync(annotationPath, 'utf8')) as ImageAnnotation);
        onProgress?.(++done, total);
        continue;
      }
      const { rendered, annotation } = renderWorldImage(seed, job.split, job.index, size);
      const entry = splitEntry(annotation);
      splits[job.split][job.index] = entry;
      const png = await sharp(Buffer.from(rendered.image.data.buffer, rendered.image.data.byteOffset, rendered.image.data.byteLength), {
        raw: { width: size, height: size, channels: 3 },
      })
        .png({ compressionLevel: 6, adaptiveFiltering: false })
        .toBuffer();
      writeNamed(join(outDir, entry.image), png);
      writeNamed(join(outDir, entry.mask), encodeGrayPng(rendered.labels, size, size));
      writeNamed(join(outDir, entry.annotation), JSON.stringify(annotation) + '\n');
      onProgress?.(++done, total);
    }
  };
  await Promise.all([worker(), worker(), worker()]);

  writeNamed(join(outDir, 'index.json'), JSON.stringify(splits, null, 1) + '\n');
  const rel = (split: SplitName): string[] => splits[split].map((e) => e.image.slice('images/'.length));
  const splitFile = (test: SplitName): string => JSON.stringify({ train: rel('train'), val: rel('val'), test: rel(test) }, null, 1) + '\n';
  writeNamed(join(outDir, 'split.json'), splitFile('test'));
  writeNamed(join(outDir, 'split-shifted.json'), splitFile('shifted'));
  const world = manifest(seed, size, options.counts);
  writeNamed(join(outDir, 'world.json'), JSON.stringify(world, null, 2) + '\n');
  rmSync(join(outDir, GENERATING_FILE));
  return world;
}

/** Reads world.json. */
export function readWorld(outDir: string): WorldManifest {
  const path = join(outDir, 'world.json');
  if (!existsSync(path)) throw new Error(`no proving-ground world at ${outDir} (world.json missing)`);
  const world = readJsonAs(path, z.unknown()) as { format?: unknown } | null;
  if (world?.format !== 'salf-cbm-proving-ground') throw new Error(`${path} is not a proving-ground world.json`);
  return checkJson(world, worldSchema, path, 'proving-ground world');
}

/** Reads index.json: every split's images. */
export function readIndex(outDir: string): Record<SplitName, SplitEntry[]> {
  return readJsonAs(join(outDir, 'index.json'), indexSchema, 'proving-ground index');
}

/** Reads an image's annotation. */
export function loadAnnotation(outDir: string, id: string): ImageAnnotation {
  const path = join(outDir, 'masks', splitOfId(id), `${id}.json`);
  if (!existsSync(path)) throw new Error(`no annotation for image "${id}" in ${outDir}`);
  return readJsonAs(path, annotationSchema, 'annotation');
}

/** Reads an image's label mask (size×size, 0 background, k = k-th object). */
export function loadLabelMask(outDir: string, id: string): Uint8Array {
  const path = join(outDir, 'masks', splitOfId(id), `${id}.png`);
  if (!existsSync(path)) throw new Error(`no mask for image "${id}" in ${outDir}`);
  const png = decodePng(readFileSync(path));
  if (png.channels !== 1) throw new Error(`${path}: expected a greyscale label image`);
  return png.data;
}

/** The 0/1 mask of a concept: pixels of the objects that carry the concept word. */
export function conceptMaskFromLabels(labels: Uint8Array, objects: readonly Pick<SceneObject, 'shape' | 'colour' | 'pattern'>[], concept: string): Uint8Array {
  const kind = conceptKind(concept);
  const table = new Uint8Array(256);
  objects.forEach((o, i) => {
    if (o[kind] === concept) table[i + 1] = 1;
  });
  const out = new Uint8Array(labels.length);
  for (let i = 0; i < labels.length; i++) out[i] = table[labels[i]!]!;
  return out;
}

/** The 0/1 per-pixel mask (row-major, size×size) of a concept word in a written image. */
export function loadConceptMask(outDir: string, id: string, concept: string): Uint8Array {
  conceptKind(concept);
  return conceptMaskFromLabels(loadLabelMask(outDir, id), loadAnnotation(outDir, id).objects, concept);
}
