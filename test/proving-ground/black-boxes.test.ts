/**
 * The two committed proving-ground black boxes (src/proving-ground/demo.ts, BLACK_BOXES), loaded
 * through the project's own backbone loader: same I/O contract (`pixels` -> `logits` N x 8 and
 * `features` N x 96 x 7 x 7, 49 grid cells of 96 channels), classes in the world's order, and
 * trained, not random: each classifies a freshly generated world (not the one it was trained
 * on) well above chance. The broad box's backbone.json records its pretraining.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Engine } from '../../src/engine/session.js';
import { Backbone } from '../../src/models/backbone.js';
import { extractFeatures } from '../../src/models/extract-features.js';
import { CLASSES } from '../../src/proving-ground/classes.js';
import { generateWorld, readIndex } from '../../src/proving-ground/dataset.js';
import { BLACK_BOXES, BLACK_BOX_FOLDERS, provingGroundAssets, provingGroundBackbone } from '../../src/proving-ground/demo.js';
import { tempDir } from '../helpers/paths.js';

const engine = new Engine({ threads: 1 });
after(() => engine.dispose());
let world: string;

before(async () => {
  world = join(tempDir('salf-pg-boxes-'), 'world');
  await generateWorld({ seed: 7, counts: { train: 8, val: 0, test: 64, shifted: 0 }, outDir: world });
});

for (const box of BLACK_BOXES) {
  test(`the ${box} black box loads as a backbone and classifies an unseen world`, async () => {
    const config = provingGroundBackbone(provingGroundAssets(), box);
    const raw = JSON.parse(readFileSync(join(provingGroundAssets(), BLACK_BOX_FOLDERS[box], 'backbone.json'), 'utf8'));
    assert.deepEqual(
      raw.classes,
      CLASSES.map((c) => c.name),
    );
    if (box === 'broad') assert.match(raw.trainedOn.pretraining.task, /shape x colour x pattern/);
    const bb = await Backbone.load(config, [7, 7], engine);
    assert.deepEqual(bb.nativeGrid, [7, 7]);
    assert.equal(bb.featureDim, 96);
    assert.equal(bb.numClasses, 8);
    const entries = readIndex(world).test;
    const f = await extractFeatures(
      bb,
      entries.map((e) => ({ path: join(world, e.image), label: e.classIndex })),
    );
    assert.equal(f.F.length, entries.length * 49 * 96);
    let ok = 0;
    f.samples.forEach((s, i) => {
      const z = f.logits!.subarray(i * 8, i * 8 + 8);
      if (z.indexOf(Math.max(...z)) === s.label) ok++;
    });
    const acc = ok / f.samples.length;
    console.log(`${box} black box: accuracy ${acc.toFixed(3)} on ${f.samples.length} unseen images`);
    assert.ok(acc > 0.8, `${box} black box accuracy ${acc} (8 classes: chance 0.125)`);
  });
}
