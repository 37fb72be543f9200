/**
 * The gtsegs_ijcv.mat reader on a small file of the same layout written by h5py
 * (tools/make_h5_fixture.py: MATLAB user block, object references, cells of references), compared
 * with what the reference code's h5py indexing reads; and clear errors on wrong files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import h5wasm from 'h5wasm/node';
import { ImageNetSegFile } from '../../src/eval/imagenet-seg.js';
import { fixturePath, tempDir } from '../helpers/paths.js';

interface Expected {
  images: { height: number; width: number; image: number[]; mask: number[] }[];
}

test('reads images (H×W×3) and masks (H×W) exactly as the reference indexing does', async () => {
  const expected = JSON.parse(readFileSync(fixturePath('gtsegs-mini.json'), 'utf8')) as Expected;
  const file = await ImageNetSegFile.open(fixturePath('gtsegs-mini.mat'));
  try {
    assert.equal(file.length, 3);
    expected.images.forEach((e, i) => {
      const ex = file.read(i);
      assert.equal(ex.image.height, e.height, `image ${i} height`);
      assert.equal(ex.image.width, e.width, `image ${i} width`);
      assert.deepEqual(Array.from(ex.image.data), e.image, `image ${i} pixels`);
      assert.equal(ex.mask.width, e.width);
      assert.deepEqual(Array.from(ex.mask.data), e.mask, `mask ${i}`);
    });
    assert.ok(
      expected.images[2]!.mask.every((v) => v === 0),
      'the fixture has an empty mask',
    );
    assert.throws(() => file.read(3), /image index 3 is outside \[0, 3\)/);
  } finally {
    file.close();
  }
});

test('wrong files fail with an error naming the file and the problem', async () => {
  const dir = tempDir('salf-h5-');
  await assert.rejects(ImageNetSegFile.open(join(dir, 'missing.mat')), /missing\.mat: no such file/);
  const text = join(dir, 'text.mat');
  writeFileSync(text, 'MATLAB 5.0 MAT-file, not HDF5');
  await assert.rejects(ImageNetSegFile.open(text), /text\.mat: .*(HDF5|v7\.3)/);

  // An HDF5 file with /value/img but no /value/gt.
  await h5wasm.ready;
  const partial = join(dir, 'partial.mat');
  const f = new h5wasm.File(partial, 'w');
  const g = f.create_group('value');
  const d = f.create_dataset({ name: 'data0', data: new Uint8Array(12), shape: [3, 2, 2] });
  g.create_dataset({ name: 'img', data: [d.create_reference()], shape: [1, 1] });
  f.close();
  await assert.rejects(ImageNetSegFile.open(partial), /partial\.mat: no dataset \/value\/gt/);
});
