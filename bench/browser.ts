/**
 * The explorer in headless Chromium: time from an image's load to its heatmap on screen, and
 * from an intervention to its updated prediction on screen, against the bare exported model's
 * inference on the same input in the same page (ONNX Runtime Web; WebAssembly here, as the
 * browser runs without a GPU).
 *
 * Model: a random-weight resnet18 at 224 px with the paper's CUB-200 head (M = 370 concepts,
 * L = 200 classes, 7×7 grid), exported to one ONNX file and served by the explorer's server.
 *
 * Usage: node dist/bench/browser.js [--reps=7] [--arch=resnet18|resnet50]
 * Last line: browser_explain_overhead=<median(load → heatmap shown) / median(bare inference)>
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { exportSalfCbm } from '../src/models/export.js';
import { openServedModel } from '../src/serve/model-source.js';
import { startExplorerServer } from '../src/serve/server.js';
import { launchChromium } from '../test/helpers/chromium.js';
import type { ResNetArch } from './random-resnet.js';
import { randomSalfCbm } from './random-salf.js';

function arg(name: string): string | undefined {
  return process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
}
const reps = Number(arg('reps') ?? 7);
const arch = (arg('arch') ?? 'resnet18') as ResNetArch;
const M = 370;
const L = 200;
const size = 224;

const median = (a: number[]): number => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)]!;

/** A 480×360 picture with smooth colour gradients and a few discs (a photo-like size and content). */
async function writePicture(path: string): Promise<void> {
  const W = 480;
  const H = 360;
  const px = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      let r = (255 * x) / W;
      let g = (255 * y) / H;
      let b = 128 + 100 * Math.sin((x + y) / 37);
      for (const [cx, cy, rad, col] of [
        [120, 120, 60, [230, 40, 40]],
        [330, 220, 80, [40, 60, 220]],
        [400, 90, 40, [40, 200, 60]],
      ] as const) {
        if ((x - cx) ** 2 + (y - cy) ** 2 < rad ** 2) [r, g, b] = col;
      }
      px.set([r, g, b], (y * W + x) * 3);
    }
  }
  await sharp(Buffer.from(px), { raw: { width: W, height: H, channels: 3 } })
    .png()
    .toFile(path);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'salf-bench-browser-'));
  const stop: (() => Promise<void>)[] = [];
  try {
    const { model } = randomSalfCbm(dir, { arch, M, L, size });
    const onnx = join(dir, 'salf.onnx');
    const res = await exportSalfCbm(model, onnx);
    const picture = join(dir, 'picture.png');
    await writePicture(picture);
    const served = await openServedModel(onnx);
    const server = await startExplorerServer({ model: served });
    stop.push(() => server.close());
    const browser = await launchChromium();
    stop.unshift(() => browser.close());
    const { page } = browser;
    console.log(
      `${arch} (random weights) at ${size} px, head M=${M}, L=${L}, grid 7×7; export ${(res.bytes / 2 ** 20).toFixed(0)} MiB; headless Chromium, ${reps} rounds`,
    );
    const t = performance.now();
    await page.goto(server.url);
    await page.evaluate(() => window.salfExplorer.ready);
    const backend = await page.evaluate(() => window.salfExplorer.backend);
    console.log(`page ready (model downloaded, session created) in ${((performance.now() - t) / 1000).toFixed(1)} s; backend ${backend}`);

    const load = async (): Promise<NonNullable<Window['salfExplorer']['timings']['load']>> => {
      await page.evaluate(() => {
        delete window.salfExplorer.timings.load;
      });
      await page.setInputFiles('#file', picture);
      await page.waitForFunction(() => window.salfExplorer.timings.load !== undefined, undefined, { timeout: 120_000 });
      await page.evaluate(() => window.salfExplorer.idle());
      return page.evaluate(() => window.salfExplorer.timings.load!);
    };
    const intervene = async (): Promise<number> => {
      await page.evaluate(() => {
        delete window.salfExplorer.timings.intervention;
      });
      await page.click('#edit-all');
      await page.waitForFunction(() => window.salfExplorer.timings.intervention !== undefined);
      const ms = await page.evaluate(() => window.salfExplorer.timings.intervention!.total);
      await page.click('#undo');
      await page.evaluate(() => window.salfExplorer.idle());
      return ms;
    };
    await load(); // warm-up
    await intervene();
    await page.evaluate(() => window.salfExplorer.benchInference(2));
    const loads: number[] = [];
    const steps: Record<string, number[]> = { decode: [], preprocess: [], inference: [], explain: [] };
    const interventions: number[] = [];
    const bare: number[] = [];
    for (let r = 0; r < reps; r++) {
      // Interleaved so drift on a shared machine hits all alike.
      const l = await load();
      loads.push(l.total);
      for (const k of Object.keys(steps)) steps[k]!.push(l[k as keyof typeof l]);
      interventions.push(await intervene());
      bare.push(...(await page.evaluate(() => window.salfExplorer.benchInference(1))));
    }
    const ms = (v: number): string => `${v.toFixed(1)} ms`;
    console.log(`bare model inference in the page: median ${ms(median(bare))}, min ${ms(Math.min(...bare))}`);
    console.log(
      `image load → heatmap shown: median ${ms(median(loads))}, min ${ms(Math.min(...loads))}  (${Object.entries(steps)
        .map(([k, v]) => `${k} ${ms(median(v))}`)
        .join(', ')})`,
    );
    console.log(
      `intervention → updated prediction shown: median ${ms(median(interventions))}, min ${ms(Math.min(...interventions))}; ratio to bare inference ${(median(interventions) / median(bare)).toFixed(4)}`,
    );
    console.log(`browser_explain_overhead=${(median(loads) / median(bare)).toFixed(4)}`);
  } finally {
    for (const s of stop) await s().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
