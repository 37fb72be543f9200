/**
 * CIFAR-10 and CIFAR-100 as torchvision downloads them: `cifar-10-batches-py/` (`data_batch_1`…
 * `data_batch_5`, `test_batch`, `batches.meta`) and `cifar-100-python/` (`train`, `test`, `meta`).
 * The images stay in the batch files: samples are member paths (image-members.ts).
 */
import { join, resolve } from 'node:path';
import { memberPath, readContainer } from './image-members.js';
import type { Sample } from './image-folder.js';
import { isFolder, requireFile, type OfficialDataset } from './official-dataset.js';
import { namesOf, readPickledDict } from './cifar-batch.js';

/** The two CIFAR variants. */
export type CifarKind = 'cifar10' | 'cifar100';

const LAYOUT: Record<CifarKind, { folder: string; meta: string; names: string; train: string[]; test: string[] }> = {
  cifar10: {
    folder: 'cifar-10-batches-py',
    meta: 'batches.meta',
    names: 'label_names',
    train: ['data_batch_1', 'data_batch_2', 'data_batch_3', 'data_batch_4', 'data_batch_5'],
    test: ['test_batch'],
  },
  cifar100: { folder: 'cifar-100-python', meta: 'meta', names: 'fine_label_names', train: ['train'], test: ['test'] },
};

/** The folder holding the batch files: `root` itself or its torchvision sub-folder. */
function cifarFolder(root: string, kind: CifarKind): string {
  const sub = join(resolve(root), LAYOUT[kind].folder);
  return isFolder(sub) ? sub : resolve(root);
}

/** Reads a CIFAR folder (`root` or `root/<torchvision folder>`); the batch files are decoded once here. */
export function readCifar(root: string, kind: CifarKind): OfficialDataset {
  const layout = LAYOUT[kind];
  const dir = cifarFolder(root, kind);
  const metaFile = requireFile(dir, layout.meta, kind);
  const files = { train: layout.train.map((f) => requireFile(dir, f, kind)), test: layout.test.map((f) => requireFile(dir, f, kind)) };
  const classes = namesOf(readPickledDict(metaFile), layout.names, metaFile);
  const samplesOf = (list: string[]): Sample[] =>
    list.flatMap((file) => {
      const batch = readContainer(file);
      return batch.labels.map((label, i) => {
        if (label >= classes.length) throw new Error(`${file}: image ${i} has label ${label} but ${metaFile} names ${classes.length} classes`);
        return { path: memberPath(file, i), label };
      });
    });
  return { root: dir, classes, train: samplesOf(files.train), test: samplesOf(files.test) };
}
