/**
 * Run by `npm install` in a checkout (the `prepare` script, after the build): links the
 * package's own `salf-cbm` command into node_modules/.bin, so `npx salf-cbm …` runs this
 * checkout's CLI. npm links the bin of dependencies, but not of the root project itself.
 * Installed from the registry, npm links the bin and this script does not run.
 */
import { chmodSync, existsSync, lstatSync, mkdirSync, symlinkSync, unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const target = join(root, 'dist', 'src', 'cli', 'main.js');
if (!existsSync(target)) throw new Error(`${target} is missing: run the build first`);
chmodSync(target, 0o755);
const binDir = join(root, 'node_modules', '.bin');
mkdirSync(binDir, { recursive: true });
const link = join(binDir, 'salf-cbm');
try {
  if (lstatSync(link)) unlinkSync(link);
} catch {
  // no previous link
}
symlinkSync(join('..', '..', 'dist', 'src', 'cli', 'main.js'), link);
