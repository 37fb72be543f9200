/**
 * Datasets by layout, for the training images of SPEC steps 2–4 and evaluation: `--data
 * <kind>:<path>` or a bare path whose layout is detected. Kinds: `cub`, `cifar10`, `cifar100`,
 * `imagenet`, `places365` (official layouts and splits, src/data/{cub,cifar,imagenet,places365}.ts)
 * and `folder` (one sub-folder per class, src/data/image-folder.ts; the default when no official
 * layout is recognised).
 *
 * Splits of an official layout: `test` is the official held-out set (CUB's and CIFAR's test,
 * ImageNet's and Places365's val); `train` and `val` divide the official training set with a
 * seeded, class-stratified hold-out of `holdout.val` (no hold-out: `val` is empty). A split file
 * and `holdout.test` apply to the `folder` kind only.
 */
import { join, resolve } from 'node:path';
import { readdirSync } from 'node:fs';
import { closestNames } from '../closest-names.js';
import { readCifar } from './cifar.js';
import { CUB_FILES, cubFolder, readCub } from './cub.js';
import { scanImageFolder, splitSamples, type ImageFolder, type SplitName, type ScanOptions } from './image-folder.js';
import { readImagenet } from './imagenet.js';
import { isFile, isFolder, type OfficialDataset } from './official-dataset.js';
import { PLACES365_FILES, readPlaces365 } from './places365.js';

/** The dataset layouts. */
export type DatasetKind = 'cub' | 'cifar10' | 'cifar100' | 'imagenet' | 'places365' | 'folder';
export const DATASET_KINDS: readonly DatasetKind[] = ['cub', 'cifar10', 'cifar100', 'imagenet', 'places365', 'folder'];

/** What each kind is recognised by (also the text of the no-layout error). */
const SIGNS: Record<DatasetKind, string> = {
  cub: 'cub (CUB_200_2011: images.txt, image_class_labels.txt, train_test_split.txt, classes.txt, images/)',
  cifar10: 'cifar10 (cifar-10-batches-py/: data_batch_1…5, test_batch, batches.meta)',
  cifar100: 'cifar100 (cifar-100-python/: train, test, meta)',
  imagenet: 'imagenet (train/<wnid>/ and val/, LOC_val_solution.csv or LOC_synset_mapping.txt, or ILSVRC/Data/CLS-LOC/)',
  places365: 'places365 (categories_places365.txt, places365_train_standard.txt, places365_val.txt)',
  folder: 'folder (one sub-folder of images per class)',
};

/** A `--data` value: a kind and a path. */
export interface DataSpec {
  /** The kind named, or undefined to detect it. */
  kind?: DatasetKind;
  path: string;
}

/** Parses `<kind>:<path>` or a bare path; an unknown kind is an error suggesting the closest names. */
export function parseDataSpec(value: string): DataSpec {
  const m = /^([A-Za-z][A-Za-z0-9_-]+):(.*)$/.exec(value);
  if (!m) return { path: value };
  const kind = m[1]!.toLowerCase();
  if (!DATASET_KINDS.includes(kind as DatasetKind)) {
    throw new Error(
      `--data ${value}: unknown dataset kind "${m[1]}" (did you mean ${closestNames(DATASET_KINDS, kind).join(', ')}? kinds: ${DATASET_KINDS.join(', ')})`,
    );
  }
  if (m[2] === '') throw new Error(`--data ${value}: no path after "${m[1]}:"`);
  return { kind: kind as DatasetKind, path: m[2]! };
}

/** The layout of a folder (official layouts first, then `folder`); an error lists the layouts looked for. */
export function detectLayout(path: string): DatasetKind {
  const root = resolve(path);
  if (!isFolder(root)) throw new Error(`${root}: not a folder`);
  const has = (name: string): boolean => isFile(join(root, name));
  if (CUB_FILES.some((f) => isFile(join(cubFolder(root), f)))) return 'cub';
  if (isFolder(join(root, 'cifar-10-batches-py')) || has('batches.meta') || has('data_batch_1')) return 'cifar10';
  if (isFolder(join(root, 'cifar-100-python')) || (has('meta') && has('train') && has('test'))) return 'cifar100';
  if (PLACES365_FILES.some(has)) return 'places365';
  if (has('LOC_synset_mapping.txt') || has('LOC_val_solution.csv') || isFolder(join(root, 'ILSVRC', 'Data', 'CLS-LOC')) || looksLikeImagenet(root))
    return 'imagenet';
  const entries = readdirSync(root, { withFileTypes: true }).filter((e) => !e.name.startsWith('.'));
  if (entries.some((e) => isFolder(join(root, e.name)))) return 'folder';
  throw new Error(`${root}: matches no dataset layout; looked for:\n  ${DATASET_KINDS.map((k) => SIGNS[k]).join('\n  ')}`);
}

/** Options of {@link openDataset}. */
export type OpenDatasetOptions = Pick<ScanOptions, 'splitFile' | 'holdout'>;

/** A dataset with its kind. */
export interface Dataset extends ImageFolder {
  kind: DatasetKind;
}

/** Opens a `--data` value (see the module comment) as an image folder with its splits. */
export function openDataset(data: string | DataSpec, options: OpenDatasetOptions = {}): Dataset {
  const spec = typeof data === 'string' ? parseDataSpec(data) : data;
  const kind = spec.kind ?? detectLayout(spec.path);
  if (kind === 'folder') return { kind, ...scanImageFolder(spec.path, options) };
  if (options.splitFile !== undefined)
    throw new Error(`${options.splitFile}: a split file applies to the folder kind only; the ${kind} layout has its official split`);
  return officialFolder(kind, readOfficial(kind, spec.path), options.holdout?.val ?? 0, options.holdout?.seed ?? 0);
}

function readOfficial(kind: Exclude<DatasetKind, 'folder'>, path: string): OfficialDataset {
  switch (kind) {
    case 'cub':
      return readCub(path);
    case 'cifar10':
    case 'cifar100':
      return readCifar(path, kind);
    case 'imagenet':
      return readImagenet(path);
    case 'places365':
      return readPlaces365(path);
  }
}

function officialFolder(kind: DatasetKind, ds: OfficialDataset, valFraction: number, seed: number): Dataset {
  const held = splitSamples(ds.train, { val: valFraction, seed });
  const splits: Record<SplitName, typeof ds.train> = { train: held.train, val: held.val, test: ds.test };
  return {
    kind,
    root: ds.root,
    classes: ds.classes,
    samples: [...ds.train, ...ds.test],
    warnings: [],
    split(name: SplitName) {
      if (!(name in splits)) throw new Error(`unknown split "${String(name)}" (train, val or test)`);
      return splits[name];
    },
  };
}

/** `train/` and `val/` folders, with wnid-named class folders (n01440764) in `train/`. */
function looksLikeImagenet(root: string): boolean {
  const train = join(root, 'train');
  if (!isFolder(train) || !isFolder(join(root, 'val'))) return false;
  return readdirSync(train).some((name) => /^n\d{8}$/.test(name) && isFolder(join(train, name)));
}
