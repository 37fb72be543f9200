/**
 * The export cache of `salf-cbm serve`: a model directory's export is reused only while the
 * content hashes of the model files and of the export match those recorded when it was made;
 * files replaced by copies with older modification times (`cp -p`, `rsync -a`) are noticed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { colourModel } from '../explain/colour-model.js';
import { tempDir } from '../helpers/paths.js';
import { openServedModel } from '../../src/serve/model-source.js';
import { SalfCbm } from '../../src/models/salf-cbm.js';

const past = new Date('2001-01-01T00:00:00Z');

test('a model file replaced by a copy with an older modification time is exported again, not served stale', async () => {
  const dir = tempDir('salf-serve-stale-');
  const modelDir = join(dir, 'model');
  mkdirSync(modelDir);
  colourModel(dir).save(modelDir);
  const first = await openServedModel(modelDir);
  assert.deepEqual(first.info.concepts, ['red', 'green', 'blue', 'bright']);
  assert.match((await openServedModel(modelDir)).notes.join('\n'), /using the export/);

  // The model folder replaced by a copy of another save (a concept renamed), in the way `cp -p`
  // does: new bytes, old modification times.
  const model = colourModel(dir);
  const renamed = new SalfCbm(
    model.config,
    model.concepts.map((c) => (c === 'red' ? 'rot' : c)),
    model.classes,
    model.weights,
  );
  const edited = join(dir, 'edited');
  mkdirSync(edited);
  renamed.save(edited);
  for (const name of readdirSync(edited)) {
    utimesSync(join(edited, name), past, past);
    cpSync(join(edited, name), join(modelDir, name), { preserveTimestamps: true });
  }
  const after = await openServedModel(modelDir);
  assert.match(after.notes.join('\n'), /exported the model to .*model files changed/);
  assert.deepEqual(after.info.concepts, ['rot', 'green', 'blue', 'bright']);
  assert.match((await openServedModel(modelDir)).notes.join('\n'), /using the export/);
});

test('an export changed in place after it was made, or without its record, is made again', async () => {
  const dir = tempDir('salf-serve-stamp-');
  const modelDir = join(dir, 'model');
  mkdirSync(modelDir);
  colourModel(dir).save(modelDir);
  const first = await openServedModel(modelDir);
  const onnx = readFileSync(first.onnxPath);
  // Same size, one byte different, old modification time.
  const tampered = Buffer.from(onnx);
  tampered[tampered.length - 1]! ^= 0xff;
  writeFileSync(first.onnxPath, tampered);
  utimesSync(first.onnxPath, new Date(Date.now() + 60_000), new Date(Date.now() + 60_000));
  const again = await openServedModel(modelDir);
  assert.match(again.notes.join('\n'), /exported the model to .*exported files changed/);
  assert.deepEqual(readFileSync(again.onnxPath), onnx);
  writeFileSync(join(modelDir, 'export', 'source.json'), '{not json');
  assert.match((await openServedModel(modelDir)).notes.join('\n'), /source\.json is unreadable/);
});
