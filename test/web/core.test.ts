/**
 * The explorer page's own logic, run in Node against the library: the classifier of edited maps,
 * the per-image state (contributions, regions, heatmaps, interventions with undo and reset), the
 * preprocessing, brushes and the classifier blob the server sends.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { analyseImages, imageOutputs, prepareImage, type ImageOutputs } from '../../src/explain/analyse.js';
import { explainClass } from '../../src/explain/contributions.js';
import { explainRegion } from '../../src/explain/explain-region.js';
import { upsampleBilinear } from '../../src/explain/heatmap.js';
import { applyEdits, classifyConceptMaps, intervene } from '../../src/explain/intervene.js';
import { parseRegion, rasteriseRegion } from '../../src/explain/regions.js';
import { decodeRgb, toChwNormalised } from '../../src/data/image-io.js';
import { ExportedSalfCbm } from '../../src/models/exported.js';
import { HEAD_OUTPUTS } from '../../src/models/salf-head.js';
import { BrushMask } from '../../src/web/core/brush.js';
import { classifyMaps, poolMaps } from '../../src/web/core/classify.js';
import { ImageExplorer } from '../../src/web/core/explorer.js';
import { decodeHead, encodeHead } from '../../src/web/core/head.js';
import { explorerModel, type ExplorerManifest, type ExplorerModel } from '../../src/web/core/manifest.js';
import { prepareInput, rgbaToRgb } from '../../src/web/core/preprocess.js';
import { OUTPUT_NAMES } from '../../src/web/runtime.js';
import { BLUE, GREEN, RED, colourModel, writeScene } from '../explain/colour-model.js';
import { tempDir } from '../helpers/paths.js';
import { explorerFixture } from '../helpers/explorer-fixture.js';

function close(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(a.length, b.length, `${what}: lengths`);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= tol * Math.max(1, Math.abs(b[i]!)), `${what}[${i}]: ${a[i]} vs ${b[i]}`);
}

/** The page's model view of an export, built exactly as the page builds it (manifest + head blob). */
async function pageModel(onnx: string): Promise<{ model: ExplorerModel; exported: ExportedSalfCbm }> {
  const exported = await ExportedSalfCbm.load(onnx);
  const { info } = exported;
  const head = encodeHead(exported.head, info.concepts.length, info.classes.length);
  const manifest: ExplorerManifest = {
    name: 'x',
    info,
    model: { url: '', bytes: 0 },
    head: { url: '', bytes: head.byteLength },
    images: false,
    maxImageBytes: 1,
  };
  return { model: explorerModel(manifest, head), exported };
}

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

test("the page's output names are the export's", () => {
  assert.deepEqual({ ...OUTPUT_NAMES }, { ...HEAD_OUTPUTS });
});

test('the classifier blob round-trips and a wrong size is refused', () => {
  const head = {
    mean: Float32Array.of(1, 2),
    std: Float32Array.of(3, 4),
    finalWeight: Float32Array.of(5, 6, 7, 8, 9, 10),
    finalBias: Float32Array.of(11, 12, 13),
  };
  const blob = encodeHead(head, 2, 3);
  assert.equal(blob.byteLength, 13 * 4);
  const back = decodeHead(blob.slice().buffer, 2, 3);
  for (const k of ['mean', 'std', 'finalWeight', 'finalBias'] as const) assert.deepEqual(Array.from(back[k]), Array.from(head[k]));
  assert.throws(() => decodeHead(blob, 3, 3), /got 52 bytes, expected 72 \(3 concepts, 3 classes\)/);
  assert.throws(() => encodeHead({ ...head, std: Float32Array.of(1) }, 2, 3), /std has 1 values, expected 2/);
});

test('a manifest that is not a SALF-CBM export is refused with the reason', () => {
  const bad = { info: { format: 'other' } } as unknown as ExplorerManifest;
  assert.throws(() => explorerModel(bad, new Uint8Array()), /not a SALF-CBM export/);
});

test('poolMaps: mean, max and softmax on a hand example', () => {
  // M = 2 concepts, G = 3 positions: concept 0 = [1, 2, 3], concept 1 = [0, ln 3, 0]; the same
  // maps + 1 pool to the same values + 1 (softmax weights unchanged).
  const l3 = Math.log(3);
  const maps = [1, 2, 3, 0, l3, 0];
  const plus1 = maps.map((v) => v + 1);
  const near = (a: ArrayLike<number>, b: number[]): void => b.forEach((v, i) => assert.ok(Math.abs(a[i]! - v) < 1e-12, `[${i}] ${a[i]} vs ${v}`));
  near(poolMaps(maps, 2, 3, 'mean'), [2, l3 / 3]);
  near(poolMaps(maps, 2, 3, 'max'), [3, l3]);
  const e = Math.E;
  const sm0 = (e * 1 + e ** 2 * 2 + e ** 3 * 3) / (e + e ** 2 + e ** 3); // ≈ 2.5752
  const sm1 = (3 * l3) / 5; // weights 1:3:1
  near(poolMaps(maps, 2, 3, 'softmax'), [sm0, sm1]);
  assert.ok(Math.abs(sm0 - 2.5752) < 1e-4);
  near(poolMaps(plus1, 2, 3, 'softmax'), [sm0 + 1, sm1 + 1]);
  near(poolMaps(plus1, 2, 3, 'max'), [4, l3 + 1]);
  // Softmax pooling is stable for large activations.
  near(poolMaps([1000, 1000], 1, 2, 'softmax'), [1000]);
  assert.throws(() => poolMaps(maps, 2, 2, 'mean'), /6 values, expected M×G = 2×2/);
  assert.throws(() => poolMaps(maps, 2, 3, 'median' as 'mean'), /unknown pooling "median"/);
});

for (const pooling of ['mean', 'max', 'softmax'] as const) {
  test(`edited maps are classified as the model's own head does (${pooling} pooling)`, async () => {
    const dir = tempDir(`salf-web-cls-${pooling}-`);
    const fx = await explorerFixture(dir, pooling);
    const { model, exported } = await pageModel(fx.onnx);
    const rand = lcg(7);
    const n = 3;
    const M = model.concepts.length;
    const G = 16;
    const maps = Float32Array.from({ length: n * M * G }, () => rand() * 4 - 2);
    const ref = await classifyConceptMaps(fx.library, maps, n);
    for (let i = 0; i < n; i++) {
      const mine = classifyMaps(model, maps.subarray(i * M * G, (i + 1) * M * G));
      close(mine.logits, ref.logits.subarray(i * 3, (i + 1) * 3), 1e-5, 'logits');
      close(mine.activations, ref.activations.subarray(i * M, (i + 1) * M), 1e-5, 'activations');
      close(mine.standardised, ref.standardised.subarray(i * M, (i + 1) * M), 1e-5, 'standardised');
    }
    await exported.dispose();
  });
}

test("one image: contributions for any class, regions and heatmaps are the library's; interventions match intervene(), undo and reset restore", async () => {
  const fx = await explorerFixture(tempDir('salf-web-state-'));
  const { model, exported } = await pageModel(fx.onnx);
  const { images, outputs } = await analyseImages(fx.library, [fx.scene]);
  const out = imageOutputs(fx.library, outputs, 0);
  const g = images[0]!.geometry;
  // The page gets its outputs from the exported model: run it on the same pixels.
  const pixels = toChwNormalised(images[0]!.input, model.preprocess.mean, model.preprocess.std);
  const fromExport = await exported.forwardPixels(pixels, 1);
  const pageOut: ImageOutputs = {
    logits: fromExport.logits,
    conceptMaps: fromExport.conceptMaps,
    activations: fromExport.activations,
    standardised: fromExport.standardised,
  };
  const ex = new ImageExplorer(model, pageOut, g);
  assert.equal(model.classes[ex.predicted()], 'reddish');
  for (let l = 0; l < 3; l++) {
    const mine = ex.explain(l, 4);
    const ref = explainClass(fx.library, out, l, 4);
    assert.deepEqual(
      mine.contributions.map((c) => c.label),
      ref.contributions.map((c) => c.label),
      `class ${l}`,
    );
    close(
      mine.contributions.map((c) => c.contribution),
      ref.contributions.map((c) => c.contribution),
      1e-5,
      `class ${l} contributions`,
    );
    assert.ok(Math.abs(mine.probability - ref.probability) < 1e-6);
  }
  // Explain Anything on a box over the blue quadrant.
  const box = ex.raster({ kind: 'box', x0: 36, y0: 36, x1: 60, y1: 60 });
  assert.equal(box.area, 24 * 24);
  const mine = ex.explainRegion(box, 4);
  const ref = explainRegion(fx.library, out, rasteriseRegion(await parseRegion('box:36,36,60,60'), g), 4);
  assert.equal(mine.byMean[0]!.concept, 'blue');
  assert.deepEqual(
    mine.byMean.map((s) => s.concept),
    ref.byMean.map((s) => s.concept),
  );
  close(
    mine.byMean.map((s) => s.mean),
    ref.byMean.map((s) => s.mean),
    1e-5,
    'region means',
  );
  // Heatmaps are the upsampled grid maps.
  const h = ex.heatmap(2);
  close(h.values, upsampleBilinear(out.conceptMaps.subarray(2 * 16, 3 * 16), 4, 4, 64, 64), 1e-5, 'heatmap');
  // Interventions: a brushed red-weaker edit, then blue stronger everywhere.
  const brush = new BrushMask(g);
  brush.strokeTo(6, 6, 5);
  brush.strokeTo(26, 20, 5);
  const brushed = ex.raster({ kind: 'mask', mask: brush.mask, width: 64, height: 64, source: 'brush' }, 'input');
  const all = ex.raster({ kind: 'all' }, 'input');
  const edits = [
    { concept: 0, beta: -2, region: brushed },
    { concept: 2, beta: 2, region: all },
  ];
  ex.addEdit(edits[0]!);
  const first = await intervene(fx.library, out, [edits[0]!]);
  close(
    ex.outputs.logits,
    first.logits.map((l) => l.after),
    1e-4,
    'logits after one edit',
  );
  ex.addEdit(edits[1]!);
  const both = await intervene(fx.library, out, edits);
  close(
    ex.outputs.logits,
    both.logits.map((l) => l.after),
    1e-4,
    'logits after two edits',
  );
  assert.equal(both.after.prediction.class, 'bluish');
  const summary = ex.intervention()!;
  assert.equal(summary.before.class, 'reddish');
  assert.equal(summary.after.class, both.after.prediction.class);
  close(
    summary.logitDeltas,
    both.logits.map((l) => l.delta),
    1e-4,
    'logit deltas',
  );
  close(ex.editedMaps(), applyEdits(fx.library, out.conceptMaps, edits), 1e-6, 'edited maps');
  // Contributions follow the edits.
  const editedRef = await classifyConceptMaps(fx.library, applyEdits(fx.library, out.conceptMaps, edits), 1);
  const afterRef = explainClass(fx.library, { conceptMaps: applyEdits(fx.library, out.conceptMaps, edits), ...editedRef }, 1, 4);
  close(
    ex.explain(1, 4).contributions.map((c) => c.contribution),
    afterRef.contributions.map((c) => c.contribution),
    1e-4,
    'contributions after',
  );
  // Undo and reset.
  assert.equal(ex.undo(), edits[1]);
  close(
    ex.outputs.logits,
    first.logits.map((l) => l.after),
    1e-4,
    'logits after undo',
  );
  ex.reset();
  assert.equal(ex.history.length, 0);
  assert.equal(ex.outputs, pageOut);
  assert.equal(ex.intervention(), undefined);
  assert.throws(() => ex.addEdit({ concept: 9, beta: 1, region: all }), /concept index 9 is out of range/);
  assert.throws(() => ex.addEdit({ concept: 0, beta: NaN, region: all }), /β must be a finite number/);
  await exported.dispose();
});

test('the page preprocesses as the library does (centre crop, resize), from RGBA canvas pixels', async () => {
  const dir = tempDir('salf-web-pre-');
  const model = colourModel(dir, 'mean', { mode: 'center' });
  const view = { preprocess: model.config.backbone.preprocess };
  const path = await writeScene(join(dir, 'wide.png'), 150, 90, GREEN, [
    { rect: [10, 10, 70, 50], colour: RED },
    { rect: [90, 30, 140, 80], colour: BLUE },
  ]);
  const rgb = await decodeRgb(path);
  const rgba = new Uint8ClampedArray(rgb.width * rgb.height * 4);
  for (let p = 0; p < rgb.width * rgb.height; p++) rgba.set([rgb.data[p * 3]!, rgb.data[p * 3 + 1]!, rgb.data[p * 3 + 2]!, 255], p * 4);
  const mine = prepareInput(view, rgbaToRgb(rgba, rgb.width, rgb.height));
  const ref = await prepareImage(conceptModelFromSalfLike(model), path);
  assert.deepEqual(mine.geometry, ref.geometry);
  assert.deepEqual(Buffer.from(mine.input.data), Buffer.from(ref.input.data));
  assert.deepEqual(Array.from(mine.pixels), Array.from(toChwNormalised(ref.input, view.preprocess.mean, view.preprocess.std)));
});

function conceptModelFromSalfLike(model: ReturnType<typeof colourModel>): Parameters<typeof prepareImage>[0] {
  return { preprocess: model.config.backbone.preprocess } as Parameters<typeof prepareImage>[0];
}

test('a brushed disk is the same region as a point of that radius, in image pixels through the crop', async () => {
  const dir = tempDir('salf-web-brush-');
  const model = colourModel(dir, 'mean', { mode: 'center' });
  const path = await writeScene(join(dir, 'wide.png'), 160, 100, GREEN);
  const { geometry: g } = await prepareImage({ preprocess: model.config.backbone.preprocess } as Parameters<typeof prepareImage>[0], path);
  for (const [x, y, r] of [
    [80, 50, 12],
    [40, 20, 7.5],
    [125, 85, 20],
  ] as const) {
    const brush = new BrushMask(g);
    brush.disk(x, y, r);
    const point = rasteriseRegion({ kind: 'point', x, y, radius: r }, g);
    assert.deepEqual(Array.from(brush.mask), Array.from(point.mask), `disk at ${x},${y} r ${r}`);
  }
  // A stroke covers the segment between its points.
  const stroke = new BrushMask(g);
  stroke.strokeTo(40, 50, 4);
  stroke.strokeTo(120, 50, 4);
  const mid = rasteriseRegion({ kind: 'point', x: 80, y: 50, radius: 3 }, g);
  mid.mask.forEach((v, i) => v && assert.equal(stroke.mask[i], 1));
  assert.equal(new BrushMask(g).area, 0);
});
