/** A tiny image-folder dataset: noisy 64×64 PNGs tinted with their class colour. */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';

export const COLOUR_CLASSES: Record<string, [number, number, number]> = { bluish: [40, 70, 210], reddish: [200, 60, 50] };

/** Writes `count` images per class under `root/<class>/<i>.png` (deterministic). */
export async function writeColourDataset(root: string, count: number, size = 64): Promise<void> {
  let seed = 12345;
  const rand = (): number => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  for (const [name, rgb] of Object.entries(COLOUR_CLASSES)) {
    mkdirSync(join(root, name), { recursive: true });
    for (let i = 0; i < count; i++) {
      const px = Buffer.alloc(size * size * 3);
      for (let p = 0; p < size * size; p++) for (let c = 0; c < 3; c++) px[p * 3 + c] = Math.max(0, Math.min(255, rgb[c]! + (rand() - 0.5) * 160));
      await sharp(px, { raw: { width: size, height: size, channels: 3 } })
        .png()
        .toFile(join(root, name, `${i}.png`));
    }
  }
}
