/**
 * The filters' decisions. Models: hand-built fake encoders whose embeddings are chosen so each
 * filter triggers exactly where intended (and injected similarity matrices); the ONNX graphs are
 * checked against plain-JS references on random data.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { filterConcepts } from '../../src/concepts/filter.js';
import { classNameMatches, dropAbsent, dropNearDuplicates, dropSimilarToClasses, dropTooLong } from '../../src/concepts/filter-stages.js';
import { TopKSimilarity } from '../../src/concepts/image-similarity.js';
import { SimilarityRows, matrixRows, maxSimilarity, similarityEmbeddings } from '../../src/concepts/text-similarity.js';
import { formatConceptReport } from '../../src/concepts/report.js';
import { Engine } from '../../src/engine/session.js';
import type { ImageEncoder, TextEncoder } from '../../src/models/encoders.js';
import { tempDir } from '../helpers/paths.js';

const engine = new Engine({ threads: 1 });
after(() => engine.dispose());

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    return a / 4294967296;
  };
}

function unitRows(n: number, E: number, seed: number): Float32Array {
  const r = rng(seed);
  const x = new Float32Array(n * E);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < E; j++) s += (x[i * E + j] = r() * 2 - 1) ** 2;
    for (let j = 0; j < E; j++) x[i * E + j]! /= Math.sqrt(s);
  }
  return x;
}

function dot(a: Float32Array, i: number, b: Float32Array, j: number, E: number): number {
  let s = 0;
  for (let k = 0; k < E; k++) s += a[i * E + k]! * b[j * E + k]!;
  return s;
}

/** A text encoder with chosen unit vectors (built from sparse {dimension: weight} maps). */
class FakeText implements TextEncoder {
  constructor(
    readonly id: string,
    readonly embedDim: number,
    private readonly table: Record<string, Record<number, number>>,
  ) {}
  async encodeTexts(texts: readonly string[]): Promise<Float32Array> {
    const out = new Float32Array(texts.length * this.embedDim);
    texts.forEach((t, i) => {
      const v = this.table[t];
      if (!v) throw new Error(`FakeText: no vector for "${t}"`);
      let n = 0;
      for (const w of Object.values(v)) n += w * w;
      for (const [d, w] of Object.entries(v)) out[i * this.embedDim + Number(d)] = w / Math.sqrt(n);
    });
    return out;
  }
}

test('length: longer than 30 characters (code points) is dropped', () => {
  const ok = 'x'.repeat(30);
  const long = 'y'.repeat(31);
  const emoji = '🐟'.repeat(30); // 60 UTF-16 units, 30 characters
  const r = dropTooLong([ok, long, emoji]);
  assert.deepEqual(r.kept, [ok, emoji]);
  assert.deepEqual(r.stage.dropped, [{ concept: long, value: 31 }]);
  assert.equal(r.stage.threshold, 30);
});

test('class similarity: text matches first, then similarity ≥ cutoff (equality drops)', async () => {
  assert.deepEqual(
    [...classNameMatches(['A Cat', 'an  owl', 'the dog', 'cats', 'dog'], ['cat', 'Dog', 'owl']).entries()],
    [
      [0, 'cat'],
      [1, 'owl'],
      [2, 'Dog'],
      [4, 'Dog'],
    ],
  );
  const sims: Record<string, [number, number]> = { whiskers: [0.84999, 0], kitten: [0.85, 0], puppy: [0.97, 1] };
  const r = await dropSimilarToClasses(['a cat', 'whiskers', 'kitten', 'puppy'], ['cat', 'dog'], async (rest) => {
    assert.deepEqual(rest, ['whiskers', 'kitten', 'puppy'], 'text matches never reach the similarity');
    return { max: Float32Array.from(rest.map((c) => sims[c]![0])), arg: Int32Array.from(rest.map((c) => sims[c]![1])) };
  });
  assert.deepEqual(r.kept, ['whiskers']);
  assert.deepEqual(
    r.stage.dropped.map((d) => [d.concept, d.match, d.note]),
    [
      ['a cat', 'cat', 'text match'],
      ['kitten', 'cat', undefined],
      ['puppy', 'dog', undefined],
    ],
  );
  assert.equal(r.stage.dropped[1]!.value, Math.fround(0.85));
});

/** LF-CBM's `filter_too_similar` loop, transcribed: returns the deleted indices. */
function lfCbmNearDuplicates(S: Float32Array, M: number, cutoff: number): number[] {
  const sums = Array.from({ length: M }, (_, i) => {
    let s = 0;
    for (let j = 0; j < M; j++) s += S[i * M + j]!;
    return s;
  });
  const toDelete: number[] = [];
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < M; j++) {
      if (S[i * M + j]! >= cutoff && i !== j && !toDelete.includes(i) && !toDelete.includes(j)) {
        toDelete.push(sums[i]! < sums[j]! ? i : j);
      }
    }
  }
  return toDelete.sort((a, b) => a - b);
}

test('near-duplicates: the smaller summed similarity goes, ties drop the later one, as LF-CBM does', async () => {
  // wings ~ two wings (0.95); two wings also resembles wheels, so its sum is larger and it stays.
  const names = ['two wings', 'wheels', 'wings'];
  const S = Float32Array.from([1, 0.3, 0.95, 0.3, 1, 0, 0.95, 0, 1]);
  const r = await dropNearDuplicates(names, matrixRows(S, 3));
  assert.deepEqual(r.kept, ['two wings', 'wheels']);
  assert.equal(r.stage.dropped.length, 1);
  assert.deepEqual([r.stage.dropped[0]!.concept, r.stage.dropped[0]!.match, r.stage.dropped[0]!.value], ['wings', 'two wings', Math.fround(0.95)]);
  assert.match(r.stage.dropped[0]!.note!, /summed similarity 1\.950 < 2\.250/);
  // A tie: the later concept of the pair goes.
  const tie = await dropNearDuplicates(['a', 'b'], matrixRows(Float32Array.from([1, 0.9, 0.9, 1]), 2));
  assert.deepEqual(tie.kept, ['a']);
  assert.match(tie.stage.dropped[0]!.note!, /=/);
  // A chain a~b, b~c: b resembles both, has the larger sum and stays; a and c go.
  const chain = await dropNearDuplicates(['a', 'b', 'c'], matrixRows(Float32Array.from([1, 0.95, 0, 0.95, 1, 0.95, 0, 0.95, 1]), 3));
  assert.deepEqual(chain.kept, ['b']);
  assert.deepEqual(
    chain.stage.dropped.map((d) => [d.concept, d.match]),
    [
      ['a', 'b'],
      ['c', 'b'],
    ],
  );
  // Once a concept is gone it removes nothing: a~b costs b (smaller sum), so b~c no longer counts.
  const gone = await dropNearDuplicates(
    ['a', 'b', 'c', 'd'],
    matrixRows(Float32Array.from([1, 0.95, 0.1, 0.89, 0.95, 1, 0.95, 0, 0.1, 0.95, 1, 0, 0.89, 0, 0, 1]), 4),
  );
  assert.deepEqual(gone.kept, ['a', 'c', 'd']);
  // Random matrices with many close pairs agree with the transcription of LF-CBM's loop.
  let total = 0;
  for (let seed = 1; seed <= 25; seed++) {
    const M = 12;
    const X = unitRows(M, 3, seed); // 3 dimensions: many pairs above the cutoff
    const R = new Float32Array(M * M);
    for (let i = 0; i < M; i++) for (let j = 0; j < M; j++) R[i * M + j] = dot(X, i, X, j, 3);
    const ours = await dropNearDuplicates(
      Array.from({ length: M }, (_, i) => `c${String(i).padStart(2, '0')}`),
      matrixRows(R, M),
      0.9,
    );
    const dropped = ours.stage.dropped.map((d) => Number(d.concept.slice(1))).sort((a, b) => a - b);
    assert.deepEqual(dropped, lfCbmNearDuplicates(R, M, 0.9), `seed ${seed}`);
    total += dropped.length;
  }
  assert.ok(total > 25, `the random cases do drop concepts (${total})`);
});

test('absent from data: a mean top-k not above the cutoff is dropped (equality drops)', () => {
  const r = dropAbsent(['sky', 'grass', 'wheel'], Float32Array.from([0.3, 0.25, 0.2]), 0.25, 5, 40);
  assert.ok(Math.fround(0.25) === 0.25 && Math.fround(0.2) !== 0.2);
  assert.deepEqual(r.kept, ['sky']);
  assert.deepEqual(
    r.stage.dropped.map((d) => d.concept),
    ['grass', 'wheel'],
  );
  assert.match(r.stage.measure, /top-5 .* over 40 training images/);
});

test('ONNX similarity graphs agree with plain-JS references (blocked rows, streamed top-k)', async () => {
  const E = 6;
  // maxSimilarity
  const A = unitRows(37, E, 3);
  const B = unitRows(5, E, 4);
  const { max, arg } = await maxSimilarity(A, 37, B, 5, E, engine);
  for (let i = 0; i < 37; i++) {
    let best = -Infinity;
    let at = -1;
    for (let j = 0; j < 5; j++) if (dot(A, i, B, j, E) > best) [best, at] = [dot(A, i, B, j, E), j];
    assert.ok(Math.abs(max[i]! - best) < 1e-5);
    assert.equal(arg[i], at);
  }
  // SimilarityRows over more rows than one block holds (2 blocks).
  const M = 2100;
  const X = unitRows(M, 4, 5);
  const rows = await SimilarityRows.create(X, M, 4, engine);
  assert.ok(rows.rowsPerBlock < M, 'the matrix spans several blocks');
  for (const i of [0, 1, 1996, 1997, 2099, 3]) {
    const r = await rows.row(i);
    let sum = 0;
    for (let j = 0; j < M; j++) {
      const d = dot(X, i, X, j, 4);
      sum += d;
      if (j % 97 === 0) assert.ok(Math.abs(r[j]! - d) < 1e-5, `row ${i} col ${j}`);
    }
    assert.ok(Math.abs(rows.sums[i]! - sum) < 1e-3, `row sum ${i}`);
  }
  // TopKSimilarity fed in uneven chunks = the mean of the 5 largest over all images.
  const T = unitRows(9, E, 6);
  const I = unitRows(23, E, 7);
  const topk = await TopKSimilarity.create(T, 9, E, 5, engine);
  for (const [a, b] of [
    [0, 2],
    [2, 13],
    [13, 23],
  ])
    await topk.add(I.slice(a! * E, b! * E), b! - a!);
  const means = topk.means();
  for (let m = 0; m < 9; m++) {
    const s = Array.from({ length: 23 }, (_, n) => dot(I, n, T, m, E)).sort((x, y) => y - x);
    assert.ok(Math.abs(means[m]! - (s[0]! + s[1]! + s[2]! + s[3]! + s[4]!) / 5) < 1e-5);
  }
  // Fewer images than k: the mean of all of them.
  const few = await TopKSimilarity.create(T, 9, E, 5, engine);
  await few.add(I.slice(0, 3 * E), 3);
  const fm = few.means();
  assert.ok(Math.abs(fm[0]! - (dot(I, 0, T, 0, E) + dot(I, 1, T, 0, E) + dot(I, 2, T, 0, E)) / 3) < 1e-5);
});

test('the text similarity mix is (sentence + 3 × CLIP)/4', async () => {
  const clip = new FakeText('clip', 3, { a: { 0: 1 }, b: { 0: 0.6, 1: 0.8 } });
  const sentence = new FakeText('st', 2, { a: { 0: 1 }, b: { 1: 1 } });
  const only = await similarityEmbeddings({ clip }, ['a', 'b']);
  assert.ok(Math.abs(dot(only.data, 0, only.data, 1, only.dim) - 0.6) < 1e-6);
  const mixed = await similarityEmbeddings({ clip, sentence }, ['a', 'b']);
  assert.equal(mixed.dim, 5);
  assert.ok(Math.abs(dot(mixed.data, 0, mixed.data, 1, 5) - (0 + 3 * 0.6) / 4) < 1e-6);
  assert.ok(Math.abs(dot(mixed.data, 0, mixed.data, 0, 5) - 1) < 1e-6);
});

/**
 * An image tower that looks at colour only: mostly red images embed to `red`, the others to
 * `other` (inputs are CLIP-normalised NCHW pixels).
 */
class ColourImages implements ImageEncoder {
  readonly id = 'colour-images';
  readonly inputSize = 16;
  readonly mean = [0.5, 0.5, 0.5] as const;
  readonly std = [0.5, 0.5, 0.5] as const;
  calls = 0;
  constructor(
    readonly embedDim: number,
    private readonly red: Float32Array,
    private readonly other: Float32Array,
  ) {}
  async encodeImages(pixels: Float32Array, n: number): Promise<Float32Array> {
    this.calls++;
    const plane = this.inputSize ** 2;
    const out = new Float32Array(n * this.embedDim);
    for (let i = 0; i < n; i++) {
      let r = 0;
      let b = 0;
      for (let p = 0; p < plane; p++) {
        r += pixels[i * 3 * plane + p]!;
        b += pixels[i * 3 * plane + 2 * plane + p]!;
      }
      out.set(r > b ? this.red : this.other, i * this.embedDim);
    }
    return out;
  }
}

async function solidImages(root: string, name: string, rgb: [number, number, number], count: number): Promise<string[]> {
  mkdirSync(join(root, name), { recursive: true });
  const paths: string[] = [];
  for (let i = 0; i < count; i++) {
    const p = join(root, name, `${i}.png`);
    await sharp({ create: { width: 20, height: 24, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } })
      .png()
      .toFile(p);
    paths.push(p);
  }
  return paths;
}

test('filterConcepts: every filter triggers where the constructed embeddings say, in order, with a full report', async () => {
  // Dimensions: 0 bird, 1 car, 2 feather-ness, 3 wings, 4 wheels, 5 red paint, 6 green grass, 7 unrelated.
  const s = Math.sqrt(1 - 0.9 ** 2);
  const clip = new FakeText('fake-clip', 8, {
    bird: { 0: 1 },
    car: { 1: 1 },
    feathers: { 0: 0.9, 2: s }, // CLIP similarity to "bird": 0.9
    wings: { 3: 1 },
    'two wings': { 3: 0.95, 4: Math.sqrt(1 - 0.95 ** 2) }, // 0.95 to wings, 0.312 to wheels
    wheels: { 4: 1 },
    'red paint': { 5: 1 },
    'green grass': { 6: 1 },
  });
  const concepts = ['wings', 'a bird', 'feathers', 'an extraordinarily long concept name', 'two wings', 'wheels', 'red paint', 'green grass', ' wheels '];
  const root = tempDir('salf-filter-');
  const red = await solidImages(root, 'red', [230, 20, 20], 5);
  const blue = await solidImages(root, 'blue', [20, 20, 230], 2);
  const inv3 = 1 / Math.sqrt(3);
  const redEmb = Float32Array.from([0, 0, 0, inv3, inv3, inv3, 0, 0]);
  const otherEmb = Float32Array.from([0, 0, 0, 0, 0, 0, 0, 1]);
  const images = new ColourImages(8, redEmb, otherEmb);
  const logs: string[] = [];
  const result = await filterConcepts({
    concepts,
    classes: ['bird', 'car'],
    text: { clip },
    images: { encoder: images, paths: [...blue, ...red] },
    batchSize: 3,
    engine,
    progress: { start() {}, update() {}, stop() {}, log: (m) => logs.push(m) },
  });
  assert.equal(images.calls, 3, '7 images in batches of 3');
  assert.deepEqual(result.kept, ['red paint', 'two wings', 'wheels']);
  const r = result.report;
  assert.equal(r.given, 8, 'trimmed, each once');
  assert.deepEqual(
    r.stages.map((x) => x.stage),
    ['length', 'class-similarity', 'near-duplicate', 'absent-from-data'],
  );
  const [len, cls, dup, absent] = r.stages;
  assert.deepEqual(
    len!.dropped.map((d) => d.concept),
    ['an extraordinarily long concept name'],
  );
  assert.deepEqual(
    cls!.dropped.map((d) => [d.concept, d.match, d.note]),
    [
      ['a bird', 'bird', 'text match'],
      ['feathers', 'bird', undefined],
    ],
  );
  assert.ok(Math.abs(cls!.dropped[1]!.value - 0.9) < 1e-5);
  assert.deepEqual(
    dup!.dropped.map((d) => [d.concept, d.match]),
    [['wings', 'two wings']],
  );
  assert.ok(Math.abs(dup!.dropped[0]!.value - 0.95) < 1e-5);
  assert.deepEqual(
    absent!.dropped.map((d) => d.concept),
    ['green grass'],
  );
  assert.ok(Math.abs(absent!.dropped[0]!.value - 0) < 1e-6, 'green grass: similarity 0 with every image');
  assert.equal(absent!.input, 4);
  assert.equal(r.settings?.images, 7);
  // Every concept is either kept or dropped by exactly one stage.
  const all = [...r.kept, ...r.stages.flatMap((x) => x.dropped.map((d) => d.concept))].sort();
  assert.deepEqual(all, [...new Set(concepts.map((c) => c.trim()))].sort());
  const text = formatConceptReport(r);
  assert.match(text, /concepts: 8 given, 3 kept/);
  assert.match(text, /- "feathers" ~ "bird": 0\.900/);
  assert.match(text, /- "wings" ~ "two wings": 0\.950 \[summed similarity/);
  assert.equal(logs.length, 4);

  // With a sentence model that finds "feathers" unlike "bird" (0.3), the mix (0.3 + 3·0.9)/4 = 0.75 keeps it.
  const sentenceVector = (t: string): Record<number, number> => (t === 'feathers' ? { 0: 0.3, 1: Math.sqrt(1 - 0.09) } : t === 'bird' ? { 0: 1 } : { 1: 1 });
  const sentence = new FakeText(
    'fake-st',
    2,
    Object.fromEntries(['bird', 'car', 'feathers', 'wings', 'two wings', 'wheels', 'red paint', 'green grass'].map((t) => [t, sentenceVector(t)])),
  );
  const mixed = await filterConcepts({ concepts, classes: ['bird', 'car'], text: { clip, sentence }, engine, clipCutoff: 0.25 });
  const mcls = mixed.report.stages[1]!;
  assert.ok(!mcls.dropped.some((d) => d.concept === 'feathers'), 'feathers survives the mixed class similarity');
  assert.match(mcls.measure, /\(sentence \+ 3 × CLIP\)\/4/);
  assert.equal(mixed.report.stages[3]!.skipped, 'no training images given');
  assert.ok(mixed.kept.includes('feathers'));
  rmSync(root, { recursive: true, force: true });
});

test('filterConcepts: bad input is a clear error', async () => {
  const clip = new FakeText('c', 2, { a: { 0: 1 } });
  await assert.rejects(filterConcepts({ concepts: ['a'], classes: [], text: { clip } }), /no class names/);
  await assert.rejects(filterConcepts({ concepts: [' ', ''], classes: ['a'], text: { clip } }), /no concepts/);
  const images = new ColourImages(3, new Float32Array(3), new Float32Array(3));
  await assert.rejects(
    filterConcepts({
      concepts: ['b'],
      classes: ['a'],
      text: { clip: new FakeText('c', 2, { a: { 0: 1 }, b: { 1: 1 } }) },
      images: { encoder: images, paths: ['x.png'] },
    }),
    /differ in width/,
  );
});
