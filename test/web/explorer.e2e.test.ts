/**
 * End to end: `salf-cbm serve` on the hand-set colour model, driven in headless Chromium. The
 * page's numbers (prediction, contributions for any class, Explain Anything, interventions with
 * undo and reset) are compared with the library's on the same image, the heatmap is checked
 * pixel-wise, every request stays on the server (nothing uploaded, nothing from elsewhere), and
 * screenshots are taken and checked for non-blank content.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { analyseImages, imageOutputs, type ImageOutputs } from '../../src/explain/analyse.js';
import { explainClass, rankClasses } from '../../src/explain/contributions.js';
import { explainRegion } from '../../src/explain/explain-region.js';
import { applyEdits, classifyConceptMaps, intervene, type ConceptEdit } from '../../src/explain/intervene.js';
import type { RasterRegion } from '../../src/explain/raster.js';
import type { ExplorerSnapshot } from '../../src/web/main.js';
import { tempDir } from '../helpers/paths.js';
import { browserTestSkip, launchChromium } from '../helpers/chromium.js';
import { explorerFixture } from '../helpers/explorer-fixture.js';
import { startServe, type ServeProcess } from '../helpers/serve-process.js';
import { assertClose as assertWithin, assertNotBlank, drag, rows } from '../helpers/explorer-page.js';

const TOL = 1e-4;

function assertClose(actual: number[], expected: number[], what: string, tol = TOL): void {
  assertWithin(actual, expected, what, tol);
}

/** Mean luminance of the heatmap layer around image point (x, y). */
async function heatAt(page: Page, x: number, y: number, size: [number, number]): Promise<number> {
  return page.evaluate(
    ([x, y, w, h]) => {
      const c = document.querySelector<HTMLCanvasElement>('#stage canvas.layer-heat')!;
      const px = c.getContext('2d')!.getImageData(Math.floor((x! * c.width) / w!), Math.floor((y! * c.height) / h!), 1, 1).data;
      return 0.2126 * px[0]! + 0.7152 * px[1]! + 0.0722 * px[2]!;
    },
    [x, y, size[0], size[1]],
  );
}

async function snapshot(page: Page): Promise<ExplorerSnapshot> {
  const s = await page.evaluate(() => window.salfExplorer.snapshot());
  assert.ok(s, 'the page has an image');
  return s;
}

function raster(size: number, label: string, pixels: number[]): RasterRegion {
  const mask = new Uint8Array(size * size);
  for (const p of pixels) mask[p] = 1;
  return { label, mask, size, area: pixels.length, warnings: [] };
}

test('the explorer runs the model in the browser and shows and tells what the library computes', { timeout: 120_000, skip: browserTestSkip() }, async (t) => {
  const fx = await explorerFixture(tempDir('salf-e2e-'));
  const lib = fx.library;
  const { outputs } = await analyseImages(lib, [fx.scene]);
  const out = imageOutputs(lib, outputs, 0);
  const shots = process.env.SALF_SCREENSHOT_DIR ?? tempDir('salf-explorer-shots-');
  t.diagnostic(`screenshots in ${shots}`);

  // The browser first: without one the test fails before a server is left running.
  const browser = await launchChromium();
  const { page } = browser;
  let server: ServeProcess | undefined;
  const requests: { method: string; url: string; body: boolean }[] = [];
  const problems: string[] = [];
  page.on('request', (r) => requests.push({ method: r.method(), url: r.url(), body: r.postDataBuffer() !== null }));
  page.on('pageerror', (e) => problems.push(e.message));
  page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
  const size: [number, number] = [64, 64];
  try {
    server = await startServe([fx.onnx, '--port', '0', '--images', fx.images]);
    const { url } = server;
    await t.test('the page loads the model offline and runs it with ONNX Runtime Web', async () => {
      await page.goto(url);
      await page.evaluate(() => window.salfExplorer.ready);
      const backend = await page.evaluate(() => window.salfExplorer.backend);
      assert.ok(backend === 'wasm' || backend === 'webgpu', `backend ${backend}`);
      assert.equal(await page.getAttribute('#backend', 'data-backend'), backend);
      assert.match((await page.textContent('#model-name')) ?? '', /4 concepts, 3 classes/);
    });

    await t.test("an opened image gets the library's prediction, contributions and heatmap", async () => {
      await page.setInputFiles('#file', fx.scene);
      await page.waitForFunction(() => window.salfExplorer.timings.load !== undefined);
      await page.evaluate(() => window.salfExplorer.idle());
      assert.equal(await page.isHidden('#error'), true, (await page.textContent('#error')) ?? '');
      const classes = await rows(page, '#classes .class-row');
      const ref = rankClasses(lib, out.logits);
      assert.deepEqual(
        classes.map((c) => c.name),
        ref.map((c) => c.class),
      );
      assertClose(
        classes.map((c) => c.value),
        ref.map((c) => c.probability),
        'probabilities',
      );
      assert.equal(classes[0]!.name, 'reddish');
      const contributions = await rows(page, '#contributions .concept-row');
      const ex = explainClass(lib, out, 0, 8);
      assert.deepEqual(
        contributions.map((c) => c.name),
        ex.contributions.map((c) => c.label),
      );
      assertClose(
        contributions.map((c) => c.value),
        ex.contributions.map((c) => c.contribution),
        'contributions',
      );
      assert.deepEqual(
        contributions.map((c) => c.name),
        ['red', 'NOT blue'],
      );
      // The heatmap shown is the top concept's (red): bright on red, dark on the blue quadrant.
      assert.equal(await page.getAttribute('#legend-name', 'data-concept'), '0');
      assert.ok((await heatAt(page, 12, 12, size)) > (await heatAt(page, 52, 52, size)) + 60, 'red heatmap: red area brighter');
      await assertNotBlank(await page.locator('#stage').screenshot({ path: join(shots, 'explorer-stage-loaded.png') }), 'the stage');
      await page.screenshot({ path: join(shots, 'explorer-1-loaded.png'), fullPage: true });
      const timings = await page.evaluate(() => window.salfExplorer.timings.load!);
      assert.ok(timings.total > 0 && timings.inference > 0);
    });

    await t.test('the concept under the pointer gets its heatmap; the opacity slider fades it', async () => {
      await page.locator('#contributions .concept-row', { hasText: 'NOT blue' }).hover();
      assert.equal(await page.getAttribute('#legend-name', 'data-concept'), '2');
      assert.ok((await heatAt(page, 52, 52, size)) > (await heatAt(page, 12, 12, size)) + 60, 'blue heatmap: blue quadrant brighter');
      await page.mouse.move(5, 5);
      assert.equal(await page.getAttribute('#legend-name', 'data-concept'), '0');
      await page.locator('#opacity').fill('0.3');
      assert.equal(await page.$eval('#stage canvas.layer-heat', (c) => (c as HTMLElement).style.opacity), '0.3');
      await page.locator('#opacity').fill('0.6');
    });

    await t.test('any class can be explained: contributions and the decision rule follow', async () => {
      await page.selectOption('#class-select', { label: 'greenish' });
      assert.equal(await page.textContent('#explained-class'), 'greenish');
      const contributions = await rows(page, '#contributions .concept-row');
      const ex = explainClass(lib, out, 2, 8);
      assert.deepEqual(
        contributions.map((c) => c.name),
        ex.contributions.map((c) => c.label),
      );
      assertClose(
        contributions.map((c) => c.value),
        ex.contributions.map((c) => c.contribution),
        'greenish contributions',
      );
      assert.equal(await page.getAttribute('#legend-name', 'data-concept'), '1');
      assert.match((await page.textContent('#sankey svg')) ?? '', /greenish/);
      assert.match((await page.textContent('#sankey svg')) ?? '', /green \(\+2\)/);
      await page.click('#follow-prediction');
      assert.equal(await page.textContent('#explained-class'), 'reddish');
      assert.match((await page.textContent('#sankey svg')) ?? '', /red \(\+2\)[\s\S]*blue \(−1\)/);
    });

    await t.test('Explain Anything: a box on the blue square lists blue first, as the library does', async () => {
      await page.check('input[name="tool"][value="box"]');
      await drag(
        page,
        [
          [36, 36],
          [60, 60],
        ],
        size,
      );
      const snap = await snapshot(page);
      assert.ok(snap.region, 'a region is marked');
      assert.ok(Math.abs(snap.region.pixels.length - 24 * 24) <= 60, `box area ${snap.region.pixels.length}`);
      const ref = explainRegion(lib, out, raster(64, snap.region.label, snap.region.pixels), 8);
      const listed = await rows(page, '#region-concepts .concept-row');
      assert.equal(listed[0]!.name, 'blue');
      assert.deepEqual(
        listed.map((r) => r.name),
        ref.byMean.map((s) => s.concept),
      );
      assertClose(
        listed.map((r) => r.value),
        ref.byMean.map((s) => s.mean),
        'region means',
      );
      await page.selectOption('#region-rank', 'standardised');
      const std = await rows(page, '#region-concepts .concept-row');
      assert.deepEqual(
        std.map((r) => r.name),
        ref.byStandardised.map((s) => s.concept),
      );
      assertClose(
        std.map((r) => r.value),
        ref.byStandardised.map((s) => s.standardised),
        'region standardised',
      );
      await page.screenshot({ path: join(shots, 'explorer-2-region.png'), fullPage: true });
      // A point on the red area.
      await page.check('input[name="tool"][value="point"]');
      await drag(
        page,
        [
          [14, 14],
          [14, 14],
        ],
        size,
      );
      assert.equal((await rows(page, '#region-concepts .concept-row'))[0]!.name, 'red');
      await page.selectOption('#region-rank', 'mean');
      // A brushed region inside the blue square.
      await page.check('input[name="tool"][value="brush"]');
      await drag(
        page,
        [
          [40, 40],
          [56, 44],
          [44, 56],
        ],
        size,
      );
      const brushed = (await snapshot(page)).region!;
      assert.match(brushed.label, /^mask:brush/);
      const want = explainRegion(lib, out, raster(64, brushed.label, brushed.pixels), 8);
      const got = await rows(page, '#region-concepts .concept-row');
      assert.equal(got[0]!.name, 'blue');
      assert.deepEqual(
        got.map((r) => r.name),
        want.byMean.map((s) => s.concept),
      );
      assertClose(
        got.map((r) => r.value),
        want.byMean.map((s) => s.mean),
        'brushed region means',
      );
    });

    await t.test('intervention: a brushed edit and a whole-image edit change the prediction as the library predicts; undo and reset restore', async () => {
      await page.selectOption('#edit-concept', { label: 'red' });
      await page.fill('#edit-beta', '-2');
      await page.check('input[name="tool"][value="intervene"]');
      await page.locator('#brush-size').fill('40');
      await drag(
        page,
        [
          [4, 6],
          [28, 6],
          [28, 18],
          [4, 18],
          [4, 28],
          [28, 28],
        ],
        size,
      );
      let snap = await snapshot(page);
      assert.equal(snap.edits.length, 1);
      const edit0: ConceptEdit = { concept: 0, beta: -2, region: raster(64, snap.edits[0]!.label, snap.edits[0]!.pixels) };
      assert.ok(edit0.region.area > 200, `brushed ${edit0.region.area} pixels`);
      const one = await intervene(lib, out, [edit0]);
      let classes = await rows(page, '#classes .class-row');
      assert.deepEqual(
        classes.map((c) => c.name),
        one.after.classes.map((c) => c.class),
      );
      assertClose(
        classes.map((c) => c.value),
        one.after.classes.map((c) => c.probability),
        'probabilities after the brushed edit',
      );

      await page.selectOption('#edit-concept', { label: 'blue' });
      await page.fill('#edit-beta', '2');
      await page.click('#edit-all');
      await page.evaluate(() => window.salfExplorer.idle());
      snap = await snapshot(page);
      assert.equal(snap.edits.length, 2);
      const edit1: ConceptEdit = { concept: 2, beta: 2, region: raster(64, snap.edits[1]!.label, snap.edits[1]!.pixels) };
      assert.equal(edit1.region.area, 64 * 64);
      const both = await intervene(lib, out, [edit0, edit1]);
      assert.equal(both.before.prediction.class, 'reddish');
      assert.equal(both.after.prediction.class, 'bluish');
      assert.equal(await page.getAttribute('#intervention-result', 'data-before'), 'reddish');
      assert.equal(await page.getAttribute('#intervention-result', 'data-after'), 'bluish');
      classes = await rows(page, '#classes .class-row');
      assertClose(
        classes.map((c) => c.value),
        both.after.classes.map((c) => c.probability),
        'probabilities after both edits',
      );
      // The contributions shown are the edited model's (the explanation follows the new prediction).
      const maps = applyEdits(lib, out.conceptMaps, [edit0, edit1]);
      const res = await classifyConceptMaps(lib, maps, 1);
      const edited: ImageOutputs = { conceptMaps: maps, ...res };
      const ex = explainClass(lib, edited, 1, 8);
      assert.equal(await page.textContent('#explained-class'), 'bluish');
      const contributions = await rows(page, '#contributions .concept-row');
      assert.deepEqual(
        contributions.map((c) => c.name),
        ex.contributions.map((c) => c.label),
      );
      assertClose(
        contributions.map((c) => c.value),
        ex.contributions.map((c) => c.contribution),
        'contributions after the edits',
      );
      assert.equal((await rows(page, '#edits li')).length, 2);
      await page.screenshot({ path: join(shots, 'explorer-3-intervention.png'), fullPage: true });
      const timing = await page.evaluate(() => window.salfExplorer.timings.intervention!);
      assert.ok(timing.total > 0);

      await page.click('#undo');
      await page.evaluate(() => window.salfExplorer.idle());
      classes = await rows(page, '#classes .class-row');
      assertClose(
        classes.map((c) => c.value),
        one.after.classes.map((c) => c.probability),
        'probabilities after undo',
      );
      await page.click('#reset');
      await page.evaluate(() => window.salfExplorer.idle());
      classes = await rows(page, '#classes .class-row');
      assertClose(
        classes.map((c) => c.value),
        rankClasses(lib, out.logits).map((c) => c.probability),
        'probabilities after reset',
      );
      assert.equal(await page.isDisabled('#undo'), true);
      assert.equal(await page.isDisabled('#reset'), true);
      assert.equal((await page.textContent('#intervention-result')) ?? '', '');
    });

    await t.test("an image picked from the server's folder is resized in the page exactly as the library does", async () => {
      const path = join(fx.images, 'more', 'green.png');
      const ref = await analyseImages(lib, [path]);
      const o = imageOutputs(lib, ref.outputs, 0);
      await page.selectOption('#folder', 'more/green.png');
      await page.waitForFunction(() => window.salfExplorer.snapshot()?.image === 'more/green.png');
      await page.evaluate(() => window.salfExplorer.idle());
      const classes = await rows(page, '#classes .class-row');
      const want = rankClasses(lib, o.logits);
      assert.equal(classes[0]!.name, 'greenish');
      assert.deepEqual(
        classes.map((c) => c.name),
        want.map((c) => c.class),
      );
      assertClose(
        classes.map((c) => c.value),
        want.map((c) => c.probability),
        'probabilities of the folder image',
      );
    });

    await t.test('an image dropped on the page is run and explained', async () => {
      const bytes = readFileSync(fx.scene).toString('base64');
      await page.evaluate(async (b64) => {
        const data = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([data], 'dropped.png', { type: 'image/png' }));
        document.querySelector('#drop')!.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
      }, bytes);
      await page.waitForFunction(() => window.salfExplorer.snapshot()?.image === 'dropped.png');
      await page.evaluate(() => window.salfExplorer.idle());
      const classes = await rows(page, '#classes .class-row');
      assertClose(
        classes.map((c) => c.value),
        rankClasses(lib, out.logits).map((c) => c.probability),
        'probabilities of the dropped image',
      );
    });

    await t.test('every request stayed on the server: nothing uploaded, nothing fetched from elsewhere', async () => {
      const origin = new URL(url).origin;
      for (const r of requests) {
        if (r.url.startsWith('data:') || r.url.startsWith('blob:')) continue;
        assert.equal(new URL(r.url).origin, origin, `request to ${r.url}`);
        assert.equal(r.method, 'GET', `${r.method} ${r.url}`);
        assert.equal(r.body, false, `${r.url} carried a body`);
      }
      const images = requests.filter((r) => new URL(r.url).pathname.startsWith('/images/')).map((r) => new URL(r.url).pathname);
      assert.deepEqual(images, ['/images/more/green.png']);
      assert.equal(requests.filter((r) => r.url.endsWith('/model/model.onnx')).length, 1);
      assert.deepEqual(problems, []);
    });
  } finally {
    await browser.close();
    await server?.stop();
  }
});

test(
  "with a WebGPU adapter (software, SwiftShader) the page runs the model on WebGPU and gets the library's numbers",
  { timeout: 90_000, skip: browserTestSkip() },
  async () => {
    const fx = await explorerFixture(tempDir('salf-e2e-gpu-'), 'softmax', 'center');
    const lib = fx.library;
    const picture = join(fx.images, 'more', 'green.png');
    const { outputs } = await analyseImages(lib, [picture]);
    const out = imageOutputs(lib, outputs, 0);
    const browser = await launchChromium({ softwareWebGpu: true });
    const { page } = browser;
    let server: ServeProcess | undefined;
    try {
      server = await startServe([fx.onnx, '--port', '0']);
      await page.goto(server.url);
      await page.evaluate(() => window.salfExplorer.ready);
      assert.equal(await page.evaluate(() => window.salfExplorer.backend), 'webgpu', `fell back: ${await page.getAttribute('#backend', 'title')}`);
      await page.setInputFiles('#file', picture);
      await page.waitForFunction(() => window.salfExplorer.timings.load !== undefined);
      await page.evaluate(() => window.salfExplorer.idle());
      const classes = await rows(page, '#classes .class-row');
      const ref = rankClasses(lib, out.logits);
      assert.deepEqual(
        classes.map((c) => c.name),
        ref.map((c) => c.class),
      );
      assertClose(
        classes.map((c) => c.value),
        ref.map((c) => c.probability),
        'probabilities on WebGPU',
      );
      const ex = explainClass(lib, out, ref[0]!.index, 8);
      assertClose(
        (await rows(page, '#contributions .concept-row')).map((c) => c.value),
        ex.contributions.map((c) => c.contribution),
        'contributions on WebGPU',
      );
      // The centre crop of the 96×64 picture: its left and right 16 columns are dimmed as unseen.
      const dim = await page.evaluate(() => {
        const c = document.querySelector<HTMLCanvasElement>('#stage canvas.layer-ink')!;
        const ctx = c.getContext('2d')!;
        return [ctx.getImageData(2, c.height / 2, 1, 1).data[3], ctx.getImageData(c.width / 2, c.height / 2, 1, 1).data[3]];
      });
      assert.ok(dim[0]! > 100 && dim[1] === 0, `dimmed outside the crop, clear inside: alpha ${dim}`);
    } finally {
      await browser.close();
      await server?.stop();
    }
  },
);
