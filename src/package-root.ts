/** The folder of this package (the one holding its package.json), from any file inside it. */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Walks up from this module (src/ or dist/src/) to the folder holding package.json. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('salf-cbm: package.json not found above its own files');
    dir = up;
  }
  return dir;
}
