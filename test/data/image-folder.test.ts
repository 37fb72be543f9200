import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import sharp from 'sharp';
import { iterateBatches, loadBatch, readSplitFile, scanImageFolder, splitSamples, type Sample } from '../../src/data/image-folder.js';
import { decodeRgb } from '../../src/data/image-io.js';
import { removedAfterTests } from '../helpers/paths.js';

/** A temporary folder removed when the tests end. */
const tempDir = removedAfterTests();

/** Writes a small solid-colour image; the format follows the extension. */
async function writeImage(path: string, grey: number): Promise<void> {
  mkdirSync(dirname(path), { recursive: true });
  const img = sharp(Buffer.alloc(8 * 6 * 3, grey), { raw: { width: 8, height: 6, channels: 3 } });
  const ext = path.slice(path.lastIndexOf('.') + 1).toLowerCase();
  const out = ext === 'png' ? img.png() : ext === 'webp' ? img.webp({ lossless: true }) : img.jpeg();
  await out.toFile(path);
}

/** root/cat: a.jpg, b.PNG, sub/d.jpeg, notes.txt; root/dog: x.png, y.webp; plus hidden entries. */
async function makeDataset(): Promise<string> {
  const root = tempDir('salf-folder-');
  await writeImage(join(root, 'dog', 'y.webp'), 40);
  await writeImage(join(root, 'dog', 'x.png'), 50);
  await writeImage(join(root, 'cat', 'b.PNG'), 60);
  await writeImage(join(root, 'cat', 'a.jpg'), 70);
  await writeImage(join(root, 'cat', 'sub', 'd.jpeg'), 80);
  await writeImage(join(root, '.cache', 'z.png'), 90);
  await writeImage(join(root, 'cat', '.thumb.png'), 90);
  writeFileSync(join(root, 'cat', 'notes.txt'), 'hello');
  writeFileSync(join(root, 'README.md'), 'not a class');
  return root;
}

test('scan: sorted classes, labels, case-insensitive extensions, nested files, sorted paths', async () => {
  const root = await makeDataset();
  const f = scanImageFolder(root);
  assert.equal(f.root, root);
  assert.deepEqual(f.classes, ['cat', 'dog']);
  assert.deepEqual(
    f.samples.map((s) => [s.path, s.label]),
    [
      [join(root, 'cat', 'a.jpg'), 0],
      [join(root, 'cat', 'b.PNG'), 0],
      [join(root, 'cat', 'sub', 'd.jpeg'), 0],
      [join(root, 'dog', 'x.png'), 1],
      [join(root, 'dog', 'y.webp'), 1],
    ],
  );
  assert.equal(f.split('train'), f.samples);
  assert.throws(() => f.split('val'), /no "val" split: pass a split file or holdout fractions/);
  // Restricting extensions.
  const pngOnly = scanImageFolder(root, { extensions: ['PNG'] });
  assert.deepEqual(
    pngOnly.samples.map((s) => s.label),
    [0, 1],
  );
});

test('scan: missing root, empty root and a class folder without images are clear errors', async () => {
  const missing = join(tempDir('salf-folder-'), 'absent');
  assert.throws(
    () => scanImageFolder(missing),
    (e: Error) => e.message === `${missing}: cannot read the image folder (ENOENT)`,
  );
  const empty = tempDir('salf-folder-');
  assert.throws(
    () => scanImageFolder(empty),
    (e: Error) => e.message.startsWith(`${empty}: no class folders`),
  );

  const root = await makeDataset();
  mkdirSync(join(root, 'emu'));
  writeFileSync(join(root, 'emu', 'bird.bmp'), 'BM');
  assert.throws(
    () => scanImageFolder(root),
    (e: Error) => e.message.startsWith(`${join(root, 'emu')}: class folder "emu" holds no images`) && e.message.includes('.bmp'),
  );
});

test('split file: TSV/CSV text and JSON', async () => {
  const root = await makeDataset();
  const splits = tempDir('salf-splits-');
  const tsv = join(splits, 'split.tsv');
  writeFileSync(tsv, ['# path<TAB>split', 'cat/a.jpg\ttrain', './cat/sub/d.jpeg\tval', '', 'dog/x.png,test', 'dog/y.webp\ttrain'].join('\n'));
  const f = scanImageFolder(root, { splitFile: tsv });
  const names = (s: Sample[]): string[] => s.map((x) => x.path.slice(root.length + 1));
  assert.deepEqual(names(f.split('train')), ['cat/a.jpg', 'dog/y.webp']);
  assert.deepEqual(names(f.split('val')), ['cat/sub/d.jpeg']);
  assert.deepEqual(names(f.split('test')), ['dog/x.png']);
  assert.equal(f.samples.length, 5); // cat/b.PNG is unlisted: in no split, still a sample

  const json = join(splits, 'split.json');
  writeFileSync(json, JSON.stringify({ train: ['cat/a.jpg', 'cat/b.PNG', 'dog/x.png'], val: ['dog/y.webp'] }));
  const g = scanImageFolder(root, { splitFile: json });
  assert.deepEqual(names(g.split('train')), ['cat/a.jpg', 'cat/b.PNG', 'dog/x.png']);
  assert.deepEqual(names(g.split('test')), []);

  const bad = join(splits, 'bad.tsv');
  writeFileSync(bad, 'cat/a.jpg\ttrain\ncat/b.PNG\ttraining\n');
  assert.throws(
    () => readSplitFile(bad),
    (e: Error) => e.message.startsWith(`${bad}:2: unknown split "training"`),
  );
  writeFileSync(bad, 'cat/a.jpg\ttrain\ncat/a.jpg\ttest\n');
  assert.throws(() => readSplitFile(bad), /listed in both "train" and "test"/);
  writeFileSync(bad, 'cat/zzz.jpg\ttrain\n');
  assert.throws(() => scanImageFolder(root, { splitFile: bad }), /1 listed path\(s\) are not images of the folder, e\.g\. cat\/zzz\.jpg/);
  writeFileSync(bad, 'just-a-path\n');
  assert.throws(() => readSplitFile(bad), /:1: expected "relative\/path<TAB>split"/);
});

test('splitSamples: deterministic, seeded, stratified per class, a partition in input order', () => {
  const samples: Sample[] = [];
  for (let label = 0; label < 3; label++) {
    const n = [10, 40, 3][label]!;
    for (let i = 0; i < n; i++) samples.push({ path: `c${label}/${i}.jpg`, label });
  }
  const a = splitSamples(samples, { val: 0.2, test: 0.1, seed: 7 });
  const b = splitSamples(samples, { val: 0.2, test: 0.1, seed: 7 });
  const c = splitSamples(samples, { val: 0.2, test: 0.1, seed: 8 });
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.val, c.val);
  const count = (s: Sample[], label: number): number => s.filter((x) => x.label === label).length;
  // Class sizes 10, 40, 3 → (val, test) = (2, 1), (8, 4), (1, 0) with rounding.
  assert.deepEqual(
    [0, 1, 2].map((l) => [count(a.train, l), count(a.val, l), count(a.test, l)]),
    [
      [7, 2, 1],
      [28, 8, 4],
      [2, 1, 0],
    ],
  );
  const all = [...a.train, ...a.val, ...a.test];
  assert.equal(new Set(all).size, samples.length);
  for (const part of [a.train, a.val, a.test]) {
    const idx = part.map((s) => samples.indexOf(s));
    assert.deepEqual(
      idx,
      [...idx].sort((x, y) => x - y),
    );
  }
  // A class's assignment does not depend on the other classes present.
  const only1 = splitSamples(
    samples.filter((s) => s.label === 1),
    { val: 0.2, test: 0.1, seed: 7 },
  );
  assert.deepEqual(
    only1.val,
    a.val.filter((s) => s.label === 1),
  );
  assert.throws(() => splitSamples(samples, { val: 0.6, test: 0.5 }), /val \+ test < 1/);
});

test('scan with holdout fractions uses splitSamples', async () => {
  const root = await makeDataset();
  const f = scanImageFolder(root, { holdout: { val: 0.5, seed: 1 } });
  assert.deepEqual(f.split('val'), splitSamples(f.samples, { val: 0.5, seed: 1 }).val);
  assert.equal(f.split('train').length + f.split('val').length, 5);
  assert.throws(() => scanImageFolder(root, { holdout: { val: 0.5 }, splitFile: 'x.tsv' }), /not both/);
});

test('loadBatch: bounded concurrency, corrupt files throw or are skipped; iterateBatches', async () => {
  const root = await makeDataset();
  writeFileSync(join(root, 'dog', 'broken.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 1, 2, 3]));
  const f = scanImageFolder(root);
  assert.equal(f.samples.length, 6);
  const spec = { size: 4, mode: 'center' as const };
  const broken = join(root, 'dog', 'broken.jpg');
  await assert.rejects(loadBatch(f.samples, spec, { concurrency: 2 }), (e: Error) => e.message.startsWith(`${broken}: cannot decode image`));
  const res = await loadBatch(f.samples, spec, { concurrency: 2, skipBad: true });
  assert.equal(res.images.length, 5);
  assert.deepEqual(
    res.skipped.map((s) => s.path),
    [broken],
  );
  assert.match(res.skipped[0]!.reason, /cannot decode image/);
  assert.deepEqual(
    res.samples,
    f.samples.filter((s) => s.path !== broken),
  );
  // images stay aligned with their samples: dog/x.png was written with grey 50.
  const xi = res.samples.findIndex((s) => s.path.endsWith('x.png'));
  assert.deepEqual([...res.images[xi]!.data.subarray(0, 3)], [50, 50, 50]);
  for (const img of res.images) assert.deepEqual([img.width, img.height, img.data.length], [4, 4, 48]);

  const batches: { start: number; n: number; skipped: number }[] = [];
  for await (const b of iterateBatches(f.samples, spec, { batchSize: 4, skipBad: true, concurrency: 2 })) {
    batches.push({ start: b.start, n: b.images.length, skipped: b.skipped.length });
  }
  // broken.jpg sorts first among dog files: index 3, in the first batch.
  assert.deepEqual(batches, [
    { start: 0, n: 3, skipped: 1 },
    { start: 4, n: 2, skipped: 0 },
  ]);
  await assert.rejects(async () => {
    for await (const _ of iterateBatches(f.samples, spec, { batchSize: 4 })) void _;
  }, /broken\.jpg: cannot decode image/);
});

test('scan: folder links that loop or lead out of the class folder are refused, naming the link', async () => {
  const root = tempDir('salf-folder-links-');
  await writeImage(join(root, 'cat', 'a.png'), 10);
  await writeImage(join(root, 'dog', 'b.png'), 20);
  symlinkSync('..', join(root, 'cat', 'up'));
  assert.throws(
    () => scanImageFolder(root),
    (e: Error) => e.message.includes(join(root, 'cat', 'up')) && /leads out of class folder/.test(e.message),
  );
  rmSync(join(root, 'cat', 'up'));
  // Two links back to the class folder: before, the scan recursed exponentially (a hang).
  symlinkSync('../cat', join(root, 'cat', 'self'));
  symlinkSync('.', join(root, 'cat', 'self2'));
  assert.throws(() => scanImageFolder(root), /folder link loop/);
  rmSync(join(root, 'cat', 'self'));
  rmSync(join(root, 'cat', 'self2'));
  // A class folder that is itself a link (e.g. to other storage) is fine.
  const outside = tempDir('salf-folder-linked-class-');
  await writeImage(join(outside, 'deep', 'c.png'), 30);
  symlinkSync(outside, join(root, 'bird'));
  const f = scanImageFolder(root);
  assert.deepEqual(f.classes, ['bird', 'cat', 'dog']);
  assert.deepEqual(
    f.samples.map((s) => s.label),
    [0, 1, 2],
  );
});

test('scan: class names that differ only by case are warned about', async () => {
  const root = tempDir('salf-folder-case-');
  await writeImage(join(root, 'Cat', 'a.png'), 10);
  await writeImage(join(root, 'cat', 'b.png'), 20);
  await writeImage(join(root, 'dog', 'c.png'), 30);
  const f = scanImageFolder(root);
  assert.equal(f.warnings.length, 1);
  assert.match(f.warnings[0]!, /"Cat", "cat" differ only by case/);
});

test('loadBatch without a resize spec decodes at native size, as decodeRgb does', async () => {
  const root = await makeDataset();
  const f = scanImageFolder(root);
  const res = await loadBatch(f.samples, null, { concurrency: 2 });
  assert.deepEqual(res.samples, f.samples);
  for (let i = 0; i < res.images.length; i++) {
    const ref = await decodeRgb(f.samples[i]!.path);
    assert.deepEqual([res.images[i]!.width, res.images[i]!.height], [8, 6]);
    assert.deepEqual(res.images[i]!.data, ref.data);
  }
});
