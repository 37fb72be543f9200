/**
 * Tiny datasets written in the exact official layouts (CUB_200_2011, ImageNet, Places365) for the
 * dataset-reader tests; each image is a small JPEG tinted per class (noisy, deterministic).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import sharp from 'sharp';

const TINTS: [number, number, number][] = [
  [200, 60, 50],
  [40, 70, 210],
  [60, 190, 70],
  [220, 210, 40],
];

/** Writes a size×size JPEG tinted with class `label`'s colour. */
export async function writeTintedJpeg(path: string, label: number, seed: number, size = 64): Promise<void> {
  let s = (seed * 2654435761 + 1) >>> 0;
  const rand = (): number => ((s = (s * 1103515245 + 12345) >>> 0), s / 2 ** 32);
  const rgb = TINTS[label % TINTS.length]!;
  const px = Buffer.alloc(size * size * 3);
  for (let p = 0; p < size * size; p++) for (let c = 0; c < 3; c++) px[p * 3 + c] = Math.max(0, Math.min(255, rgb[c]! + (rand() - 0.5) * 120));
  mkdirSync(dirname(path), { recursive: true });
  await sharp(px, { raw: { width: size, height: size, channels: 3 } })
    .jpeg({ quality: 95 })
    .toFile(path);
}

/**
 * `root/CUB_200_2011/` with `classes.length` classes of `perClass` images each; image k of a class
 * (k from 0) is a test image when k % testEvery === testEvery − 1. Ids follow CUB: images in class
 * order, from 1. Returns the CUB folder.
 */
export async function writeCubLayout(root: string, classes: readonly string[], perClass: number, testEvery: number): Promise<string> {
  const dir = join(root, 'CUB_200_2011');
  const images: string[] = [];
  const labels: string[] = [];
  const split: string[] = [];
  let id = 0;
  for (let c = 0; c < classes.length; c++) {
    const folder = `${String(c + 1).padStart(3, '0')}.${classes[c]}`;
    for (let k = 0; k < perClass; k++) {
      id++;
      const rel = `${folder}/${classes[c]}_${String(k).padStart(4, '0')}_${id}.jpg`;
      await writeTintedJpeg(join(dir, 'images', ...rel.split('/')), c, id);
      images.push(`${id} ${rel}`);
      labels.push(`${id} ${c + 1}`);
      split.push(`${id} ${k % testEvery === testEvery - 1 ? 0 : 1}`);
    }
  }
  writeFileSync(join(dir, 'images.txt'), images.join('\n') + '\n');
  writeFileSync(join(dir, 'image_class_labels.txt'), labels.join('\n') + '\n');
  writeFileSync(join(dir, 'train_test_split.txt'), split.join('\n') + '\n');
  writeFileSync(join(dir, 'classes.txt'), classes.map((n, i) => `${i + 1} ${String(i + 1).padStart(3, '0')}.${n}`).join('\n') + '\n');
  return dir;
}
