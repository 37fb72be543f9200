/**
 * CUB-200-2011 in its official layout: `images.txt` (`<id> <class folder>/<file>.jpg`),
 * `image_class_labels.txt` (`<id> <class id>`), `train_test_split.txt` (`<id> <1 train | 0 test>`),
 * `classes.txt` (`<class id> <NNN.Class_name>`, ids from 1) and the images under `images/`.
 * `root` is the `CUB_200_2011` folder or the folder holding it. Class names are LF-CBM's:
 * `001.Black_footed_Albatross` → `Black footed Albatross`.
 */
import { join, resolve } from 'node:path';
import type { Sample } from './image-folder.js';
import { intField, isFile, isFolder, readFields, requireFile, type OfficialDataset } from './official-dataset.js';

/** The files of the layout, all required. */
export const CUB_FILES: readonly string[] = ['images.txt', 'image_class_labels.txt', 'train_test_split.txt', 'classes.txt'];

/** The CUB folder: `root`, or `root/CUB_200_2011` when `root` holds none of the files itself. */
export function cubFolder(root: string): string {
  const abs = resolve(root);
  const sub = join(abs, 'CUB_200_2011');
  return !CUB_FILES.some((f) => isFile(join(abs, f))) && isFolder(sub) ? sub : abs;
}

/** Reads the CUB layout (see the module comment); errors name the file and line. */
export function readCub(root: string): OfficialDataset {
  const dir = cubFolder(root);
  const [imagesFile, labelsFile, splitFile, classesFile] = CUB_FILES.map((f) => requireFile(dir, f, 'cub')) as [string, string, string, string];
  const imagesDir = join(dir, 'images');
  if (!isFolder(imagesDir)) throw new Error(`${imagesDir}: missing (the cub layout keeps its images there)`);

  const classes: string[] = [];
  for (const { line, fields } of readFields(classesFile)) {
    const id = intField(fields[0], classesFile, line, 'a class id');
    if (id !== classes.length + 1 || fields.length < 2) throw new Error(`${classesFile}:${line}: expected "${classes.length + 1} <class name>"`);
    classes.push(className(fields.slice(1).join(' ')));
  }
  if (classes.length === 0) throw new Error(`${classesFile}: no classes`);

  const byId = (file: string, what: string, parse: (v: string, line: number) => number | string): Map<number, number | string> => {
    const map = new Map<number, number | string>();
    for (const { line, fields } of readFields(file)) {
      const id = intField(fields[0], file, line, 'an image id');
      if (fields.length < 2) throw new Error(`${file}:${line}: expected "<image id> <${what}>"`);
      if (map.has(id)) throw new Error(`${file}:${line}: image ${id} is listed twice`);
      map.set(id, parse(fields.slice(1).join(' '), line));
    }
    return map;
  };
  const paths = byId(imagesFile, 'path', (v) => v);
  const labels = byId(labelsFile, 'class id', (v, line) => {
    const c = intField(v, labelsFile, line, 'a class id');
    if (c < 1 || c > classes.length) throw new Error(`${labelsFile}:${line}: class ${c} is not in ${classesFile} (1…${classes.length})`);
    return c - 1;
  });
  const isTrain = byId(splitFile, '1 or 0', (v, line) => {
    if (v !== '0' && v !== '1') throw new Error(`${splitFile}:${line}: expected 1 (train) or 0 (test), got "${v}"`);
    return Number(v);
  });

  const out: OfficialDataset = { root: dir, classes, train: [], test: [] };
  for (const [id, rel] of paths) {
    const label = labels.get(id);
    const train = isTrain.get(id);
    if (label === undefined) throw new Error(`${labelsFile}: image ${id} (${rel}) has no class`);
    if (train === undefined) throw new Error(`${splitFile}: image ${id} (${rel}) is in no split`);
    const sample: Sample = { path: join(imagesDir, ...String(rel).split('/')), label: label as number };
    (train === 1 ? out.train : out.test).push(sample);
  }
  if (paths.size === 0) throw new Error(`${imagesFile}: no images`);
  return out;
}

/** `001.Black_footed_Albatross` → `Black footed Albatross`. */
function className(folder: string): string {
  return folder.replace(/^\d+\./, '').replace(/_/g, ' ');
}
