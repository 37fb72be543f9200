/**
 * A proving-ground world as a segmentation data set for the zero-shot segmentation evaluation
 * (eval/segmentation.ts): one split's images, foreground = the object that decides the class
 * (`main`, default) or every object (`objects`).
 */
import { join, resolve } from 'node:path';
import { decodeRgb } from '../data/image-io.js';
import type { SegDataset } from '../eval/seg-datasets.js';
import { fileIdentity } from '../store/fingerprint.js';
import { loadAnnotation, loadLabelMask, readIndex, readWorld } from './dataset.js';
import { SPLITS, type SplitName } from './world.js';

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
      if (labels.length !== image.width * image.height)
        throw new Error(`${dir}: the mask of ${e.id} has ${labels.length} pixels, the image ${image.width}×${image.height}`);
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
