/** JSON read from disk is checked: errors name the file and the field instead of failing later. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readJsonAs } from '../../src/data/json-schema.js';
import { backboneConfigSchema } from '../../src/models/config-schemas.js';
import { writeModelFolder } from '../../src/models/model-folder.js';
import { SalfCbm } from '../../src/models/salf-cbm.js';
import { RowStore } from '../../src/store/row-store.js';
import { readWorld } from '../../src/proving-ground/index.js';
import { tempDir } from '../helpers/paths.js';

const backbone = {
  model: 'm.onnx',
  featureTensor: 'f',
  layout: 'nchw',
  preprocess: { resize: { size: 8, mode: 'stretch' }, mean: [0, 0, 0], std: [1, 1, 1] },
};

function writeJson(path: string, value: unknown): string {
  writeFileSync(path, JSON.stringify(value));
  return path;
}

test('a valid backbone config is returned whole, unknown fields kept', () => {
  const path = writeJson(join(tempDir(), 'backbone.json'), { ...backbone, note: 'kept' });
  assert.deepEqual(readJsonAs(path, backboneConfigSchema), { ...backbone, note: 'kept' });
});

test('a bad backbone config names the file and each bad field', () => {
  const path = writeJson(join(tempDir(), 'backbone.json'), { ...backbone, layout: 'nhwc', preprocess: { ...backbone.preprocess, mean: [0, 0] } });
  assert.throws(
    () => readJsonAs(path, backboneConfigSchema, 'backbone config'),
    (err: Error) => {
      assert.ok(err.message.startsWith(`${path}: invalid backbone config: `), err.message);
      assert.match(err.message, /layout: /);
      assert.match(err.message, /preprocess\.mean: /);
      return true;
    },
  );
  const notJson = join(tempDir(), 'x.json');
  writeFileSync(notJson, '{ "model": ');
  assert.throws(() => readJsonAs(notJson, backboneConfigSchema), new RegExp(`${notJson.replace(/[\\/.]/g, '\\$&')}: invalid JSON`));
  assert.throws(
    () => readJsonAs(join(tempDir(), 'missing.json'), backboneConfigSchema, 'backbone config'),
    /missing\.json: cannot read the backbone config \(ENOENT\)/,
  );
});

test('a model folder whose config.json lacks a field is refused with the file and the field', () => {
  const dir = tempDir();
  const save = (config: unknown): void => writeModelFolder(dir, { 'config.json': JSON.stringify(config) });
  save({
    format: 'salf-cbm',
    version: 1,
    backbone,
    clip: { source: 's', id: 'i' },
    grid: [2, '2'],
    prompting: { radius: 2, placement: 'inside' },
    pooling: 'mean',
    finalLayer: { mode: 'dense', nec: 1, nonZeros: 1 },
  });
  assert.throws(
    () => SalfCbm.load(dir),
    (err: Error) => {
      assert.ok(err.message.startsWith(`${join(dir, 'config.json')}: invalid SALF-CBM config: `), err.message);
      assert.match(err.message, /grid\[1\]: /);
      assert.match(err.message, /featureDim: /);
      return true;
    },
  );
  save({ format: 'other' });
  assert.throws(() => SalfCbm.load(dir), /config\.json: not a SALF-CBM config \(format is other\)/);
});

test('a row store manifest with a bad field is refused with the file and the field', () => {
  const root = tempDir();
  const spec = { kind: 'k', identity: { a: 1 }, numRows: 4, shardSize: 2, fields: [{ name: 'F', shape: [3], dtype: 'float32' as const }] };
  const store = RowStore.open(root, spec);
  const manifest = join(store.dir, 'manifest.json');
  writeJson(manifest, { ...store.manifest, fields: [{ name: 'F', shape: [3], dtype: 'int8' }] });
  assert.throws(
    () => RowStore.open(root, spec),
    (err: Error) => {
      assert.match(err.message, /manifest\.json: invalid row store manifest: fields\[0\]\.dtype: /);
      return true;
    },
  );
});

test('a proving-ground world.json with a bad field is refused with the file and the field', () => {
  const dir = tempDir();
  mkdirSync(dir, { recursive: true });
  writeJson(join(dir, 'world.json'), { format: 'salf-cbm-proving-ground', version: 1, seed: 0, size: -1 });
  assert.throws(() => readWorld(dir), /world\.json: invalid proving-ground world: size: .*counts: /);
});
