import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import {
  CLASSES,
  classifyObjects,
  classIndexOf,
  CONCEPTS,
  conceptKind,
  conceptMaskFromLabels,
  decodePng,
  generateWorld,
  HELD_OUT,
  IN_DISTRIBUTION_BACKGROUNDS,
  isHeldOut,
  largestObjectIndex,
  loadAnnotation,
  loadConceptMask,
  loadLabelMask,
  nearestColour,
  nominalArea,
  readIndex,
  readWorld,
  renderWorldImage,
  rgbToHsv,
  sampleScene,
  shapeTest,
  SHIFTED_BACKGROUNDS,
  SPLITS,
  type SceneObject,
} from '../../src/proving-ground/index.js';
import { scanImageFolder } from '../../src/data/image-folder.js';
import { tempDir } from '../helpers/paths.js';

function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out;
}

function digest(dir: string): Map<string, string> {
  return new Map(
    listFiles(dir).map((f) => [
      f,
      createHash('sha256')
        .update(readFileSync(join(dir, f)))
        .digest('hex'),
    ]),
  );
}

const small = { train: 10, val: 3, test: 3, shifted: 4 };

test('same seed gives the same bytes; another seed gives other images', async () => {
  const a = tempDir('pg-a-');
  const b = tempDir('pg-b-');
  const c = tempDir('pg-c-');
  await generateWorld({ seed: 7, counts: small, size: 96, outDir: a });
  await generateWorld({ seed: 7, counts: small, size: 96, outDir: b });
  await generateWorld({ seed: 8, counts: small, size: 96, outDir: c });
  const da = digest(a);
  const db = digest(b);
  assert.equal(da.size, 4 + 20 * 3); // world, index, 2 split files, 20 × (image, mask, annotation)
  assert.deepEqual([...da.entries()], [...db.entries()]);
  const dc = digest(c);
  const images = [...da.keys()].filter((f) => f.startsWith('images/'));
  assert.equal(images.length, 20);
  for (const f of images) {
    const other = [...dc.entries()].find(([k]) => k.endsWith(f.split('/').pop()!));
    assert.ok(other, `seed 8 lacks ${f}`);
    assert.notEqual(other[1], da.get(f), `${f} identical under another seed`);
  }
  // Regenerating into a previous world's folder replaces it.
  await generateWorld({ seed: 7, counts: small, size: 96, outDir: c });
  assert.deepEqual([...digest(c).entries()], [...da.entries()]);
});

test('a split does not depend on how many images are generated', () => {
  for (let i = 0; i < 6; i++) {
    const x = renderWorldImage(3, 'train', i, 64);
    const y = renderWorldImage(3, 'train', i, 64);
    assert.deepEqual(x.annotation, y.annotation);
    assert.deepEqual(x.rendered.image.data, y.rendered.image.data);
  }
  assert.notDeepEqual(renderWorldImage(3, 'train', 0, 64).annotation.objects, renderWorldImage(3, 'val', 0, 64).annotation.objects);
});

test('written masks agree with the pixels and with the geometry', async () => {
  const dir = tempDir('pg-mask-');
  const counts = { train: 8, val: 2, test: 2, shifted: 4 };
  const world = await generateWorld({ seed: 11, counts, outDir: dir });
  assert.equal(world.size, 224);
  assert.deepEqual(readWorld(dir).classes, world.classes);
  const splits = readIndex(dir);
  let objectPixels = 0;
  for (const split of SPLITS) {
    assert.equal(splits[split].length, counts[split]);
    for (const entry of splits[split]) {
      const png = decodePng(readFileSync(join(dir, entry.image)));
      assert.equal(png.channels, 3);
      assert.equal(png.width, 224);
      const labels = loadLabelMask(dir, entry.id);
      const ann = loadAnnotation(dir, entry.id);
      assert.equal(ann.label, entry.label);
      assert.ok(entry.image.includes(`/${entry.label}/`));
      const tests = ann.objects.map((o) => shapeTest(o));
      const areas = new Array<number>(ann.objects.length).fill(0);
      for (let y = 0; y < 224; y++)
        for (let x = 0; x < 224; x++) {
          const i = y * 224 + x;
          const k = labels[i]!;
          const [r, g, b] = [png.data[i * 3]!, png.data[i * 3 + 1]!, png.data[i * 3 + 2]!];
          const [, sat] = rgbToHsv(r, g, b);
          if (k === 0) {
            assert.ok(sat < 0.3, `${entry.id} background pixel (${x},${y}) too saturated: ${sat}`);
          } else {
            const o = ann.objects[k - 1]!;
            areas[k - 1]!++;
            objectPixels++;
            const isFill = r === o.fill[0] && g === o.fill[1] && b === o.fill[2];
            const isShade = r === o.shade[0] && g === o.shade[1] && b === o.shade[2];
            assert.ok(isFill || isShade, `${entry.id} (${x},${y}) is not object ${k}'s colour`);
            if (o.pattern === 'solid') assert.ok(isFill);
            assert.ok(sat > 0.6, `${entry.id} object pixel (${x},${y}) unsaturated`);
            assert.equal(nearestColour(r, g, b), o.colour, `${entry.id} (${x},${y}) hue family`);
          }
          // Geometry: a pixel is labelled with the last object covering its centre.
          let expect = 0;
          tests.forEach((inside, j) => {
            if (inside(x + 0.5, y + 0.5)) expect = j + 1;
          });
          assert.equal(k, expect, `${entry.id} (${x},${y}) label`);
        }
      ann.objects.forEach((o, j) => {
        assert.equal(o.area, areas[j]);
        if (o.pattern !== 'solid' && o.area > 200) {
          const shaded = labels.reduce(
            (n, l, i) =>
              n + (l === j + 1 && png.data[i * 3] === o.shade[0] && png.data[i * 3 + 1] === o.shade[1] && png.data[i * 3 + 2] === o.shade[2] ? 1 : 0),
            0,
          );
          assert.ok(shaded > 0.1 * o.area && shaded < 0.7 * o.area, `${entry.id} object ${j + 1} ${o.pattern}: ${shaded}/${o.area} shaded`);
        }
      });
      // Concept masks are the union of the masks of the objects that carry the concept.
      for (const concept of CONCEPTS) {
        const mask = loadConceptMask(dir, entry.id, concept);
        const kind = conceptKind(concept);
        for (let i = 0; i < labels.length; i++) {
          const k = labels[i]!;
          const want = k > 0 && ann.objects[k - 1]![kind] === concept ? 1 : 0;
          if (mask[i] !== want) assert.fail(`${entry.id} concept ${concept} pixel ${i}: ${mask[i]} != ${want}`);
        }
      }
      // The main object is whole, and the largest visible object.
      const main = ann.objects[ann.mainObject]!;
      assert.ok(main.area > 0.9 * nominalArea(main));
      assert.ok(ann.objects.every((o) => o === main || o.area < main.area));
    }
  }
  assert.ok(objectPixels > 16 * 3000);
});

test('concept masks from labels: union over objects, zero when absent', () => {
  const labels = Uint8Array.from([0, 1, 2, 3, 3, 2, 1, 0]);
  const objects = [
    { shape: 'star', colour: 'blue', pattern: 'solid' },
    { shape: 'star', colour: 'red', pattern: 'dotted' },
    { shape: 'ring', colour: 'blue', pattern: 'striped' },
  ] as const;
  assert.deepEqual([...conceptMaskFromLabels(labels, objects, 'star')], [0, 1, 1, 0, 0, 1, 1, 0]);
  assert.deepEqual([...conceptMaskFromLabels(labels, objects, 'blue')], [0, 1, 0, 1, 1, 0, 1, 0]);
  assert.deepEqual([...conceptMaskFromLabels(labels, objects, 'striped')], [0, 0, 0, 1, 1, 0, 0, 0]);
  assert.deepEqual([...conceptMaskFromLabels(labels, objects, 'cross')], [0, 0, 0, 0, 0, 0, 0, 0]);
  assert.throws(() => conceptMaskFromLabels(labels, objects, 'hexagon'), /unknown concept "hexagon"/);
  assert.throws(() => loadConceptMask('/nonexistent', 'bogus', 'star'), /malformed proving-ground image id/);
});

function obj(shape: SceneObject['shape'], colour: SceneObject['colour'], radius: number): Pick<SceneObject, 'shape' | 'colour' | 'radius'> {
  return { shape, colour, radius };
}

test('class rule: shape and colour of the largest object', () => {
  const blueStar = classIndexOf('star', 'blue');
  const greenSquare = classIndexOf('square', 'green');
  assert.ok(blueStar >= 0 && greenSquare >= 0);
  assert.equal(classifyObjects([obj('star', 'blue', 40), obj('circle', 'red', 20)]), blueStar);
  // Distractors carrying another class's pair, listed first, do not decide.
  assert.equal(classifyObjects([obj('square', 'green', 20), obj('star', 'blue', 40)]), blueStar);
  assert.equal(classifyObjects([obj('star', 'blue', 20), obj('square', 'green', 40)]), greenSquare);
  // Area, not radius: a star of radius 30 (area ≈ 1190) is smaller than a circle of radius 25 (≈ 1963).
  assert.equal(largestObjectIndex([obj('star', 'red', 30), obj('circle', 'yellow', 25)]), 1);
  assert.equal(classifyObjects([obj('star', 'red', 30), obj('circle', 'yellow', 25)]), classIndexOf('circle', 'yellow'));
  // Neither shape nor colour alone decides: same colour, other shape; same shape, other colour.
  assert.notEqual(classifyObjects([obj('square', 'blue', 40)]), blueStar);
  assert.notEqual(classifyObjects([obj('star', 'red', 40)]), blueStar);
  // A largest object whose pair is no class.
  assert.equal(classifyObjects([obj('cross', 'purple', 50), obj('star', 'blue', 20)]), -1);
  assert.equal(classifyObjects([]), -1);
  // Every class's shape and colour is shared with another class.
  for (const c of CLASSES) {
    assert.ok(CLASSES.some((d) => d !== c && d.shape === c.shape));
    assert.ok(CLASSES.some((d) => d !== c && d.colour === c.colour));
  }
});

test('sampled scenes obey the rule; splits differ as designed', () => {
  const n = 240;
  const seen = new Set<string>();
  for (const split of SPLITS) {
    const perClass = new Array<number>(CLASSES.length).fill(0);
    let withDistractorOfOtherClass = 0;
    const counts = new Set<number>();
    for (let i = 0; i < n; i++) {
      const { scene, classIndex, mainObject } = sampleScene(5, split, i);
      perClass[classIndex]!++;
      counts.add(scene.objects.length);
      assert.ok(scene.objects.length >= 1 && scene.objects.length <= 4);
      assert.equal(classifyObjects(scene.objects), classIndex);
      assert.equal(largestObjectIndex(scene.objects), mainObject);
      const key = JSON.stringify(scene.objects.map((o) => [o.cx, o.cy]));
      assert.ok(!seen.has(key), 'two identical scenes across splits');
      seen.add(key);
      const distractors = scene.objects.filter((_, j) => j !== mainObject);
      const held = distractors.filter((o) => isHeldOut(o.shape, o.colour)).length;
      if (distractors.some((o) => classIndexOf(o.shape, o.colour) >= 0 && classIndexOf(o.shape, o.colour) !== classIndex)) withDistractorOfOtherClass++;
      if (split === 'shifted') {
        assert.ok(held >= 1, `shifted ${i} has no held-out combination`);
        assert.ok(SHIFTED_BACKGROUNDS.includes(scene.background.style));
      } else {
        assert.equal(held, 0, `${split} ${i} shows a held-out combination`);
        assert.ok(IN_DISTRIBUTION_BACKGROUNDS.includes(scene.background.style));
      }
    }
    assert.deepEqual(perClass, new Array<number>(CLASSES.length).fill(n / CLASSES.length));
    if (split !== 'shifted') assert.deepEqual([...counts].sort(), [1, 2, 3, 4]);
    assert.ok(withDistractorOfOtherClass > n / 10, `${split}: too few confusing distractors`);
    if (split === 'shifted') {
      const combos = new Set(
        Array.from({ length: n }, (_, i) => sampleScene(5, split, i).scene.objects)
          .flat()
          .filter((o) => isHeldOut(o.shape, o.colour))
          .map((o) => `${o.colour} ${o.shape}`),
      );
      assert.equal(combos.size, HELD_OUT.length, 'every held-out combination appears in the shifted split');
    }
  }
});

test('the images form an image folder with split files for the in-distribution and shifted tests', async () => {
  const dir = tempDir('pg-folder-');
  const counts = { train: 16, val: 8, test: 8, shifted: 9 };
  const world = await generateWorld({ seed: 2, counts, size: 48, outDir: dir });
  const names = world.classes.map((c) => c.name);
  assert.deepEqual(names, [...names].sort(), 'classes listed in folder order');
  const plain = scanImageFolder(join(dir, 'images'), { splitFile: join(dir, world.files.splitFile) });
  assert.deepEqual(plain.classes, names);
  assert.equal(plain.samples.length, 16 + 8 + 8 + 9);
  const index = readIndex(dir);
  for (const split of ['train', 'val', 'test'] as const) {
    const got = plain
      .split(split)
      .map((s) => relative(dir, s.path).split('\\').join('/'))
      .sort();
    assert.deepEqual(got, index[split].map((e) => e.image).sort());
    for (const s of plain.split(split)) assert.equal(names[s.label], s.path.split(/[\\/]/).at(-2));
  }
  const shifted = scanImageFolder(join(dir, 'images'), { splitFile: join(dir, world.files.shiftedSplitFile) });
  assert.deepEqual(
    shifted.split('train').map((s) => s.path),
    plain.split('train').map((s) => s.path),
  );
  const shiftedTest = shifted.split('test');
  assert.equal(shiftedTest.length, 9);
  assert.ok(shiftedTest.every((s) => /shifted-\d{5}\.png$/.test(s.path)));
  for (const s of shiftedTest) {
    const id = s.path.split(/[\\/]/).at(-1)!.replace('.png', '');
    assert.equal(loadAnnotation(dir, id).classIndex, s.label);
  }
  await assert.rejects(generateWorld({ seed: 2, counts: { ...counts, train: 7 }, size: 48, outDir: tempDir() }), /counts.train must be at least 8/);
  const foreign = tempDir('pg-foreign-');
  writeFileSync(join(foreign, 'keep.txt'), 'x');
  await assert.rejects(generateWorld({ seed: 2, counts, size: 48, outDir: foreign }), /not empty and holds no world.json/);
});
