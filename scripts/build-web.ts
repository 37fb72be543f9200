/**
 * Builds the explorer page into `dist/web/`: bundles `src/web/main.ts` (and the library modules
 * it uses) with esbuild into `app.js`, and copies `index.html` and `style.css`. Type checking is
 * the root `tsc`'s (it covers `src/web/`). The build fails when the bundle would pull in anything
 * that is not browser code of this package: ONNX Runtime Web is loaded at run time from the
 * server's `/ort/`, and Node-only modules must stay out.
 *
 * Usage: node dist/scripts/build-web.js   (run by `npm run build`)
 */
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { packageRoot } from '../src/package-root.js';

async function main(): Promise<void> {
  const root = packageRoot();
  const src = join(root, 'src', 'web');
  const out = join(root, 'dist', 'web');
  mkdirSync(out, { recursive: true });
  const result = await build({
    entryPoints: [join(src, 'main.ts')],
    outfile: join(out, 'app.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022', 'chrome110', 'firefox115', 'safari16'],
    minify: true,
    sourcemap: true,
    // Loaded at run time from the server; `sharp` only appears in a lazily imported Node path.
    external: ['/ort/*', 'sharp'],
    metafile: true,
    logLevel: 'warning',
    legalComments: 'none',
  });
  const inputs = Object.keys(result.metafile.inputs);
  const foreign = inputs.filter((f) => !f.startsWith('src/'));
  if (foreign.length) throw new Error(`the explorer bundle would include files outside src/: ${foreign.join(', ')}`);
  const imports = Object.values(result.metafile.outputs).flatMap((o) => o.imports.map((i) => i.path));
  const unexpected = imports.filter((p) => !p.startsWith('/ort/'));
  if (unexpected.length) throw new Error(`the explorer bundle imports modules a browser cannot load: ${[...new Set(unexpected)].join(', ')}`);
  for (const f of ['index.html', 'style.css']) copyFileSync(join(src, f), join(out, f));
  const bytes = Object.entries(result.metafile.outputs).find(([k]) => k.endsWith('app.js'))?.[1].bytes ?? 0;
  console.log(`explorer page: ${relative(root, out)}/ (app.js ${(bytes / 1024).toFixed(0)} KiB from ${inputs.length} modules)`);
}

main().catch((err: unknown) => {
  console.error(`build-web: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
