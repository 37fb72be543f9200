/**
 * Segmentation data sets for the zero-shot segmentation evaluation: images with a binary
 * foreground mask at native size.
 * - ImageNet-segmentation (`gtsegs_ijcv.mat`, read with h5wasm, see imagenet-seg.ts);
 * - a proving-ground world (src/proving-ground): one split's images, foreground = the object that
 *   decides the class (`main`, default) or every object (`objects`).
 */
import { join, resolve } from 'node:path';
import { decodeRgb } from '../data/image-io.js';
import { loadAnnotation, loadLabelMask, readIndex, readWorld } from '../proving-ground/index.js';
import { SPLITS, type SplitName } from '../proving-ground/world.js';
import { ImageNetSegFile, type SegExample } from './imagenet-seg.js';
import { fileIdentity } from '../store/fingerprint.js';

export type { SegExample };

/** A data set of images with foreground masks. */
export interface SegDataset {
  /** Short description for reports. */
  readonly name: string;
  /** Identifies the data (files and their versions) in cache keys. */
  readonly identity: string;
  readonly length: number;
  /** Example `i` at its native size. */
  read(i: number): Promise<SegExample>;
  close(): void;
}

/** ImageNet-segmentation from its `gtsegs_ijcv.mat`. */
export async function imageNetSegDataset(path: string): Promise<SegDataset> {
  const file = await ImageNetSegFile.open(path);
  return {
    name: `ImageNet-segmentation (${file.path})`,
    identity: `gtsegs:${fileIdentity([file.path])}`,
    length: file.length,
    read: async (i) => file.read(i),
    close: () => file.close(),
  };
}

/** Which pixels of a proving-ground image count as foreground. */
export type ProvingGroundMask = 'main' | 'objects';

/** One split of a proving-ground world (see src/proving-ground/dataset.ts for the layout). */
export function provingGroundSegDataset(worldDir: string, split: SplitName = 'test', mask: ProvingGroundMask = 'main'): SegDataset {
  const dir = resolve(worldDir);
  const world = readWorld(dir);
  if (!SPLITS.includes(split)) throw new Error(`${dir}: unknown proving-ground split "${split}" (${SPLITS.join(', ')})`);
  if (mask !== 'main' && mask !== 'objects') throw new Error(`proving-ground mask must be 'main' or 'objects', got '${String(mask)}'`);
  const entries = readIndex(dir)[split] ?? [];
  if (entries.length === 0) throw new Error(`${dir}: the ${split} split has no images`);
  return {
    name: `proving ground ${dir} (${split}, ${mask === 'main' ? 'class object' : 'all objects'} as foreground)`,
    identity: `proving-ground:${dir}:${world.seed}:${world.size}:${split}:${mask}:${entries.length}:${fileIdentity([join(dir, 'index.json')])}`,
    length: entries.length,
    read: async (i) => {
      const e = entries[i];
      if (!e) throw new Error(`${dir}: image index ${i} is outside the ${split} split [0, ${entries.length})`);
      const image = await decodeRgb(join(dir, e.image));
      const labels = loadLabelMask(dir, e.id);
      if (labels.length !== image.width * image.height) throw new Error(`${dir}: the mask of ${e.id} has ${labels.length} pixels, the image ${image.width}×${image.height}`);
      let data: Uint8Array;
      if (mask === 'objects') {
        data = labels.map((v) => (v > 0 ? 1 : 0));
      } else {
        const main = loadAnnotation(dir, e.id).mainObject + 1;
        data = labels.map((v) => (v === main ? 1 : 0));
      }
      return { id: e.id, image, mask: { data, width: image.width, height: image.height } };
    },
    close: () => undefined,
  };
}
