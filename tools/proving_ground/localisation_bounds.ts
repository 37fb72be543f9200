/**
 * What the demo's localisation measures can reach on a world, whatever CLIP model is used
 * (dev tool; the numbers behind the "what limits it" notes of tools/proving_ground/README.md).
 *
 * 1. Ideal maps, scored exactly as the demo scores P and C (7×7 grid, r = 32, `inside` centres,
 *    prompt-aligned upsampling, SPEC's mean threshold):
 *    - coverage: each circle's value is the share of its disc the concept covers;
 *    - centre: 1 where the circle's centre lies on the concept, else 0 (as sharp as a 7×7 map
 *      can be).
 * 2. A linear probe of the black box: ridge regression from the classifier's grid features
 *    (plus a bias) to each concept's coverage of each circle, fitted on the train split with the
 *    ground-truth masks. SALF-CBM's concept layer is also linear in these features, so the probe
 *    shows how far the black box's features let any concept layer localise.
 * Every figure is reported for all (image, concept present) pairs, for concepts the main
 * (largest) object carries, and for concepts only distractors carry.
 *
 * Usage: npx tsx tools/proving_ground/localisation_bounds.ts --world DIR [--models DIR] [--ridge X] [--aligned]
 * (the demo's world is `<demo out>/world`; --models: a train_models.py output folder, whose
 * classifier/ replaces the committed one; --aligned: the probe reads the feature map bilinearly at
 * the circle centres instead of at its own cell centres, which lie up to 17 px further out).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Engine } from '../../src/engine/session.js';
import { upsampleAtCentres } from '../../src/explain/prompt-aligned.js';
import { Backbone } from '../../src/models/backbone.js';
import { extractFeatures } from '../../src/models/extract-features.js';
import { conceptSimilarities } from '../../src/similarity/compute.js';
import { gridCentres } from '../../src/similarity/prompting.js';
import { conceptMaskFromLabels, loadAnnotation, loadLabelMask, readIndex, type SplitEntry } from '../../src/proving-ground/dataset.js';
import { provingGroundAssets, provingGroundBackbone } from '../../src/proving-ground/demo.js';
import { LocalisationScore } from '../../src/proving-ground/localisation.js';
import { CONCEPTS, conceptKind } from '../../src/proving-ground/vocab.js';

const { values } = parseArgs({ options: { world: { type: 'string' }, models: { type: 'string' }, ridge: { type: 'string' }, aligned: { type: 'boolean' } } });
if (!values.world) {
  console.error('usage: localisation_bounds.ts --world DIR [--models DIR] [--ridge X] [--aligned]');
  process.exit(2);
}
const world = values.world;
const ridge = Number(values.ridge ?? '0.01');
const S = 224;
const G = 7;
const R = 32;
const M = CONCEPTS.length;
const centres = gridCentres(S, G, R, 'inside');
const index = readIndex(world);

/** One concept present in one image: its mask and whether the main object carries it. */
interface Pair {
  m: number;
  mask: Uint8Array;
  onMain: boolean;
}

function pairsOf(entry: SplitEntry): Pair[] {
  const ann = loadAnnotation(world, entry.id);
  const labels = loadLabelMask(world, entry.id);
  const main = ann.objects[ann.mainObject]!;
  const out: Pair[] = [];
  CONCEPTS.forEach((concept, m) => {
    const kind = conceptKind(concept);
    if (!ann.objects.some((o) => o.area > 0 && o[kind] === concept)) return;
    out.push({ m, mask: conceptMaskFromLabels(labels, ann.objects, concept), onMain: main.area > 0 && main[kind] === concept });
  });
  return out;
}

/** Per circle: the share of its disc the mask covers, and whether its centre is on the mask. */
function idealMaps(mask: Uint8Array): { coverage: Float32Array; centre: Float32Array } {
  const coverage = new Float32Array(G * G);
  const centre = new Float32Array(G * G);
  for (let h = 0; h < G; h++) {
    for (let w = 0; w < G; w++) {
      const cy = centres[h]!;
      const cx = centres[w]!;
      let inside = 0;
      let disc = 0;
      for (let y = cy - R; y <= cy + R; y++) {
        for (let x = cx - R; x <= cx + R; x++) {
          if ((y - cy) ** 2 + (x - cx) ** 2 > R * R) continue;
          disc++;
          inside += mask[y * S + x]!;
        }
      }
      coverage[h * G + w] = inside / disc;
      centre[h * G + w] = mask[cy * S + cx]!;
    }
  }
  return { coverage, centre };
}

/** All / main-object / distractor-only scores of one kind of map. */
class ScoreSet {
  private static readonly upsample = (map: ArrayLike<number>, _g: readonly [number, number], s: number) => upsampleAtCentres(map, centres, centres, s, s);
  private static readonly nodes = () => ({ y: centres, x: centres });
  readonly all = new LocalisationScore(ScoreSet.upsample, ScoreSet.nodes);
  readonly main = new LocalisationScore(ScoreSet.upsample, ScoreSet.nodes);
  readonly distractor = new LocalisationScore(ScoreSet.upsample, ScoreSet.nodes);

  add(pair: Pair, map: ArrayLike<number>): void {
    const concept = CONCEPTS[pair.m]!;
    this.all.add(concept, map, [G, G], pair.mask, S);
    (pair.onMain ? this.main : this.distractor).add(concept, map, [G, G], pair.mask, S);
  }

  row(name: string): string {
    const f = (x: number) => x.toFixed(3);
    return `| ${name} | ${f(this.all.pointingGame)} | ${f(this.main.pointingGame)} | ${f(this.distractor.pointingGame)} | ${f(this.all.conceptMIoU)} |`;
  }
}

/** Solves the symmetric positive definite system A X = B (A: p×p, B: p×k) by Cholesky. */
function solveSpd(A: Float64Array, B: Float64Array, p: number, k: number): Float64Array {
  const L = new Float64Array(p * p);
  for (let i = 0; i < p; i++) {
    for (let j = 0; j <= i; j++) {
      let s = A[i * p + j]!;
      for (let q = 0; q < j; q++) s -= L[i * p + q]! * L[j * p + q]!;
      L[i * p + j] = i === j ? Math.sqrt(s) : s / L[j * p + j]!;
    }
  }
  const X = Float64Array.from(B);
  for (let c = 0; c < k; c++) {
    for (let i = 0; i < p; i++) {
      let s = X[i * k + c]!;
      for (let q = 0; q < i; q++) s -= L[i * p + q]! * X[q * k + c]!;
      X[i * k + c] = s / L[i * p + i]!;
    }
    for (let i = p - 1; i >= 0; i--) {
      let s = X[i * k + c]!;
      for (let q = i + 1; q < p; q++) s -= L[q * p + i]! * X[q * k + c]!;
      X[i * k + c] = s / L[i * p + i]!;
    }
  }
  return X;
}

const engine = new Engine();
const models = values.models ?? provingGroundAssets();
if (!existsSync(join(models, 'classifier', 'backbone.json'))) {
  console.error(`${models}: no classifier/backbone.json (expected a train_models.py output folder)`);
  process.exit(2);
}
const backboneConfig = provingGroundBackbone(models);
const backbone = await Backbone.load(backboneConfig, [G, G], engine);

/** Per grid node: the two feature cells (row or column) it lies between and their weights. */
const nodeWeights = centres.map((c) => {
  const src = Math.min(Math.max(((c + 0.5) * G) / S - 0.5, 0), G - 1);
  const i0 = Math.min(Math.floor(src), G - 2);
  return { i0, w1: src - i0 };
});

/** Resamples n×G×G×D feature maps at the circle centres (bilinear). */
function alignToCentres(F: Float32Array, n: number): Float32Array {
  const D = F.length / (n * G * G);
  const out = new Float32Array(F.length);
  for (let i = 0; i < n; i++) {
    for (let h = 0; h < G; h++) {
      for (let w = 0; w < G; w++) {
        const a = nodeWeights[h]!;
        const b = nodeWeights[w]!;
        const o = ((i * G + h) * G + w) * D;
        for (const [dy, wy] of [
          [0, 1 - a.w1],
          [1, a.w1],
        ] as const) {
          for (const [dx, wx] of [
            [0, 1 - b.w1],
            [1, b.w1],
          ] as const) {
            const src = ((i * G + a.i0 + dy) * G + b.i0 + dx) * D;
            for (let d = 0; d < D; d++) out[o + d]! += wy * wx * F[src + d]!;
          }
        }
      }
    }
  }
  return out;
}

const features = async (split: 'train' | 'test' | 'shifted') => {
  const entries = index[split];
  const f = await extractFeatures(
    backbone,
    entries.map((e) => ({ path: join(world, e.image), label: e.classIndex })),
  );
  return values.aligned ? alignToCentres(f.F, entries.length) : f.F;
};

// Design rows: one per (image, circle), the D features and a constant 1.
const withBias = (F: Float32Array, rows: number): { X: Float32Array; P: number } => {
  const D = F.length / rows;
  const P = D + 1;
  const X = new Float32Array(rows * P);
  for (let r = 0; r < rows; r++) {
    X.set(F.subarray(r * D, (r + 1) * D), r * P);
    X[r * P + D] = 1;
  }
  return { X, P };
};

// Normal equations, products in ONNX Runtime: Xᵀ X and Xᵀ T (T: coverage targets).
const train = index.train;
const { X, P } = withBias(await features('train'), train.length * G * G);
const T = new Float32Array(train.length * G * G * M);
train.forEach((entry, i) => {
  for (const pair of pairsOf(entry)) {
    const { coverage } = idealMaps(pair.mask);
    for (let g = 0; g < G * G; g++) T[(i * G * G + g) * M + pair.m] = coverage[g]!;
  }
});
const transpose = (A: Float32Array, rows: number, cols: number): Float32Array => {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = A[r * cols + c]!;
  return out;
};
const rows = train.length * G * G;
const Xt = transpose(X, rows, P);
const gram = await conceptSimilarities(Xt, P, 1, rows, Xt, P, engine); // P×P
const cross = await conceptSimilarities(Xt, P, 1, rows, transpose(T, rows, M), M, engine); // P×M
const A = Float64Array.from(gram);
for (let d = 0; d < P; d++) A[d * P + d]! += ridge * train.length;
const W = solveSpd(A, Float64Array.from(cross), P, M); // P×M
const Wt = Float32Array.from(transpose(Float32Array.from(W), P, M)); // M×P

console.log(
  `world ${world}; classifier ${backboneConfig.model}; probe fitted on ${train.length} train images (ridge ${ridge}${values.aligned ? ', features read at the circle centres' : ''})\n`,
);
for (const split of ['test', 'shifted'] as const) {
  const entries = index[split];
  const { X: Xs } = withBias(await features(split), entries.length * G * G);
  const probeMaps = await conceptSimilarities(Xs, entries.length, G * G, P, Wt, M, engine);
  const scores = { coverage: new ScoreSet(), centre: new ScoreSet(), probe: new ScoreSet() };
  entries.forEach((entry, i) => {
    for (const pair of pairsOf(entry)) {
      const ideal = idealMaps(pair.mask);
      scores.coverage.add(pair, ideal.coverage);
      scores.centre.add(pair, ideal.centre);
      const map = new Float32Array(G * G);
      for (let g = 0; g < G * G; g++) map[g] = probeMaps[(i * G * G + g) * M + pair.m]!;
      scores.probe.add(pair, map);
    }
  });
  const s = scores.coverage;
  console.log(
    `## ${split}: ${entries.length} images, ${s.all.pairs} (image, concept) pairs (${s.main.pairs} on the main object, ${s.distractor.pairs} on distractors only); chance ${s.all.chance.toFixed(3)}\n`,
  );
  console.log('| map | pointing | main-object concepts | distractor-only concepts | concept mIoU |');
  console.log('|---|---|---|---|---|');
  console.log(scores.coverage.row('ideal: circle coverage'));
  console.log(scores.centre.row('ideal: centre on the concept'));
  console.log(scores.probe.row('linear probe of the black box'));
  console.log('');
}
