/**
 * The broad-features black box's trainer (tools/proving_ground/train_models.py --only broad) is
 * deterministic: a scaled-down run (a 64-image world, one pretraining epoch, 50 head steps)
 * twice gives byte-identical ONNX exports, whose backbone.json matches the committed one's
 * shape, and which the project's backbone loader reads with the same I/O contract.
 *
 * Needs the development venv (tools/requirements.txt: torch, numpy, onnx, opencv, pillow).
 * `.ci/run` installs it, so in CI (CI set) this test always runs; on a developer's machine
 * without it, it is reported as skipped with the command that makes it, never passed unchecked.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Engine } from '../../src/engine/session.js';
import { Backbone } from '../../src/models/backbone.js';
import { generateWorld } from '../../src/proving-ground/dataset.js';
import { provingGroundBackbone } from '../../src/proving-ground/demo.js';
import { tempDir } from '../helpers/paths.js';
import { trainerVenv } from '../helpers/required-in-ci.js';

const { python, trainer, skip } = trainerVenv();

const engine = new Engine({ threads: 1 });
after(() => engine.dispose());

const sha = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

test('the broad black box trains deterministically and exports the backbone contract', { skip }, async () => {
  const root = tempDir('salf-pg-broad-');
  const world = join(root, 'world');
  await generateWorld({ seed: 3, counts: { train: 64, val: 16, test: 16, shifted: 16 }, outDir: world });
  const run = (out: string): string => {
    const r = spawnSync(
      python,
      [trainer, '--world', world, '--out', out, '--only', 'broad', '--broad-epochs', '1', '--head-steps', '50', '--batch', '32', '--threads', '1'],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 0, `${trainer} failed:\n${r.stdout}\n${r.stderr}`);
    return join(out, 'broad-classifier');
  };
  const a = run(join(root, 'a'));
  const b = run(join(root, 'b'));
  assert.equal(sha(join(a, 'model.onnx')), sha(join(b, 'model.onnx')), 'the same world and seed give the same weights');
  assert.equal(readFileSync(join(a, 'backbone.json'), 'utf8'), readFileSync(join(b, 'backbone.json'), 'utf8'));
  const cfg = JSON.parse(readFileSync(join(a, 'backbone.json'), 'utf8'));
  assert.equal(cfg.trainedOn.pretraining.epochs, 1);
  const bb = await Backbone.load(provingGroundBackbone(join(root, 'a'), 'broad'), [7, 7], engine);
  assert.deepEqual([bb.nativeGrid, bb.featureDim, bb.numClasses], [[7, 7], 96, 8]);
});
