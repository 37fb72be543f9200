/**
 * The concept filters on the proving ground (issue 6): `filterConcepts` runs on the committed
 * CLIP-like model (its text tower for the text similarities, its image tower for the
 * absent-from-data filter) over the 48 training images of a generated world (seed 5), with a
 * concept list built so that each filter triggers where intended:
 *
 * - length: "a striped blue star on a plain background" (41 characters);
 * - class similarity: "a blue_star" (a class name after `a `, caught by the text match) and
 *   "blue star" (class `blue_star` in words; the text match compares the class name as given,
 *   underscore included, so this one is caught by its similarity, 0.9945);
 * - near-duplicates: "a star", which the model embeds at 0.997 to "star" and which has the
 *   smaller summed similarity, so "star" stays;
 * - absent from the data: "nothing", a word the tokenizer knows (the model's caption for a
 *   prompt circle with no object in it), while every training image shows objects;
 * - and the world's own words that must survive: the six shapes, the six colours and "striped".
 *
 * What the model measures (committed model, world seed 5, 48 training images):
 *
 * | quantity | values |
 * |---|---|
 * | text sim. of the world's words to the nearest class name | colours of classes 0.934–0.977 (green 0.977, blue 0.971, red 0.944, yellow 0.934); triangle 0.855, circle 0.839; others ≤ 0.77 |
 * | text sim. of class names in words to their class | "blue star" 0.9945 ("a blue star" 0.9966, every label 0.993–0.996) |
 * | text sim. between world words | ring–orange 0.918, ring–cross 0.917, star–striped 0.9165, star–dotted 0.919, square–solid 0.921; the patterns solid/striped/dotted 0.994–0.9995 |
 * | "a star" – "star" | 0.997 |
 * | mean top-5 image sim. | world words 0.46 (orange, in 6 images) – 0.61 (green); "nothing" 0.304, "background" 0.304; unknown words ("giraffe" 0.446, "zebra" 0.480) are not low |
 *
 * LF-CBM's defaults do not fit this model, and the first test records what they do here: the
 * 64-wide text tower (no transformer layers) puts a class name next to its colour word, so 0.85
 * drops red, yellow, green and blue as "class names"; the world's words sit at 0.91–0.92 from
 * one another and the three patterns at ≥ 0.994 (the model hardly tells patterns apart: its
 * recorded pattern accuracy is 0.39, chance 0.33), so 0.9 merges star, ring, square and the
 * patterns; and whole-image similarities never fall below 0.30, so a cutoff of 0.25 keeps
 * everything, "nothing" included. Five of the fifteen world words survive the defaults.
 *
 * The second test uses thresholds set between the measured groups: class similarity 0.985
 * (colour words ≤ 0.977, "blue star" 0.9945), near-duplicates 0.95 (world pairs ≤ 0.918, "a star"
 * 0.997) and image cutoff 0.38 ("nothing" 0.304, world words ≥ 0.46). Only "striped" of the three
 * patterns is in that list: at any duplicate cutoff below 0.994 the model merges them (shown
 * in the first test). The class-similarity window is narrow (±0.008); a retrained model needs
 * the measurements redone (the first test's diagnostics print them).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { filterConcepts, type FilterResult } from '../../src/concepts/filter.js';
import { topImageSimilarities } from '../../src/concepts/image-similarity.js';
import { formatConceptReport, type DroppedConcept, type StageReport } from '../../src/concepts/report.js';
import { Engine } from '../../src/engine/session.js';
import { ClipModel } from '../../src/models/clip.js';
import { CLASSES } from '../../src/proving-ground/classes.js';
import { generateWorld, loadAnnotation, readIndex } from '../../src/proving-ground/dataset.js';
import { provingGroundAssets } from '../../src/proving-ground/demo.js';
import { COLOURS, PATTERNS, SHAPES } from '../../src/proving-ground/vocab.js';
import { tempDir } from '../helpers/paths.js';

const LONG = 'a striped blue star on a plain background';
const CLASS_TEXT = 'a blue_star';
const CLASS_SIMILAR = 'blue star';
const DUPLICATE = 'a star';
const DUPLICATE_OF = 'star';
const ABSENT = 'nothing';
const TRIGGERS = [LONG, CLASS_TEXT, CLASS_SIMILAR, DUPLICATE, ABSENT];
/** The world's words kept by the calibrated filters: shapes, colours and one pattern. */
const WORLD = [...SHAPES, ...COLOURS, 'striped'];
const CLASS_NAMES = CLASSES.map((c) => c.name);
/** Colour words of classes: LF-CBM's 0.85 takes them for class names on this model. */
const CLASS_COLOURS = [...new Set(CLASSES.map((c) => c.colour))];

/** Thresholds between the measured groups (see the header). */
const CALIBRATED = { classSimilarity: 0.985, duplicateSimilarity: 0.95, clipCutoff: 0.38 } as const;

const root = tempDir('salf-pg-filter-');
const engine = new Engine({ threads: 1 });
let clip: ClipModel;
let paths: string[];
/** Per measured concept: largest text similarity to a class name and mean top-5 image similarity. */
const classMax = new Map<string, { value: number; cls: string }>();
const top5 = new Map<string, number>();
let textEmb: Map<string, Float32Array>;
/** Per world word: training images showing it (a visible object with that shape, colour or pattern). */
const shown = new Map<string, number>();
let imagesWithoutObjects = 0;

function cosine(a: string, b: string): number {
  const x = textEmb.get(a)!;
  const y = textEmb.get(b)!;
  let s = 0;
  for (let k = 0; k < x.length; k++) s += x[k]! * y[k]!;
  return s;
}

before(async () => {
  const world = join(root, 'world');
  await generateWorld({ seed: 5, counts: { train: 48, val: 0, test: 0, shifted: 0 }, outDir: world });
  const entries = readIndex(world).train;
  paths = entries.map((e) => join(world, e.image));
  for (const e of entries) {
    const objects = loadAnnotation(world, e.id).objects.filter((o) => o.area > 0);
    if (objects.length === 0) imagesWithoutObjects++;
    for (const w of new Set(objects.flatMap((o) => [o.shape, o.colour, o.pattern]))) shown.set(w, (shown.get(w) ?? 0) + 1);
  }
  clip = await ClipModel.load(join(provingGroundAssets(), 'clip'));

  const measured = [...new Set([...SHAPES, ...COLOURS, ...PATTERNS, ...TRIGGERS.slice(1)])];
  const E = clip.embedDim;
  const T = await clip.encodeTexts(measured);
  const C = await clip.encodeTexts(CLASS_NAMES);
  textEmb = new Map(
    [...measured, ...CLASS_NAMES].map((t, i) => [
      t,
      i < measured.length ? T.slice(i * E, (i + 1) * E) : C.slice((i - measured.length) * E, (i - measured.length + 1) * E),
    ]),
  );
  for (const c of measured) {
    let best = { value: -Infinity, cls: '' };
    for (const cls of CLASS_NAMES) {
      const v = cosine(c, cls);
      if (v > best.value) best = { value: v, cls };
    }
    classMax.set(c, best);
  }
  const top = await topImageSimilarities(clip, paths, T, measured.length, { engine });
  measured.forEach((c, i) => top5.set(c, top.means[i]!));
});

after(async () => {
  await clip?.dispose();
  await engine.dispose();
  rmSync(root, { recursive: true, force: true });
});

function stage(result: FilterResult, name: StageReport['stage']): StageReport {
  const s = result.report.stages.find((x) => x.stage === name);
  assert.ok(s, `no ${name} stage in the report`);
  return s;
}

function names(dropped: readonly DroppedConcept[]): string[] {
  return dropped.map((d) => d.concept).sort();
}

function entry(s: StageReport, concept: string): DroppedConcept {
  const d = s.dropped.find((x) => x.concept === concept);
  assert.ok(d, `"${concept}" not dropped by ${s.stage}: ${JSON.stringify(s.dropped)}`);
  return d;
}

const fmt = (v: number): string => v.toFixed(4);

test("the measurements the thresholds rest on: the model separates each trigger from the world's words, with margins", (t) => {
  // The world grounds "present" and "absent": every kept word is shown, every image shows objects.
  assert.equal(paths.length, 48);
  assert.equal(imagesWithoutObjects, 0, 'every training image shows at least one object, so "nothing" is absent');
  for (const w of WORLD) assert.ok((shown.get(w) ?? 0) >= 3, `"${w}" is shown in ${shown.get(w) ?? 0} training images`);
  assert.equal(clip.tokenize(ABSENT).length, 3, '"nothing" is one known token (with start and end)');

  const worldClass = WORLD.map((w) => [w, classMax.get(w)!] as const).sort((a, b) => b[1].value - a[1].value);
  t.diagnostic(
    `class similarity (nearest class name): ${[...worldClass, ...[CLASS_SIMILAR, DUPLICATE, ABSENT].map((c) => [c, classMax.get(c)!] as const)].map(([w, v]) => `${w} ${fmt(v.value)} (${v.cls})`).join(', ')}`,
  );
  const pairs: [string, string, number][] = [];
  for (let i = 0; i < WORLD.length; i++) for (let j = i + 1; j < WORLD.length; j++) pairs.push([WORLD[i]!, WORLD[j]!, cosine(WORLD[i]!, WORLD[j]!)]);
  pairs.sort((a, b) => b[2] - a[2]);
  t.diagnostic(
    `closest world pairs: ${pairs
      .slice(0, 6)
      .map(([a, b, v]) => `${a}–${b} ${fmt(v)}`)
      .join(
        ', ',
      )}; patterns: ${PATTERNS.map((p, i) => `${p}–${PATTERNS[(i + 1) % 3]} ${fmt(cosine(p, PATTERNS[(i + 1) % 3]!))}`).join(', ')}; "${DUPLICATE}"–"${DUPLICATE_OF}" ${fmt(cosine(DUPLICATE, DUPLICATE_OF))}`,
  );
  const worldTop = WORLD.map((w) => [w, top5.get(w)!] as const).sort((a, b) => a[1] - b[1]);
  t.diagnostic(`mean top-5 image similarity: ${[...worldTop, [ABSENT, top5.get(ABSENT)!] as const].map(([w, v]) => `${w} ${fmt(v)}`).join(', ')}`);

  // Class similarity: the world's words stay ≤ 0.98 (green 0.977), a class name in words ≥ 0.99.
  assert.ok(worldClass[0]![1].value <= 0.98, `largest class similarity of a world word ${worldClass[0]![0]}: ${fmt(worldClass[0]![1].value)}`);
  assert.ok(classMax.get(CLASS_SIMILAR)!.value >= 0.99, `"${CLASS_SIMILAR}": ${fmt(classMax.get(CLASS_SIMILAR)!.value)}`);
  assert.equal(classMax.get(CLASS_SIMILAR)!.cls, 'blue_star');
  assert.ok(worldClass[0]![1].value < CALIBRATED.classSimilarity && CALIBRATED.classSimilarity < classMax.get(CLASS_SIMILAR)!.value);
  // ... while LF-CBM's 0.85 is below every colour of a class (≥ 0.93).
  for (const c of CLASS_COLOURS) assert.ok(classMax.get(c)!.value >= 0.9, `${c}: ${fmt(classMax.get(c)!.value)}`);

  // Near-duplicates: world pairs ≤ 0.93 (0.918), "a star"–"star" ≥ 0.99; the patterns ≥ 0.99 too.
  assert.ok(pairs[0]![2] <= 0.93, `closest world pair ${pairs[0]![0]}–${pairs[0]![1]}: ${fmt(pairs[0]![2])}`);
  assert.ok(pairs[0]![2] > 0.9, "LF-CBM's 0.9 merges distinct world words on this model");
  assert.ok(cosine(DUPLICATE, DUPLICATE_OF) >= 0.99, `"${DUPLICATE}"–"${DUPLICATE_OF}": ${fmt(cosine(DUPLICATE, DUPLICATE_OF))}`);
  for (let i = 0; i < 3; i++) assert.ok(cosine(PATTERNS[i]!, PATTERNS[(i + 1) % 3]!) >= 0.99, `${PATTERNS[i]} and ${PATTERNS[(i + 1) % 3]} embed alike`);
  // No trigger that reaches the duplicate stage is close to a world word other than its pair.
  for (const w of WORLD) if (w !== DUPLICATE_OF) assert.ok(cosine(DUPLICATE, w) <= 0.93 && cosine(ABSENT, w) <= 0.93, `${w}`);

  // Absent from the data: "nothing" ≤ 0.34 (0.304), world words ≥ 0.43 (orange 0.461); all above 0.25.
  assert.ok(top5.get(ABSENT)! <= 0.34, `"${ABSENT}": ${fmt(top5.get(ABSENT)!)}`);
  assert.ok(worldTop[0]![1] >= 0.43, `least image similarity of a world word ${worldTop[0]![0]}: ${fmt(worldTop[0]![1])}`);
  assert.ok(top5.get(ABSENT)! > 0.25 + 0.03, 'LF-CBM\'s 0.25 does not catch "nothing" on this model');
});

test('LF-CBM\'s defaults on the proving ground: the length and class-name triggers fire, but world words go as class names and near-duplicates and "nothing" stays', async (t) => {
  const started = Date.now();
  const result = await filterConcepts({
    concepts: [...SHAPES, ...COLOURS, ...PATTERNS, ...TRIGGERS],
    classes: CLASS_NAMES,
    text: { clip },
    images: { encoder: clip, paths },
    engine,
  });
  t.diagnostic(`filterConcepts: ${Date.now() - started} ms`);
  for (const line of formatConceptReport(result.report).trimEnd().split('\n')) t.diagnostic(line);
  assert.equal(result.report.given, 20);

  assert.deepEqual(stage(result, 'length').dropped, [{ concept: LONG, value: [...LONG].length }]);

  const cls = stage(result, 'class-similarity');
  assert.equal(cls.threshold, 0.85);
  assert.deepEqual(entry(cls, CLASS_TEXT), { concept: CLASS_TEXT, value: 1, match: 'blue_star', note: 'text match' });
  const bs = entry(cls, CLASS_SIMILAR);
  assert.equal(bs.match, 'blue_star');
  assert.ok(Math.abs(bs.value - classMax.get(CLASS_SIMILAR)!.value) < 1e-5);
  for (const c of CLASS_COLOURS) {
    const d = entry(cls, c);
    assert.ok(Math.abs(d.value - classMax.get(c)!.value) < 1e-5 && d.value >= 0.9, `${c}: ${d.value}`);
    assert.ok(d.match!.startsWith(`${c}_`), `${c} matched ${d.match}`);
  }
  for (const d of cls.dropped) assert.ok(d.value >= 0.85);
  // triangle (0.855) and circle (0.839) sit within 0.015 of the cutoff: not asserted either way.
  for (const w of [...SHAPES, ...COLOURS, ...PATTERNS, DUPLICATE, ABSENT]) {
    if (classMax.get(w)!.value < 0.83) assert.ok(!cls.dropped.some((d) => d.concept === w), `${w} dropped at ${classMax.get(w)!.value}`);
  }

  const dup = stage(result, 'near-duplicate');
  assert.equal(dup.threshold, 0.9);
  const patternsLost = dup.dropped.filter((d) => (PATTERNS as readonly string[]).includes(d.concept));
  assert.equal(patternsLost.length, 2, 'two of the three patterns merge into the third');
  for (const d of patternsLost) assert.ok(d.value >= 0.99 && (PATTERNS as readonly string[]).includes(d.match!), JSON.stringify(d));
  const wordsLost = dup.dropped.filter((d) => (SHAPES as readonly string[]).includes(d.concept) || (COLOURS as readonly string[]).includes(d.concept));
  assert.ok(wordsLost.length >= 1, "LF-CBM's 0.9 merges distinct shapes or colours of the world");
  for (const d of dup.dropped) assert.ok(d.value >= 0.9 && /summed similarity/.test(d.note ?? ''));

  const absent = stage(result, 'absent-from-data');
  assert.equal(absent.threshold, 0.25);
  assert.deepEqual(absent.dropped, [], "every concept's top-5 image similarity is above 0.25 here");
  assert.ok(result.kept.includes(ABSENT), '"nothing" survives LF-CBM\'s cutoff');
  for (const c of CLASS_COLOURS) assert.ok(!result.kept.includes(c));
  const worldKept = result.kept.filter((c) => c !== ABSENT);
  assert.ok(worldKept.length <= 8, `${worldKept.length} of 15 world words kept: ${worldKept.join(', ')}`);
});

test('thresholds set from the measurements: each filter drops exactly its trigger, with the deciding value, and every world word is kept', async (t) => {
  const started = Date.now();
  const result = await filterConcepts({
    concepts: [...WORLD, ...TRIGGERS],
    classes: CLASS_NAMES,
    text: { clip },
    images: { encoder: clip, paths },
    engine,
    ...CALIBRATED,
  });
  t.diagnostic(`filterConcepts: ${Date.now() - started} ms`);
  for (const line of formatConceptReport(result.report).trimEnd().split('\n')) t.diagnostic(line);
  const report = result.report;
  assert.equal(report.given, WORLD.length + TRIGGERS.length);
  assert.deepEqual(
    report.stages.map((s) => [s.stage, s.threshold]),
    [
      ['length', 30],
      ['class-similarity', CALIBRATED.classSimilarity],
      ['near-duplicate', CALIBRATED.duplicateSimilarity],
      ['absent-from-data', CALIBRATED.clipCutoff],
    ],
  );
  assert.equal(report.settings?.images, 48);

  // Length: the value is the length in characters.
  const length = stage(result, 'length');
  assert.deepEqual(length.dropped, [{ concept: LONG, value: 41 }]);

  // Class similarity: the text match (value 1) and the class name in words (its similarity).
  const cls = stage(result, 'class-similarity');
  assert.equal(cls.input, report.given - 1);
  assert.deepEqual(names(cls.dropped), [CLASS_TEXT, CLASS_SIMILAR].sort());
  assert.deepEqual(entry(cls, CLASS_TEXT), { concept: CLASS_TEXT, value: 1, match: 'blue_star', note: 'text match' });
  const bs = entry(cls, CLASS_SIMILAR);
  assert.equal(bs.match, 'blue_star');
  assert.equal(bs.note, undefined);
  assert.ok(Math.abs(bs.value - classMax.get(CLASS_SIMILAR)!.value) < 1e-5, `${bs.value} vs ${classMax.get(CLASS_SIMILAR)!.value}`);
  assert.ok(bs.value >= 0.99 && bs.value <= 1 + 1e-6, `${bs.value}`);
  assert.match(cls.measure, /CLIP text tower/);

  // Near-duplicates: "a star" goes, "star" (the larger summed similarity) stays.
  const dup = stage(result, 'near-duplicate');
  assert.deepEqual(names(dup.dropped), [DUPLICATE]);
  const d = entry(dup, DUPLICATE);
  assert.equal(d.match, DUPLICATE_OF);
  assert.ok(Math.abs(d.value - cosine(DUPLICATE, DUPLICATE_OF)) < 1e-5 && d.value >= 0.99, `${d.value}`);
  const sums = /^summed similarity (\d+\.\d+) < (\d+\.\d+)$/.exec(d.note ?? '');
  assert.ok(sums, `note: ${d.note}`);
  assert.ok(Number(sums[1]) < Number(sums[2]));

  // Absent from the data: "nothing", with its mean top-5 image similarity.
  const absent = stage(result, 'absent-from-data');
  assert.deepEqual(names(absent.dropped), [ABSENT]);
  const a = entry(absent, ABSENT);
  assert.ok(Math.abs(a.value - top5.get(ABSENT)!) < 1e-5 && a.value <= 0.34, `${a.value}`);
  assert.match(absent.measure, /over 48 training images/);

  // Every world word is kept, in code-point order, and every concept is decided once.
  assert.deepEqual(result.kept, [...WORLD].sort());
  assert.deepEqual(report.kept, result.kept);
  const decided = [...result.kept, ...report.stages.flatMap((s) => s.dropped.map((x) => x.concept))].sort();
  assert.deepEqual(decided, [...WORLD, ...TRIGGERS].sort());
  assert.deepEqual(result.skipped, []);
});
