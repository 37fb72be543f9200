/**
 * Checks exported proving-ground models from the TypeScript side (dev tool):
 * - the CLIP folder loads with the project's ClipModel, and every concept word is one token;
 * - red-circle grid prompting with the project's circle drawing reproduces the concept AUCs the
 *   Python trainer measured (same images, same circles), proving the export and the prompting
 *   agree with training;
 * - the classifier's `logits` give the accuracy the trainer recorded, and `features` is 7×7.
 *
 * Usage: npx tsx tools/proving_ground/check_models.ts --models DIR --world DIR
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { ClipModel } from '../../src/models/clip.js';
import { decodePng, readIndex, readWorld, loadAnnotation, loadLabelMask, type ImageAnnotation } from '../../src/proving-ground/index.js';
import { drawCircle, gridPrompts } from '../../src/similarity/prompting.js';

const { values } = parseArgs({ options: { models: { type: 'string' }, world: { type: 'string' } } });
if (!values.models || !values.world) {
  console.error('usage: check_models.ts --models DIR --world DIR');
  process.exit(2);
}
const modelsDir = values.models;
const worldDir = values.world;
const world = readWorld(worldDir);
const index = readIndex(worldDir);
const concepts = world.concepts.map((c) => c.name);
let failures = 0;
const check = (ok: boolean, what: string): void => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures++;
};

function rgbOf(entry: { image: string }): Uint8Array {
  const png = decodePng(readFileSync(join(worldDir, entry.image)));
  if (png.channels !== 3) throw new Error(`${entry.image}: expected RGB`);
  return png.data;
}

function normalise(rgb: Uint8Array, out: Float32Array, offset: number, mean: readonly number[], std: readonly number[]): void {
  const plane = rgb.length / 3;
  for (let c = 0; c < 3; c++) for (let i = 0; i < plane; i++) out[offset + c * plane + i] = (rgb[i * 3 + c]! / 255 - mean[c]!) / std[c]!;
}

/** The trainer's rule: objects at least half inside the disc, or filling a fifth of it. */
function circled(labels: Uint8Array, ann: ImageAnnotation, cx: number, cy: number, r: number): number[] {
  const size = ann.size;
  const cover = new Array<number>(ann.objects.length + 1).fill(0);
  for (let y = Math.max(0, cy - r); y <= Math.min(size - 1, cy + r); y++)
    for (let x = Math.max(0, cx - r); x <= Math.min(size - 1, cx + r); x++) if ((x - cx) ** 2 + (y - cy) ** 2 <= r * r) cover[labels[y * size + x]!]!++;
  const disc = Math.PI * r * r;
  return ann.objects.map((o, k) => k).filter((k) => cover[k + 1]! > 0 && (cover[k + 1]! >= 0.5 * ann.objects[k]!.area || cover[k + 1]! >= 0.2 * disc));
}

function auc(pos: number[], neg: number[]): number {
  let s = 0;
  for (const p of pos) for (const n of neg) s += p > n ? 1 : p === n ? 0.5 : 0;
  return s / (pos.length * neg.length);
}

// ---- CLIP
const clipDir = join(modelsDir, 'clip');
const clip = await ClipModel.load(clipDir, { threads: 1 });
const cfg = JSON.parse(readFileSync(join(clipDir, 'config.json'), 'utf8'));
for (const c of concepts) {
  const ids = clip.tokenize(c);
  if (ids.length !== 3) check(false, `concept "${c}" tokenises to ${ids.length - 2} tokens`);
}
check(true, `CLIP loads (E = ${clip.embedDim}, ${clip.inputSize} px); concept words checked for single tokens`);
const text = await clip.encodeTexts(concepts);
const S = clip.inputSize;
const r = cfg.proving_ground.circle_radius as number;
const prompts = gridPrompts(S, [7, 7], r);
const nImages = Math.min(40, index.val.length);
const sims: number[][] = concepts.map(() => []);
const truth: boolean[][] = concepts.map(() => []);
const pixels = new Float32Array(prompts.length * 3 * S * S);
for (let i = 0; i < nImages; i++) {
  const entry = index.val[i]!;
  const rgb = rgbOf(entry);
  const ann = loadAnnotation(worldDir, entry.id);
  const labels = loadLabelMask(worldDir, entry.id);
  prompts.forEach((p, j) => {
    const img = { data: rgb.slice(), width: S, height: S };
    drawCircle(img, p.cx, p.cy, r);
    normalise(img.data, pixels, j * 3 * S * S, clip.mean, clip.std);
    const inside = circled(labels, ann, p.cx, p.cy, r);
    concepts.forEach((c, m) => {
      const kind = world.concepts[m]!.kind;
      truth[m]!.push(inside.some((k) => ann.objects[k]![kind] === c));
    });
  });
  const emb = await clip.encodeImages(pixels, prompts.length);
  const E = clip.embedDim;
  for (let j = 0; j < prompts.length; j++)
    concepts.forEach((_, m) => {
      let s = 0;
      for (let e = 0; e < E; e++) s += emb[j * E + e]! * text[m * E + e]!;
      sims[m]!.push(s);
    });
}
const aucs = concepts.map((_, m) =>
  auc(
    sims[m]!.filter((_, j) => truth[m]![j]),
    sims[m]!.filter((_, j) => !truth[m]![j]),
  ),
);
const meanAuc = aucs.reduce((a, b) => a + b, 0) / aucs.length;
const trained = cfg.proving_ground.metrics?.val?.mean_auc as number | undefined;
console.log(`CLIP grid prompting on ${nImages} val images: mean concept AUC ${meanAuc.toFixed(4)} (trainer: ${trained?.toFixed(4)})`);
console.log('  ' + concepts.map((c, m) => `${c} ${aucs[m]!.toFixed(3)}`).join(', '));
check(trained !== undefined && Math.abs(meanAuc - trained) < 0.01, 'AUC agrees with the trainer (export, circles and tokenizer match training)');
await clip.dispose();

// ---- classifier
const clsDir = join(modelsDir, 'classifier');
const backbone = JSON.parse(readFileSync(join(clsDir, 'backbone.json'), 'utf8'));
const session = await ort.InferenceSession.create(join(clsDir, backbone.model), { intraOpNumThreads: 1 });
check(
  session.inputNames.join() === 'pixels' && ['logits', 'features'].every((n) => session.outputNames.includes(n)),
  `classifier I/O: ${session.inputNames} -> ${session.outputNames}`,
);
const { mean, std } = backbone.preprocess;
for (const split of ['test', 'shifted'] as const) {
  const entries = index[split];
  let correct = 0;
  const B = 50;
  for (let s = 0; s < entries.length; s += B) {
    const chunk = entries.slice(s, s + B);
    const x = new Float32Array(chunk.length * 3 * S * S);
    chunk.forEach((e, j) => normalise(rgbOf(e), x, j * 3 * S * S, mean, std));
    const out = await session.run({ pixels: new ort.Tensor('float32', x, [chunk.length, 3, S, S]) });
    const logits = out.logits!.data as Float32Array;
    const L = world.classes.length;
    if (s === 0) check(out.features!.dims.slice(1).join('x') === '96x7x7', `${split}: features dims ${out.features!.dims}`);
    chunk.forEach((e, j) => {
      let best = 0;
      for (let l = 1; l < L; l++) if (logits[j * L + l]! > logits[j * L + best]!) best = l;
      if (best === e.classIndex) correct++;
    });
  }
  const acc = correct / entries.length;
  const want = backbone.accuracy?.[split] as number | undefined;
  console.log(`classifier ${split} accuracy ${acc.toFixed(4)} (trainer: ${want?.toFixed(4)})`);
  check(want !== undefined && Math.abs(acc - want) < 0.005, `classifier ${split} accuracy agrees with the trainer`);
}
process.exit(failures > 0 ? 1 : 0);
