/**
 * Explanations on the hand-set colour model (see colour-model.ts), whose concept maps are known
 * in closed form: the numbers are checked against SPEC's equations, and the meaning (what and
 * where) against the pictures' content.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { imageOutputs } from '../../src/explain/analyse.js';
import { explainImages, writeExplanationFiles } from '../../src/explain/explain-image.js';
import { colormapAt } from '../../src/explain/heatmap.js';
import { conceptModelFromSalf, loadConceptModel } from '../../src/models/concept-model.js';
import { exportSalfCbm } from '../../src/models/export.js';
import { tempDir } from '../helpers/paths.js';
import {
  BLUE,
  CONCEPT_WEIGHT,
  COLOUR_CLASSES,
  COLOUR_CONCEPTS,
  FINAL_BIAS,
  FINAL_WEIGHT,
  GREEN,
  MEANS,
  RED,
  STD,
  colourModel,
  writeScene,
} from './colour-model.js';

const root = tempDir('salf-explain-');
const model = conceptModelFromSalf(colourModel(root));
type Rgb = [number, number, number];

/** The 4×4 grid colours of a 64×64 scene made of whole 16×16 cells. */
function cellColours(background: Rgb, cells: { cells: [number, number][]; colour: Rgb }[]): Rgb[] {
  const grid: Rgb[] = Array.from({ length: 16 }, () => background);
  for (const c of cells) for (const [a, b] of c.cells) grid[a * 4 + b] = c.colour;
  return grid;
}

/** SPEC's equations in float64 for a scene of whole cells: maps, c*, ĉ, logits. */
function reference(grid: Rgb[]) {
  const M = COLOUR_CONCEPTS.length;
  const maps = Array.from({ length: M }, (_, m) => grid.map((rgb) => rgb.reduce((a, v, d) => a + (CONCEPT_WEIGHT[m * 3 + d]! * v) / 255, 0)));
  const act = maps.map((row) => row.reduce((a, b) => a + b, 0) / 16);
  const std = act.map((a, m) => (a - MEANS[m]!) / STD);
  const logits = COLOUR_CLASSES.map((_, l) => FINAL_BIAS[l]! + std.reduce((a, s, m) => a + FINAL_WEIGHT[l * M + m]! * s, 0));
  return { maps, act, std, logits };
}

const redSquare = {
  cells: [
    [0, 0],
    [0, 1],
    [1, 0],
    [1, 1],
  ] as [number, number][],
  colour: RED,
};
const greenCell = { cells: [[3, 3]] as [number, number][], colour: GREEN };

test('contributions are W_F·ĉ, add up to the logit with the bias, and negative ĉ reads "NOT concept"', async () => {
  const img = await writeScene(join(root, 'a.png'), 64, 64, BLUE, [
    { rect: [0, 0, 32, 32], colour: RED },
    { rect: [48, 48, 64, 64], colour: GREEN },
  ]);
  const ref = reference(cellColours(BLUE, [redSquare, greenCell]));
  const { results } = await explainImages(model, [img], { classes: COLOUR_CLASSES, topK: 4 });
  const r = results[0]!;
  assert.equal(r.explanations.length, 3);
  for (const e of r.explanations) {
    assert.ok(Math.abs(e.logit - ref.logits[e.index]!) < 1e-5, `${e.class} logit ${e.logit} vs ${ref.logits[e.index]}`);
    let total = e.bias + e.rest;
    for (const c of e.contributions) {
      const want = FINAL_WEIGHT[e.index * 4 + c.index]! * ref.std[c.index]!;
      assert.ok(Math.abs(c.contribution - want) < 1e-5, `${e.class}/${c.concept}`);
      assert.ok(Math.abs(c.activation - ref.act[c.index]!) < 1e-5);
      assert.equal(c.label, ref.std[c.index]! < 0 ? `NOT ${c.concept}` : c.concept);
      assert.notEqual(c.weight, 0, 'zero-weight concepts are never listed');
      total += c.contribution;
    }
    assert.ok(Math.abs(total - e.logit) < 1e-5, 'bias + contributions = logit');
    const abs = e.contributions.map((c) => Math.abs(c.contribution));
    assert.deepEqual(
      abs,
      [...abs].sort((a, b) => b - a),
      'sorted by |contribution|',
    );
  }
  // Blue dominates: predicted bluish; red is below its training average, so "NOT red" counts for bluish.
  assert.equal(r.prediction.class, 'bluish');
  const bluish = r.explanations.find((e) => e.class === 'bluish')!;
  assert.deepEqual(
    bluish.contributions.map((c) => c.label),
    ['blue', 'NOT red'],
  );
  const total = r.probabilities.reduce((a, p) => a + p.probability, 0);
  assert.ok(Math.abs(total - 1) < 1e-9);
});

test('class-specific explanations differ, and the heatmap of a concept is where the concept is', async () => {
  // Mostly red, with a blue square in the bottom-right 2×2 cells.
  const img = await writeScene(join(root, 'b.png'), 64, 64, RED, [{ rect: [32, 32, 64, 64], colour: BLUE }]);
  const { results, images, outputs } = await explainImages(model, [img], { classes: ['reddish', 'bluish'], topK: 2 });
  const [reddish, bluish] = results[0]!.explanations;
  assert.equal(results[0]!.prediction.class, 'reddish');
  assert.equal(reddish!.contributions[0]!.label, 'red');
  assert.ok(reddish!.contributions[0]!.contribution > 0);
  // For bluish the same red evidence counts against: same concept, opposite sign.
  const redForBluish = bluish!.contributions.find((c) => c.concept === 'red')!;
  assert.ok(redForBluish.contribution < 0);
  assert.notDeepEqual(
    reddish!.contributions.map((c) => [c.label, c.contribution]),
    bluish!.contributions.map((c) => [c.label, c.contribution]),
  );

  // The blue map is highest exactly on the blue square's cells, the red map everywhere else.
  const blueMap = reddish!.heatmaps.find((h) => h.concept === 'blue')!;
  for (let a = 0; a < 4; a++)
    for (let b = 0; b < 4; b++) {
      const onSquare = a >= 2 && b >= 2;
      assert.ok(Math.abs(blueMap.map[a]![b]! - (onSquare ? blueMap.max : blueMap.min)) < 1e-5, `blue map at (${a}, ${b})`);
    }
  // The picture: the blue heatmap's panel is light (colormap top) on the square, dark elsewhere.
  const dir = join(root, 'b-out');
  const files = await writeExplanationFiles(model, images[0]!, imageOutputs(model, outputs, 0), results[0]!, dir, { viewSize: 160 });
  assert.ok(files.every((f) => existsSync(f)));
  const json = JSON.parse(readFileSync(join(dir, 'explanation.json'), 'utf8'));
  assert.equal(json.files.reddish.heatmaps, 'heatmaps-reddish.png');
  const png = sharp(join(dir, 'heatmaps-reddish.png'));
  const meta = await png.metadata();
  assert.equal(meta.width, 12 + 3 * (160 + 12));
  const { data, info } = await png.removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const panel = reddish!.heatmaps.findIndex((h) => h.concept === 'blue') + 1;
  const at = (x: number, y: number): number[] => {
    const px = 12 + panel * (160 + 12) + x;
    const py = 34 + 40 + y;
    return Array.from(data.subarray((py * info.width + px) * 3, (py * info.width + px) * 3 + 3));
  };
  const top = colormapAt(1);
  const bottom = colormapAt(0);
  const onSquare = at(140, 140);
  const offSquare = at(20, 20);
  const near = (p: number[], c: number[]): number => p.reduce((a, v, i) => a + Math.abs(v - c[i]!), 0);
  assert.ok(near(onSquare, top) < near(onSquare, bottom), `square pixel ${onSquare} should lean to the top colour ${top}`);
  assert.ok(near(offSquare, bottom) < near(offSquare, top), `background pixel ${offSquare} should lean to the bottom colour ${bottom}`);
});

test('the single-file export explains exactly like the model directory; unknown classes are refused', async () => {
  const img = await writeScene(join(root, 'c.png'), 64, 64, GREEN, [{ rect: [16, 16, 48, 48], colour: RED }]);
  const onnx = join(root, 'colour.onnx');
  await exportSalfCbm(colourModel(root), onnx);
  const exported = await loadConceptModel(onnx);
  const [a, b] = [await explainImages(model, [img], { topK: 4 }), await explainImages(exported, [img], { topK: 4 })];
  assert.equal(b.results[0]!.prediction.class, a.results[0]!.prediction.class);
  const pairs = a.results[0]!.explanations[0]!.contributions.map((c, i) => [c, b.results[0]!.explanations[0]!.contributions[i]!] as const);
  for (const [x, y] of pairs) {
    assert.equal(y.label, x.label);
    assert.ok(Math.abs(x.contribution - y.contribution) < 1e-5);
  }
  await assert.rejects(explainImages(model, [img], { classes: ['redish'] }), /unknown class "redish"; did you mean "reddish"/);
  await assert.rejects(explainImages(model, [join(root, 'missing.png')]), /missing\.png: cannot read file/);
});
