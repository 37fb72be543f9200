/**
 * Model folders are written as a unit and verified when loaded: an interrupted save, a file
 * changed in place (same size), tensors with swapped shapes, non-finite weights, a zero standard
 * deviation and names that are not UTF-8 are refused with an error naming the file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SalfCbm } from '../../src/models/salf-cbm.js';
import { MANIFEST_FILE, writeModelFolder } from '../../src/models/model-folder.js';
import { decodeSafetensors, encodeSafetensors } from '../../src/models/safetensors.js';
import { tempDir } from '../helpers/paths.js';
import { tinySalfConfig } from '../helpers/tiny-salf-config.js';

const [D, M, L] = [5, 4, 3];

function model(seed = 1): SalfCbm {
  let s = seed;
  const r = (): number => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
  const fill = (n: number): Float32Array => Float32Array.from({ length: n }, r);
  const config = tinySalfConfig(D, M, L);
  return new SalfCbm(config, ['red', 'blue', 'green', 'round'], ['x', 'y', 'z'], {
    conceptWeight: fill(M * D),
    mean: fill(M),
    std: Float32Array.from({ length: M }, () => 0.5 + Math.abs(r())),
    finalWeight: fill(L * M),
    finalBias: fill(L),
  });
}

/** Every file of a saved folder, name → bytes. */
function files(dir: string): Record<string, Buffer> {
  const names = Object.keys(JSON.parse(readFileSync(join(dir, MANIFEST_FILE), 'utf8')).files as object);
  return Object.fromEntries(names.map((n) => [n, readFileSync(join(dir, n))]));
}

test('each model file changed in place (same size) is refused, naming the file', () => {
  const dir = tempDir('salf-folder-');
  model().save(dir, { accuracy: 1 });
  const original = files(dir);
  assert.deepEqual(Object.keys(original).sort(), ['classes.json', 'concepts.json', 'config.json', 'metrics.json', 'weights.safetensors']);
  for (const [name, bytes] of Object.entries(original)) {
    const changed = Buffer.from(bytes);
    changed[changed.length - 3]! ^= 0x01; // same size, one bit
    writeFileSync(join(dir, name), changed);
    assert.throws(
      () => SalfCbm.load(dir),
      (e: Error) => e.message.startsWith(join(dir, name)) && /does not match manifest\.json \(SHA-256 differs\)/.test(e.message),
      name,
    );
    writeFileSync(join(dir, name), bytes);
  }
  assert.deepEqual(SalfCbm.load(dir).concepts, ['red', 'blue', 'green', 'round'], 'restored: loads');
});

test('a save interrupted between files leaves a folder that is refused, not new weights with old names', () => {
  const dir = tempDir('salf-folder-');
  model(1).save(dir);
  const oldConcepts = readFileSync(join(dir, 'concepts.json'));
  // The second save fails after writing the weights: concepts.json cannot be replaced (as on a
  // full disk); before, the folder then loaded with the new weights and the old names.
  rmSync(join(dir, 'concepts.json'));
  mkdirSync(join(dir, 'concepts.json', 'in-the-way'), { recursive: true });
  const other = model(2);
  assert.throws(() => other.save(dir), /concepts\.json/);
  rmSync(join(dir, 'concepts.json'), { recursive: true });
  writeFileSync(join(dir, 'concepts.json'), oldConcepts);
  assert.throws(() => SalfCbm.load(dir), /manifest\.json: missing.*save did not finish.*train or save it again/);
  other.save(dir);
  assert.deepEqual(Array.from(SalfCbm.load(dir).weights.finalBias), Array.from(other.weights.finalBias), 'a complete save loads');
  // A save without metrics removes the earlier metrics.json instead of leaving the old one.
  model(1).save(dir, { accuracy: 0.5 });
  model(1).save(dir);
  assert.ok(!existsSync(join(dir, 'metrics.json')));
});

/** Rewrites the folder's weights with `edit` applied, keeping the manifest consistent. */
function rewriteWeights(dir: string, edit: (t: ReturnType<typeof decodeSafetensors>['tensors']) => void): void {
  const all = files(dir);
  const { tensors } = decodeSafetensors(all['weights.safetensors']!);
  edit(tensors);
  writeModelFolder(dir, { ...all, 'weights.safetensors': encodeSafetensors(tensors) });
}

test('swapped shapes with the same element count, non-finite weights and a zero std are refused, naming file and tensor', () => {
  const dir = tempDir('salf-folder-');
  model().save(dir);
  rewriteWeights(dir, (t) => (t['concept_layer.weight']!.shape = [D, M]));
  assert.throws(() => SalfCbm.load(dir), /weights\.safetensors: tensor concept_layer\.weight has shape \[5, 4\], expected \[4, 5\]/);
  model().save(dir);
  rewriteWeights(dir, (t) => (t['final_layer.weight']!.data[7] = Number.NaN));
  assert.throws(() => SalfCbm.load(dir), /weights\.safetensors: tensor final_layer\.weight holds NaN at index 7/);
  model().save(dir);
  rewriteWeights(dir, (t) => (t['final_layer.bias']!.data[0] = Number.POSITIVE_INFINITY));
  assert.throws(() => SalfCbm.load(dir), /tensor final_layer\.bias holds Infinity at index 0/);
  model().save(dir);
  rewriteWeights(dir, (t) => (t['standardise.std']!.data[2] = 0));
  assert.throws(() => SalfCbm.load(dir), /weights\.safetensors: standardise\.std of concept "green" is 0; standard deviations must be positive/);
  // A model built in memory with non-finite weights (a diverged training) is refused too.
  const m = model();
  assert.throws(
    () => new SalfCbm(m.config, m.concepts, m.classes, { ...m.weights, mean: Float32Array.from([0, Number.NaN, 0, 0]) }),
    /standardise\.mean holds NaN at index 1/,
  );
});

test('concept names that are not UTF-8 are an error naming the file and line', () => {
  const dir = tempDir('salf-folder-');
  model().save(dir);
  const all = files(dir);
  const bad = Buffer.concat([Buffer.from('[\n  "red",\n  "caf'), Buffer.from([0xe9]), Buffer.from('"\n]\n')]);
  writeModelFolder(dir, { ...all, 'concepts.json': bad });
  assert.throws(() => SalfCbm.load(dir), /concepts\.json:3: not valid UTF-8/);
});
