/**
 * Places365-Standard in its official layout (as torchvision's `Places365` reads it):
 * `categories_places365.txt` (`/a/airfield 0`), the file lists `places365_train_standard.txt`
 * (`/a/airfield/00000001.jpg 0`) and `places365_val.txt` (`Places365_val_00000001.jpg 165`), and
 * the images in `data_256/` (the 256 px training tar; torchvision names it
 * `data_256_standard/`) or `data_large/` / `data_large_standard/`, and `val_256/` or `val_large/`.
 * `train_256/` and `train_large/` are accepted too. Val becomes the test split (test labels are
 * not public). Class names are LF-CBM's: `/a/apartment_building/outdoor` →
 * `apartment building/outdoor`.
 */
import { join, resolve } from 'node:path';
import type { Sample } from './image-folder.js';
import { intField, isFolder, readFields, requireFile, type OfficialDataset } from './official-dataset.js';

/** The layout's lists, all required. */
export const PLACES365_FILES: readonly string[] = ['categories_places365.txt', 'places365_train_standard.txt', 'places365_val.txt'];
const TRAIN_DIRS = ['data_256', 'data_256_standard', 'data_large', 'data_large_standard', 'train_256', 'train_large'];
const VAL_DIRS = ['val_256', 'val_large'];

/** Reads the Places365 layout (see the module comment); errors name the file and line. */
export function readPlaces365(root: string): OfficialDataset {
  const dir = resolve(root);
  const [categoriesFile, trainFile, valFile] = PLACES365_FILES.map((f) => requireFile(dir, f, 'places365')) as [string, string, string];
  const folder = (names: readonly string[], what: string): string => {
    const found = names.map((n) => join(dir, n)).find(isFolder);
    if (!found) throw new Error(`${dir}: no ${what} image folder (looked for ${names.join(', ')})`);
    return found;
  };
  const trainDir = folder(TRAIN_DIRS, 'training');
  const valDir = folder(VAL_DIRS, 'validation');

  const categories: string[] = [];
  for (const { line, fields } of readFields(categoriesFile)) {
    const idx = intField(fields[1], categoriesFile, line, 'a class index');
    if (idx !== categories.length) throw new Error(`${categoriesFile}:${line}: expected class index ${categories.length}, got ${idx}`);
    categories.push(fields[0]!);
  }
  if (categories.length === 0) throw new Error(`${categoriesFile}: no classes`);
  const list = (file: string, imagesDir: string): Sample[] =>
    readFields(file).map(({ line, fields }) => {
      const label = intField(fields[1], file, line, 'a class index');
      if (label >= categories.length) throw new Error(`${file}:${line}: class ${label} is not in ${categoriesFile} (0…${categories.length - 1})`);
      return { path: join(imagesDir, ...fields[0]!.split('/').filter((p) => p !== '')), label };
    });
  return { root: dir, classes: categories.map(className), train: list(trainFile, trainDir), test: list(valFile, valDir) };
}

/** `/a/apartment_building/outdoor` → `apartment building/outdoor`. */
function className(category: string): string {
  return category.replace(/^\/[a-z]\//, '').replace(/_/g, ' ');
}
