/**
 * ImageNet (ILSVRC-2012 classification): `train/<wnid>/*.JPEG` class folders, and `val/` either
 * as torchvision lays it out (the same class folders) or flat, labelled by `LOC_val_solution.csv`
 * (`ImageId,PredictionString`, the class is the first word of the prediction string; Kaggle's
 * layout). The folders may sit under `ILSVRC/Data/CLS-LOC/` (Kaggle). Classes are the wnids in
 * sorted order (torchvision's); names come from `LOC_synset_mapping.txt`
 * (`n01440764 tench, Tinca tinca` → `tench`, as LF-CBM's class list) when present, else the wnid.
 */
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { IMAGE_EXTENSIONS, scanImageFolder, type Sample } from './image-folder.js';
import { isFile, isFolder, readFields, type OfficialDataset } from './official-dataset.js';

/** The folder holding `train/` and `val/`: `root` or `root/ILSVRC/Data/CLS-LOC`. */
function imagenetFolder(root: string): string {
  const abs = resolve(root);
  const kaggle = join(abs, 'ILSVRC', 'Data', 'CLS-LOC');
  return isFolder(join(abs, 'train')) || !isFolder(kaggle) ? abs : kaggle;
}

/** Reads the ImageNet layout (see the module comment); `val` becomes the test split. */
export function readImagenet(root: string): OfficialDataset {
  const abs = resolve(root);
  const dir = imagenetFolder(abs);
  const trainDir = join(dir, 'train');
  const valDir = join(dir, 'val');
  for (const d of [trainDir, valDir]) if (!isFolder(d)) throw new Error(`${d}: missing (the imagenet layout needs train/ and val/ in ${dir})`);
  const train = scanImageFolder(trainDir);
  const wnids = train.classes;
  const labelOf = new Map(wnids.map((w, i) => [w, i]));

  let test: Sample[];
  const valEntries = readdirSync(valDir, { withFileTypes: true }).filter((e) => !e.name.startsWith('.'));
  if (valEntries.some((e) => e.isDirectory() || (e.isSymbolicLink() && isFolder(join(valDir, e.name))))) {
    const val = scanImageFolder(valDir);
    test = val.samples.map((s) => {
      const label = labelOf.get(val.classes[s.label]!);
      if (label === undefined) throw new Error(`${join(valDir, val.classes[s.label]!)}: class "${val.classes[s.label]}" is not among the train/ classes`);
      return { path: s.path, label };
    });
  } else {
    const csv = [join(abs, 'LOC_val_solution.csv'), join(dir, 'LOC_val_solution.csv')].find(isFile);
    if (!csv) throw new Error(`${valDir}: holds no class folders, and no LOC_val_solution.csv (in ${abs}) labels its images`);
    test = valFromCsv(csv, valDir, labelOf);
  }
  const mapping = [join(abs, 'LOC_synset_mapping.txt'), join(dir, 'LOC_synset_mapping.txt')].find(isFile);
  const classes = mapping ? classNames(mapping, wnids) : [...wnids];
  return { root: abs, classes, train: train.samples, test };
}

/** The val images listed in `LOC_val_solution.csv`, in the file's order sorted by image id. */
function valFromCsv(csv: string, valDir: string, labelOf: Map<string, number>): Sample[] {
  const ext = new Map<string, string>();
  for (const name of readdirSync(valDir)) {
    const dot = name.lastIndexOf('.');
    if (dot > 0 && IMAGE_EXTENSIONS.includes(name.slice(dot).toLowerCase())) ext.set(name.slice(0, dot), name);
  }
  const rows = readFields(csv).map(({ line, fields }) => ({ line, text: fields.join(' ') }));
  const out: { id: string; sample: Sample }[] = [];
  for (const { line, text } of rows) {
    if (line === 1 && text.startsWith('ImageId')) continue;
    const comma = text.indexOf(',');
    const id = text.slice(0, comma);
    const wnid = text.slice(comma + 1).split(' ')[0] ?? '';
    if (comma <= 0) throw new Error(`${csv}:${line}: expected "ImageId,PredictionString"`);
    const label = labelOf.get(wnid);
    if (label === undefined) throw new Error(`${csv}:${line}: class "${wnid}" is not among the train/ classes`);
    const file = ext.get(id);
    if (!file) throw new Error(`${csv}:${line}: image ${id} is not in ${valDir}`);
    out.push({ id, sample: { path: join(valDir, file), label } });
  }
  if (out.length === 0) throw new Error(`${csv}: lists no images`);
  return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map((x) => x.sample);
}

/** The first name of each wnid's synset (`tench, Tinca tinca` → `tench`). */
function classNames(file: string, wnids: readonly string[]): string[] {
  const names = new Map<string, string>();
  for (const { fields } of readFields(file)) names.set(fields[0]!, fields.slice(1).join(' ').split(',')[0]!.trim());
  return wnids.map((w) => {
    const n = names.get(w);
    if (n === undefined || n === '') throw new Error(`${file}: no name for class ${w}`);
    return n;
  });
}
