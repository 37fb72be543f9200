/**
 * The dataset readers on tiny fixtures in each exact official layout (CUB_200_2011, CIFAR-10/100
 * as torchvision downloads them, ImageNet with both val layouts, Places365), layout detection,
 * `<kind>:<path>` parsing, and the bad-input errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { detectLayout, openDataset, parseDataSpec } from '../../src/data/datasets.js';
import { decodeRgb } from '../../src/data/image-io.js';
import { memberPath } from '../../src/data/image-members.js';
import { fileIdentity } from '../../src/store/fingerprint.js';
import { writeColourDataset } from '../helpers/colour-dataset.js';
import { writeCubLayout, writeTintedJpeg } from '../helpers/dataset-layouts.js';
import { fixturePath, removedAfterTests } from '../helpers/paths.js';

/** A temporary folder removed when the tests end. */
const tempDir = removedAfterTests();

/** pixel(batch, i, c, y, x) of tools/make_cifar_fixtures.py. */
const pixel = (batch: number, i: number, c: number, y: number, x: number): number => (batch * 50 + i * 17 + c * 80 + y * 3 + x) % 256;

test('cub: classes in classes.txt order with LF-CBM names, the official split, labels and paths', async () => {
  const root = tempDir('salf-cub-');
  const dir = await writeCubLayout(root, ['Black_footed_Albatross', 'Laysan_Albatross', 'Sooty_Albatross'], 4, 2);
  for (const data of [`cub:${root}`, `cub:${dir}`, root, dir]) {
    const ds = openDataset(data);
    assert.equal(ds.kind, 'cub');
    assert.equal(ds.root, dir);
    assert.deepEqual(ds.classes, ['Black footed Albatross', 'Laysan Albatross', 'Sooty Albatross']);
    assert.equal(ds.split('train').length, 6);
    assert.equal(ds.split('test').length, 6);
    assert.deepEqual(ds.split('val'), []);
  }
  const ds = openDataset(`cub:${root}`, { holdout: { val: 0.5, seed: 3 } });
  assert.equal(ds.split('train').length + ds.split('val').length, 6);
  assert.deepEqual(
    ds
      .split('val')
      .map((s) => s.label)
      .sort(),
    [0, 1, 2],
  ); // stratified: one per class
  const test0 = ds.split('test')[0]!;
  assert.equal(test0.path, join(dir, 'images', '001.Black_footed_Albatross', 'Black_footed_Albatross_0001_2.jpg'));
  assert.equal(test0.label, 0);
  assert.deepEqual(
    ds.split('test').map((s) => s.label),
    [0, 0, 1, 1, 2, 2],
  );
  assert.throws(
    () => openDataset(`cub:${root}`, { splitFile: join(root, 's.tsv') }),
    /split file applies to the folder kind only; the cub layout has its official split/,
  );
});

test('cub: a missing file is named; a bad line names the file and line', async () => {
  const root = tempDir('salf-cub-');
  const dir = await writeCubLayout(root, ['A_bird', 'B_bird'], 2, 2);
  writeFileSync(join(dir, 'image_class_labels.txt'), '1 1\n2 1\n3 7\n4 2\n');
  assert.throws(
    () => openDataset(`cub:${root}`),
    (e: Error) => e.message === `${join(dir, 'image_class_labels.txt')}:3: class 7 is not in ${join(dir, 'classes.txt')} (1…2)`,
  );
  unlinkSync(join(dir, 'train_test_split.txt'));
  assert.throws(
    () => openDataset(root),
    (e: Error) => e.message.startsWith(`${join(dir, 'train_test_split.txt')}: missing (the cub layout needs train_test_split.txt in ${dir})`),
  );
});

test('cifar10: torchvision folder, official order of names, 5 train batches + test batch, pixels from the pickles', async () => {
  const ds = openDataset(`cifar10:${fixturePath('cifar')}`);
  const dir = fixturePath('cifar', 'cifar-10-batches-py');
  assert.equal(ds.root, dir);
  assert.deepEqual(ds.classes, ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']);
  const train = ds.split('train');
  assert.equal(train.length, 10);
  assert.deepEqual(
    train.map((s) => s.label),
    [2, 3, 4, 5, 6, 7, 8, 9, 0, 1],
  );
  assert.deepEqual(
    ds.split('test').map((s) => s.label),
    [9, 0, 5],
  );
  assert.equal(train[3]!.path, memberPath(join(dir, 'data_batch_2'), 1));
  // An image decodes from its batch: interleaved RGB, 32×32.
  const img = await decodeRgb(train[3]!.path);
  assert.deepEqual([img.width, img.height], [32, 32]);
  for (const [y, x] of [
    [0, 0],
    [5, 7],
    [31, 31],
  ] as const) {
    const o = 3 * (y * 32 + x);
    assert.deepEqual(
      [...img.data.subarray(o, o + 3)],
      [0, 1, 2].map((c) => pixel(2, 1, c, y, x)),
    );
  }
  const t2 = await decodeRgb(ds.split('test')[2]!.path);
  assert.deepEqual([...t2.data.subarray(0, 3)], [pixel(0, 2, 0, 0, 0), pixel(0, 2, 1, 0, 0), pixel(0, 2, 2, 0, 0)]);
  await assert.rejects(decodeRgb(memberPath(join(dir, 'test_batch'), 3)), /test_batch#3: the container holds 3 images/);
  // Member paths have identities (their container's) and differ by index.
  assert.notEqual(fileIdentity([train[0]!.path]), fileIdentity([train[1]!.path]));
  assert.equal(detectLayout(fixturePath('cifar', 'cifar-10-batches-py')), 'cifar10');
});

test('cifar100: fine labels and names, train and test', async () => {
  const ds = openDataset(`cifar100:${fixturePath('cifar')}`);
  assert.equal(ds.classes.length, 100);
  assert.deepEqual([ds.classes[0], ds.classes[99]], ['apple', 'worm']);
  assert.deepEqual(
    ds.split('train').map((s) => s.label),
    [0, 99, 42, 0],
  );
  assert.deepEqual(
    ds.split('test').map((s) => s.label),
    [99, 3],
  );
  const img = await decodeRgb(ds.split('test')[1]!.path);
  assert.deepEqual(
    [...img.data.subarray(3 * 33, 3 * 33 + 3)],
    [0, 1, 2].map((c) => pixel(8, 1, c, 1, 1)),
  );
  assert.equal(detectLayout(fixturePath('cifar', 'cifar-100-python')), 'cifar100');
  // The parent holds both: the kind chooses.
  assert.equal(openDataset(`cifar10:${fixturePath('cifar')}`).classes.length, 10);
});

/** train/<wnid>/ with 2 images per class, for 3 wnids. */
async function writeImagenetTrain(dir: string): Promise<string[]> {
  const wnids = ['n01440764', 'n01443537', 'n01484850'];
  for (let c = 0; c < wnids.length; c++) {
    for (let k = 0; k < 2; k++) await writeTintedJpeg(join(dir, 'train', wnids[c]!, `${wnids[c]}_${k}.JPEG`), c, 10 * c + k, 16);
  }
  return wnids;
}

test('imagenet: torchvision val class folders, sorted wnids, names from LOC_synset_mapping.txt', async () => {
  const root = tempDir('salf-imagenet-');
  const wnids = await writeImagenetTrain(root);
  await writeTintedJpeg(join(root, 'val', wnids[2]!, 'ILSVRC2012_val_00000001.JPEG'), 2, 99, 16);
  await writeTintedJpeg(join(root, 'val', wnids[0]!, 'ILSVRC2012_val_00000002.JPEG'), 0, 98, 16);
  let ds = openDataset(root);
  assert.equal(ds.kind, 'imagenet');
  assert.deepEqual(ds.classes, wnids);
  assert.equal(ds.split('train').length, 6);
  assert.deepEqual(
    ds.split('test').map((s) => [s.path.slice(root.length + 1), s.label]),
    [
      [`val/${wnids[0]}/ILSVRC2012_val_00000002.JPEG`, 0],
      [`val/${wnids[2]}/ILSVRC2012_val_00000001.JPEG`, 2],
    ],
  );
  writeFileSync(
    join(root, 'LOC_synset_mapping.txt'),
    `${wnids[0]} tench, Tinca tinca\n${wnids[1]} goldfish, Carassius auratus\n${wnids[2]} great white shark, white shark\n`,
  );
  ds = openDataset(`imagenet:${root}`);
  assert.deepEqual(ds.classes, ['tench', 'goldfish', 'great white shark']);
});

test('imagenet: Kaggle layout, flat val/ labelled by LOC_val_solution.csv', async () => {
  const root = tempDir('salf-imagenet-');
  const dir = join(root, 'ILSVRC', 'Data', 'CLS-LOC');
  const wnids = await writeImagenetTrain(dir);
  for (let i = 1; i <= 3; i++) await writeTintedJpeg(join(dir, 'val', `ILSVRC2012_val_0000000${i}.JPEG`), i, i, 16);
  writeFileSync(
    join(root, 'LOC_val_solution.csv'),
    [
      'ImageId,PredictionString',
      `ILSVRC2012_val_00000003,${wnids[1]} 10 20 30 40 ${wnids[1]} 1 2 3 4 `,
      `ILSVRC2012_val_00000001,${wnids[2]} 1 2 3 4`,
      `ILSVRC2012_val_00000002,${wnids[0]} 5 6 7 8`,
    ].join('\n') + '\n',
  );
  const ds = openDataset(root);
  assert.equal(ds.kind, 'imagenet');
  assert.equal(ds.split('train').length, 6);
  assert.deepEqual(
    ds.split('test').map((s) => [s.path.slice(dir.length + 1), s.label]),
    [
      ['val/ILSVRC2012_val_00000001.JPEG', 2],
      ['val/ILSVRC2012_val_00000002.JPEG', 0],
      ['val/ILSVRC2012_val_00000003.JPEG', 1],
    ],
  );
  writeFileSync(join(root, 'LOC_val_solution.csv'), `ImageId,PredictionString\nILSVRC2012_val_00000001,n99999999 1 2 3 4\n`);
  assert.throws(
    () => openDataset(root),
    (e: Error) => e.message === `${join(root, 'LOC_val_solution.csv')}:2: class "n99999999" is not among the train/ classes`,
  );
  rmSync(join(root, 'LOC_val_solution.csv'));
  assert.throws(() => openDataset(`imagenet:${root}`), /val: holds no class folders, and no LOC_val_solution\.csv/);
});

test('places365: categories in index order with LF-CBM names, the standard train list and val', async () => {
  const root = tempDir('salf-places-');
  writeFileSync(join(root, 'categories_places365.txt'), '/a/airfield 0\n/a/apartment_building/outdoor 1\n/b/bakery/shop 2\n');
  const train = [
    '/a/airfield/00000001.jpg 0',
    '/a/apartment_building/outdoor/00000001.jpg 1',
    '/b/bakery/shop/00000001.jpg 2',
    '/b/bakery/shop/00000002.jpg 2',
  ];
  writeFileSync(join(root, 'places365_train_standard.txt'), train.join('\n') + '\n');
  writeFileSync(join(root, 'places365_val.txt'), 'Places365_val_00000001.jpg 2\nPlaces365_val_00000002.jpg 0\n');
  for (const line of train) await writeTintedJpeg(join(root, 'data_256', ...line.split(' ')[0]!.split('/')), Number(line.split(' ')[1]), 1, 16);
  assert.throws(
    () => openDataset(root),
    (e: Error) => e.message === `${root}: no validation image folder (looked for val_256, val_large)`,
  );
  await writeTintedJpeg(join(root, 'val_256', 'Places365_val_00000001.jpg'), 2, 5, 16);
  await writeTintedJpeg(join(root, 'val_256', 'Places365_val_00000002.jpg'), 0, 6, 16);
  const ds = openDataset(root);
  assert.equal(ds.kind, 'places365');
  assert.deepEqual(ds.classes, ['airfield', 'apartment building/outdoor', 'bakery/shop']);
  assert.deepEqual(
    ds.split('train').map((s) => [s.path.slice(root.length + 1), s.label]),
    [
      ['data_256/a/airfield/00000001.jpg', 0],
      ['data_256/a/apartment_building/outdoor/00000001.jpg', 1],
      ['data_256/b/bakery/shop/00000001.jpg', 2],
      ['data_256/b/bakery/shop/00000002.jpg', 2],
    ],
  );
  assert.deepEqual(
    ds.split('test').map((s) => [s.path.slice(root.length + 1), s.label]),
    [
      ['val_256/Places365_val_00000001.jpg', 2],
      ['val_256/Places365_val_00000002.jpg', 0],
    ],
  );
  writeFileSync(join(root, 'places365_val.txt'), 'Places365_val_00000001.jpg 365\n');
  assert.throws(() => openDataset(root), /places365_val\.txt:1: class 365 is not in .*categories_places365\.txt \(0…2\)/);
});

test('folder kind stays the default; a folder matching no layout lists the layouts looked for', async () => {
  const root = tempDir('salf-plain-');
  await writeColourDataset(root, 2, 8);
  assert.equal(detectLayout(root), 'folder');
  const ds = openDataset(root, { holdout: { val: 0.5 } });
  assert.equal(ds.kind, 'folder');
  assert.deepEqual(ds.classes, ['bluish', 'reddish']);
  assert.equal(ds.split('val').length, 2);
  assert.deepEqual(openDataset(`folder:${root}`).classes, ['bluish', 'reddish']);

  const flat = tempDir('salf-flat-');
  writeFileSync(join(flat, 'notes.txt'), 'x');
  assert.throws(
    () => openDataset(flat),
    (e: Error) =>
      e.message.startsWith(`${flat}: matches no dataset layout; looked for:`) &&
      ['cub (', 'cifar10 (', 'cifar100 (', 'imagenet (', 'places365 (', 'folder ('].every((k) => e.message.includes(`\n  ${k}`)),
  );
});

test('parseDataSpec: kinds, bare paths, and unknown kinds with the closest names', () => {
  assert.deepEqual(parseDataSpec('cub:/data/CUB_200_2011'), { kind: 'cub', path: '/data/CUB_200_2011' });
  assert.deepEqual(parseDataSpec('CIFAR100:rel/dir'), { kind: 'cifar100', path: 'rel/dir' });
  assert.deepEqual(parseDataSpec('/data/images'), { path: '/data/images' });
  assert.throws(
    () => parseDataSpec('cifar:/data'),
    (e: Error) => e.message.startsWith('--data cifar:/data: unknown dataset kind "cifar" (did you mean cifar10, cifar100'),
  );
  assert.throws(() => parseDataSpec('imagnet:/data'), /did you mean imagenet/);
  assert.throws(() => parseDataSpec('cub:'), /no path after "cub:"/);
});
