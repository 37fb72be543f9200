/**
 * Segmentation data sets for the zero-shot segmentation evaluation: images with a binary
 * foreground mask at native size.
 * - ImageNet-segmentation (`gtsegs_ijcv.mat`, read with h5wasm, see imagenet-seg.ts);
 * - a proving-ground world (src/proving-ground/seg-dataset.ts).
 */
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
