/**
 * End to end on the proving ground (issue 7): one small SALF-CBM is trained on the committed
 * proving-ground models (as in `test/explain/proving-ground.test.ts`), `salf-cbm serve` serves
 * its model directory (exported on the fly) with the world's test images as the image folder,
 * and in headless Chromium
 * - a test image whose main object is large is picked from the folder: the page's prediction and
 *   probabilities are the library's;
 * - a box drawn on the main object (its annotated bounding box) covers exactly the input pixels
 *   the library rasterises for that box, and the concepts listed are the library's
 *   `explainRegion` for it, the object's colour and shape among them;
 * - a concept another class relies on most, brushed on the object with a β past the point the
 *   weights say flips the prediction, makes that class the prediction, with the library's
 *   `intervene()` probabilities; whole-image edits just below and just above that class's
 *   threshold leave and change the prediction as the weights say;
 * - screenshots of the page and the stage have real content.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { analyseImages, imageOutputs, type ImageOutputs } from '../../src/explain/analyse.js';
import { explainClass, rankClasses } from '../../src/explain/contributions.js';
import { explainRegion } from '../../src/explain/explain-region.js';
import { intervene, type ConceptEdit } from '../../src/explain/intervene.js';
import { parseRegion, rasteriseRegion, type RasterRegion } from '../../src/explain/regions.js';
import { decisionRule } from '../../src/explain/rules.js';
import { Engine } from '../../src/engine/session.js';
import { conceptModelFromSalf } from '../../src/models/concept-model.js';
import { generateWorld, loadAnnotation, loadLabelMask, readIndex } from '../../src/proving-ground/dataset.js';
import { DEMO_CUTOFF, provingGroundAssets, provingGroundBackbone } from '../../src/proving-ground/demo.js';
import { CONCEPTS } from '../../src/proving-ground/vocab.js';
import { trainSalfCbm } from '../../src/training/train-salf-cbm.js';
import type { ExplorerSnapshot } from '../../src/web/main.js';
import { browserTestSkip, launchChromium } from '../helpers/chromium.js';
import { assertClose, assertNotBlank, drag, maxAbsDiff, rows } from '../helpers/explorer-page.js';
import { tempDir } from '../helpers/paths.js';
import { startServe, type ServeProcess } from '../helpers/serve-process.js';

/** Page (ONNX Runtime Web, WebAssembly) against library (onnxruntime-node) numbers. */
const TOL = 1e-4;

const argmax = (z: ArrayLike<number>): number => {
  let best = 0;
  for (let i = 1; i < z.length; i++) if (z[i]! > z[best]!) best = i;
  return best;
};

function fromPixels(size: number, label: string, pixels: readonly number[]): RasterRegion {
  const mask = new Uint8Array(size * size);
  for (const p of pixels) mask[p] = 1;
  return { label, mask, size, area: pixels.length, warnings: [] };
}

const pixelsOf = (mask: Uint8Array): number[] => {
  const out: number[] = [];
  mask.forEach((v, i) => v && out.push(i));
  return out;
};

test(
  'the explorer on the proving ground: prediction, Explain Anything on the object, an intervention that flips the class, as the library computes',
  { timeout: 120_000, skip: browserTestSkip() },
  async (t) => {
    const started = Date.now();
    const seconds = (): string => ((Date.now() - started) / 1000).toFixed(1);
    // ---- The model: trained once, as the proving-ground explanation tests do.
    const root = tempDir('salf-pg-e2e-');
    const world = join(root, 'world');
    await generateWorld({ seed: 0, counts: { train: 160, val: 48, test: 48, shifted: 0 }, outDir: world });
    const assets = provingGroundAssets();
    const modelDir = join(root, 'model');
    const { model: salf } = await trainSalfCbm({
      data: join(world, 'images'),
      splitFile: join(world, 'split.json'),
      backbone: provingGroundBackbone(assets),
      clip: join(assets, 'clip'),
      concepts: [...CONCEPTS],
      out: modelDir,
      pooling: 'mean',
      cbl: { cutoff: DEMO_CUTOFF },
      seed: 0,
    });
    const lib = conceptModelFromSalf(salf, new Engine());
    assert.equal(lib.pooling, 'mean');
    t.diagnostic(`trained at ${seconds()} s: ${lib.concepts.length} concepts (${lib.concepts.join(', ')})`);

    // The world's test images, as the served image folder (class sub-folders, as in the world).
    const entries = readIndex(world).test;
    const folder = join(root, 'test-images');
    for (const e of entries) {
      mkdirSync(join(folder, e.label), { recursive: true });
      copyFileSync(join(world, e.image), join(folder, e.label, `${e.id}.png`));
    }
    const { images, outputs } = await analyseImages(
      lib,
      entries.map((e) => join(world, e.image)),
    );
    // The largest main object the library predicts correctly.
    const pick = entries
      .map((e, i) => ({ e, i, ann: loadAnnotation(world, e.id) }))
      .filter((c) => argmax(imageOutputs(lib, outputs, c.i).logits) === c.e.classIndex)
      .sort((a, b) => b.ann.objects[b.ann.mainObject]!.area - a.ann.objects[a.ann.mainObject]!.area)[0]!;
    assert.ok(pick, 'some test image is predicted correctly');
    const { e: entry, ann } = pick;
    const object = ann.objects[ann.mainObject]!;
    const out: ImageOutputs = imageOutputs(lib, outputs, pick.i);
    const geometry = images[pick.i]!.geometry;
    const S = geometry.size;
    const size: [number, number] = [geometry.width, geometry.height];
    const path = `${entry.label}/${entry.id}.png`;
    const A = argmax(out.logits);
    t.diagnostic(`image ${path}: ${object.colour} ${object.shape}, ${object.area} px, bbox ${object.bbox!.join(',')}; library predicts ${lib.classes[A]}`);

    const shots = process.env.SALF_SCREENSHOT_DIR ?? tempDir('salf-explorer-pg-shots-');
    t.diagnostic(`screenshots in ${shots}`);
    const browser = await launchChromium();
    const { page } = browser;
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
    let server: ServeProcess | undefined;
    const snapshot = async (): Promise<ExplorerSnapshot> => {
      const s = await page.evaluate(() => window.salfExplorer.snapshot());
      assert.ok(s, 'the page has an image');
      return s;
    };
    const pageProbabilities = async (): Promise<{ names: string[]; byClass: number[] }> => {
      const classes = await rows(page, '#classes .class-row');
      const byClass = new Array<number>(lib.classes.length).fill(NaN);
      for (const c of classes) byClass[c.index] = c.value;
      return { names: classes.map((c) => c.name), byClass };
    };
    try {
      // ---- serve the model directory (exported on the fly into <model>/export).
      server = await startServe([modelDir, '--port', '0', '--images', folder]);
      t.diagnostic(`serving at ${seconds()} s`);
      await page.goto(server.url);
      await page.evaluate(() => window.salfExplorer.ready);
      assert.match((await page.textContent('#model-name')) ?? '', new RegExp(`${lib.concepts.length} concepts, ${lib.classes.length} classes`));
      const listed = await page.$$eval('#folder option', (o) => o.map((x) => (x as HTMLOptionElement).value).filter((v) => v !== ''));
      assert.equal(listed.length, entries.length, "the folder lists the world's test images");

      await t.test("a test image picked from the folder gets the library's prediction and probabilities", async () => {
        await page.selectOption('#folder', path);
        await page.waitForFunction((p) => window.salfExplorer.snapshot()?.image === p, path);
        await page.evaluate(() => window.salfExplorer.idle());
        assert.equal(await page.isHidden('#error'), true, (await page.textContent('#error')) ?? '');
        const ref = rankClasses(lib, out.logits);
        const got = await pageProbabilities();
        assert.equal(got.names[0], lib.classes[A], 'the predicted class');
        assert.equal(got.names[0], entry.label, "the image's own class");
        assert.equal(await page.textContent('#explained-class'), lib.classes[A]);
        const diff = maxAbsDiff(
          got.byClass,
          Array.from(ref)
            .sort((a, b) => a.index - b.index)
            .map((c) => c.probability),
          'probabilities',
        );
        t.diagnostic(
          `predicted ${got.names[0]} (p = ${ref[0]!.probability.toFixed(4)}); largest probability difference page vs library ${diff.toExponential(2)}`,
        );
        assert.ok(diff <= TOL, `probabilities differ by ${diff}`);
        // The explanation of the prediction too.
        const ex = explainClass(lib, out, A, 8);
        const contributions = await rows(page, '#contributions .concept-row');
        assert.deepEqual(
          contributions.map((c) => c.name),
          ex.contributions.map((c) => c.label),
        );
        assertClose(
          contributions.map((c) => c.value),
          ex.contributions.map((c) => c.contribution),
          'contributions',
          TOL,
        );
        t.diagnostic(`why ${lib.classes[A]}: ${contributions.map((c) => `${c.name} ${c.value.toFixed(2)}`).join(', ')}`);
      });

      // The library's box: the annotation's inclusive pixel box as [x0, x1+1) × [y0, y1+1).
      const [bx0, by0, bx1, by1] = object.bbox!;
      const box = rasteriseRegion(await parseRegion(`box:${bx0},${by0},${bx1 + 1},${by1 + 1}`), geometry);

      await t.test("a box drawn on the main object lists the library's concepts for that box, the object's colour and shape among them", async () => {
        await page.check('input[name="tool"][value="box"]');
        // A quarter pixel inside the box's edges: the same input pixel centres fall inside.
        await drag(
          page,
          [
            [bx0 + 0.25, by0 + 0.25],
            [bx1 + 0.75, by1 + 0.75],
          ],
          size,
        );
        const snap = await snapshot();
        assert.ok(snap.region, 'a region is marked');
        assert.equal(snap.size, S);
        assert.deepEqual(snap.region.pixels, pixelsOf(box.mask), `the page's box (${snap.region.label}) covers the library's box pixels`);
        const ref = explainRegion(lib, out, box, 8);
        const listedRows = await rows(page, '#region-concepts .concept-row');
        assert.deepEqual(
          listedRows.map((r) => r.name),
          ref.byMean.map((s) => s.concept),
        );
        const d = maxAbsDiff(
          listedRows.map((r) => r.value),
          ref.byMean.map((s) => s.mean),
          'region means',
        );
        assert.ok(d <= TOL, `region means differ by ${d}`);
        const names = listedRows.map((r) => r.name);
        t.diagnostic(
          `box ${snap.region.label} (${box.area} px): ${listedRows.map((r) => `${r.name} ${r.value.toFixed(3)}`).join(', ')}; largest difference ${d.toExponential(2)}`,
        );
        assert.ok(
          names.slice(0, 3).includes(object.colour) || names.slice(0, 3).includes(object.shape),
          `the object's colour (${object.colour}) or shape (${object.shape}) in the top 3: ${names.join(', ')}`,
        );
        assert.ok(names.includes(object.colour) && names.includes(object.shape), `the object's colour and shape listed: ${names.join(', ')}`);
        await page.selectOption('#region-rank', 'standardised');
        const std = await rows(page, '#region-concepts .concept-row');
        assert.deepEqual(
          std.map((r) => r.name),
          ref.byStandardised.map((s) => s.concept),
        );
        assertClose(
          std.map((r) => r.value),
          ref.byStandardised.map((s) => s.standardised),
          'standardised region scores',
          1e-3,
        );
        t.diagnostic(`standardised: ${std.map((r) => `${r.name} ${r.value.toFixed(2)}`).join(', ')}`);
        await page.selectOption('#region-rank', 'mean');
        await page.screenshot({ path: join(shots, 'explorer-pg-1-region.png'), fullPage: true });
      });

      // The intervention: class B ≠ A and the concept m that B weights most among those it
      // weights more than any other class does (as in the proving-ground intervention test).
      const M = lib.concepts.length;
      const L = lib.classes.length;
      const W = lib.head.finalWeight;
      let B = -1;
      let m = -1;
      for (let l = 0; l < L; l++) {
        if (l === A) continue;
        for (const term of decisionRule(lib, l).terms) {
          const strictMax = lib.classes.every((_, k) => k === l || W[k * M + term.index]! < term.weight);
          if (term.weight > 0 && strictMax && (B < 0 || term.weight > W[B * M + m]!)) [B, m] = [l, term.index];
        }
      }
      assert.ok(B >= 0, 'some class is the one that weights some concept most');
      const sigma = lib.head.std[m]!;
      // Mean pooling: an edit β·I raises c*[m] by β·area(I)/S², so B overtakes class l at
      // β_l = (z_l − z_B)·σ / ((W[B,m] − W[l,m])·area/S²) and is predicted past the largest β_l.
      const flipFor = (area: number): number => {
        let flip = 0;
        for (let l = 0; l < L; l++) {
          if (l === B || out.logits[l]! <= out.logits[B]!) continue;
          flip = Math.max(flip, ((out.logits[l]! - out.logits[B]!) * sigma) / ((W[B * M + m]! - W[l * M + m]!) * (area / (S * S))));
        }
        return flip;
      };

      await t.test('brushing a concept another class relies on over the object flips the prediction to that class, as intervene() says', async () => {
        // β: twice what the weights say the box would need, in the β field's steps of 0.5.
        const beta = Math.ceil(2 * flipFor(box.area) * 2) / 2;
        await page.selectOption('#edit-concept', { label: lib.concepts[m]! });
        await page.fill('#edit-beta', String(beta));
        await page.check('input[name="tool"][value="intervene"]');
        // A serpentine stroke inside the box, its disks reaching the box's edges.
        const ink = (await page.locator('#stage canvas.layer-ink').boundingBox())!;
        const scale = ink.width / geometry.width;
        const w = bx1 + 1 - bx0;
        const h = by1 + 1 - by0;
        const brushCss = Math.max(2, Math.min(80, Math.floor((Math.min(w, h) / 4) * scale)));
        await page.locator('#brush-size').fill(String(brushCss));
        const R = brushCss / scale;
        const rowsN = Math.max(1, Math.ceil((h - 2 * R) / (1.5 * R)) + 1);
        const stroke: [number, number][] = [];
        for (let r = 0; r < rowsN; r++) {
          const y = rowsN === 1 ? by0 + h / 2 : by0 + R + ((h - 2 * R) * r) / (rowsN - 1);
          const xs: [number, number] = r % 2 === 0 ? [bx0 + R, bx0 + w - R] : [bx0 + w - R, bx0 + R];
          stroke.push([xs[0], y], [xs[1], y]);
        }
        await drag(page, stroke, size);
        const snap = await snapshot();
        assert.equal(snap.edits.length, 1);
        assert.equal(snap.edits[0]!.concept, m);
        assert.equal(snap.edits[0]!.beta, beta);
        const region = fromPixels(S, snap.edits[0]!.label, snap.edits[0]!.pixels);
        // The stroke is on the object: inside its box, and over most of its pixels.
        const labels = loadLabelMask(world, entry.id);
        let inBox = 0;
        let onObject = 0;
        for (const p of snap.edits[0]!.pixels) {
          const [u, v] = [p % S, Math.floor(p / S)];
          if (u >= bx0 && u <= bx1 && v >= by0 && v <= by1) inBox++;
          if (labels[p] === object.index) onObject++;
        }
        t.diagnostic(
          `brushed "${lib.concepts[m]}" (W[${lib.classes[B]}] = ${W[B * M + m]!.toFixed(3)}, σ = ${sigma.toFixed(4)}) with β = ${beta}, radius ${R.toFixed(1)} px: ` +
            `${region.area} px, ${inBox} inside the box, covering ${onObject}/${object.area} object pixels`,
        );
        assert.ok(inBox / region.area >= 0.95, `brushed inside the box: ${inBox}/${region.area}`);
        assert.ok(onObject / object.area >= 0.8, `object pixels brushed: ${onObject}/${object.area}`);
        const flip = flipFor(region.area);
        assert.ok(beta > flip, `β ${beta} is past the flip ${flip} the weights say for the brushed region`);

        const edit: ConceptEdit = { concept: m, beta, region };
        const res = await intervene(lib, out, [edit], [B]);
        assert.equal(res.before.prediction.index, A);
        assert.equal(res.after.prediction.index, B, 'the library says the prediction changes to B');
        assert.equal(await page.getAttribute('#intervention-result', 'data-before'), lib.classes[A]);
        assert.equal(await page.getAttribute('#intervention-result', 'data-after'), lib.classes[B]);
        const got = await pageProbabilities();
        assert.equal(got.names[0], lib.classes[B]);
        const d = maxAbsDiff(
          got.byClass,
          [...res.after.classes].sort((a, b) => a.index - b.index).map((c) => c.probability),
          'probabilities after the edit',
        );
        t.diagnostic(
          `the weights say ${lib.classes[B]} wins past β = ${flip.toFixed(2)}; page: ${(await page.textContent('#intervention-result')) ?? ''}; ` +
            `library p(${lib.classes[B]}) ${res.before.classes.find((c) => c.index === B)!.probability.toFixed(4)} → ${res.after.prediction.probability.toFixed(4)}; largest difference ${d.toExponential(2)}`,
        );
        assert.ok(d <= TOL, `probabilities after the edit differ by ${d}`);
        assert.equal(await page.textContent('#explained-class'), lib.classes[B], 'the explanation follows the new prediction');

        await page.screenshot({ path: join(shots, 'explorer-pg-2-intervention.png'), fullPage: true });
        const full = await assertNotBlank(await page.screenshot({ fullPage: true }), 'the page');
        const stage = await assertNotBlank(await page.locator('#stage').screenshot({ path: join(shots, 'explorer-pg-stage.png') }), 'the stage');
        t.diagnostic(
          `screenshots: page ${full.colours} colours (stdev ${full.stdev.toFixed(1)}), stage ${stage.colours} colours (stdev ${stage.stdev.toFixed(1)})`,
        );
        // The stroke is drawn on the stage, green (β > 0), where it was brushed.
        const inkAt = await page.evaluate(
          ([x, y, w, h]) => {
            const c = document.querySelector<HTMLCanvasElement>('#stage canvas.layer-ink')!;
            return Array.from(c.getContext('2d')!.getImageData(Math.floor((x! * c.width) / w!), Math.floor((y! * c.height) / h!), 1, 1).data);
          },
          [stroke[0]![0], stroke[0]![1], size[0], size[1]],
        );
        assert.ok(inkAt[3]! > 0 && inkAt[1]! > inkAt[0]!, `ink at the stroke: rgba ${inkAt.join(',')}`);
      });

      await t.test('whole-image edits just below and just above the threshold the weights give keep and change the prediction', async () => {
        const flip = flipFor(S * S);
        for (const [k, expectB] of [
          [0.9, false],
          [1.1, true],
        ] as const) {
          await page.click('#reset');
          await page.fill('#edit-beta', String(k * flip));
          await page.click('#edit-all');
          await page.evaluate(() => window.salfExplorer.idle());
          const snap = await snapshot();
          assert.equal(snap.edits.length, 1);
          const res = await intervene(lib, out, [
            { concept: m, beta: snap.edits[0]!.beta, region: fromPixels(S, snap.edits[0]!.label, snap.edits[0]!.pixels) },
          ]);
          assert.equal(res.after.prediction.index === B, expectB, `library: β = ${k}·flip → ${res.after.prediction.class}`);
          const got = await pageProbabilities();
          assert.equal(got.names[0], res.after.prediction.class);
          assertClose(
            got.byClass,
            [...res.after.classes].sort((a, b) => a.index - b.index).map((c) => c.probability),
            `probabilities at β = ${k}·flip`,
            TOL,
          );
          t.diagnostic(
            `whole image, β = ${(k * flip).toFixed(3)} (${k}× the ${flip.toFixed(3)} the weights say): page ${got.names[0]}, library ${res.after.prediction.class}`,
          );
        }
        await page.click('#reset');
        await page.evaluate(() => window.salfExplorer.idle());
        assert.equal((await pageProbabilities()).names[0], lib.classes[A]);
        assert.deepEqual(problems, []);
      });
    } finally {
      await browser.close();
      await server?.stop();
      t.diagnostic(`total ${seconds()} s`);
    }
  },
);
