/**
 * Sessions with owners: a session cached under an owner is the owner's (no invented ids), and
 * evicting the owner releases it, so loading and dropping models in a loop leaves the engine's
 * cache where it was. Shape-keyed sessions stay for the engine's life.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { analyseImages } from '../../src/explain/analyse.js';
import { classifyConceptMaps } from '../../src/explain/intervene.js';
import { GraphBuilder } from '../../src/engine/onnx-builder.js';
import { Engine, f32, dataF32 } from '../../src/engine/session.js';
import { conceptModelFromSalf } from '../../src/models/concept-model.js';
import { SalfCbm } from '../../src/models/salf-cbm.js';
import { BLUE, COLOUR_CONCEPTS, GRID, RED, colourModel, writeScene } from '../explain/colour-model.js';
import { tempDir } from '../helpers/paths.js';

/** A graph y = scale · x, so sessions built with different constants tell themselves apart. */
function scaleGraph(scale: number): Uint8Array {
  const b = new GraphBuilder('scale');
  const x = b.input('x', 'float32', [1]);
  b.op('Mul', [x, b.constF32([scale], [1])], {}, 'y');
  b.output('y', 'float32', [1]);
  return b.toBytes();
}

async function runScale(s: Awaited<ReturnType<Engine['cached']>>): Promise<number> {
  return dataF32((await s.run({ x: f32(Float32Array.of(1), [1]) })).y!)[0]!;
}

test('sessions cached under an owner are its own and go with it; shared ones stay', async () => {
  const engine = new Engine({ threads: 1 });
  const a = {};
  const b = {};
  let builds = 0;
  const build = (scale: number) => () => (builds++, scaleGraph(scale));
  const shared = await engine.cached('scale-shared', build(1));
  const sa = await engine.cached(a, 'head', build(2));
  const sb = await engine.cached(b, 'head', build(3));
  assert.equal(await engine.cached(a, 'head', build(99)), sa, "the owner's session is reused");
  assert.notEqual(sa, sb, 'the same key under two owners is two sessions');
  assert.deepEqual([await runScale(sa), await runScale(sb)], [2, 3]);
  assert.equal(builds, 3);
  assert.equal(engine.sessionCount, 3);

  await engine.evict(a);
  assert.equal(engine.sessionCount, 2);
  await assert.rejects(runScale(sa), 'an evicted session is released');
  assert.equal(await runScale(sb), 3, 'other owners keep theirs');
  assert.equal(await engine.cached('scale-shared', build(99)), shared, "shared sessions are not the owner's");
  await engine.evict(a); // nothing left: no error
  const again = await engine.cached(a, 'head', build(4));
  assert.equal(await runScale(again), 4, 'a later call builds it again');
  assert.equal(engine.sessionCount, 3);

  await engine.dispose();
  assert.equal(engine.sessionCount, 0);
});

test('an owner whose graph fails to open is evicted without error', async () => {
  const engine = new Engine({ threads: 1 });
  const owner = {};
  await assert.rejects(
    engine.cached(owner, 'bad', () => Uint8Array.of(1, 2, 3)),
    /compute graph bad: ONNX Runtime could not load it/,
  );
  assert.equal(engine.sessionCount, 1);
  await engine.evict(owner);
  assert.equal(engine.sessionCount, 0);
});

test('a video-like loop over N models, each disposed, does not grow the cache; without dispose it would', async () => {
  const dir = tempDir('salf-sessions-');
  const engine = new Engine({ threads: 1 });
  const scene = await writeScene(join(dir, 'scene.png'), 64, 64, RED, [{ rect: [32, 0, 64, 64], colour: BLUE }]);
  const G = GRID[0] * GRID[1];
  const M = COLOUR_CONCEPTS.length;
  const counts: number[] = [];
  for (let k = 0; k < 4; k++) {
    await using salf = colourModel(dir, 'mean', { engine });
    await using model = conceptModelFromSalf(salf, engine);
    const { outputs } = await analyseImages(model, [scene]); // backbone + head
    await classifyConceptMaps(model, outputs.conceptMaps.subarray(0, M * G), 1); // intervention graph
    counts.push(engine.sessionCount);
  }
  // Inside each iteration: the shared backbone (one for all models, keyed by its file), the
  // model's head and its intervention graph, plus shape-keyed helpers that are opened once.
  assert.ok(
    counts.every((c) => c === counts[0]),
    `session counts per model: ${counts.join(', ')}`,
  );
  const afterLoop = engine.sessionCount;
  assert.equal(afterLoop, counts[0]! - 2, "the last model's head and intervention graph went with it");

  // The same loop without dispose keeps every model's two sessions.
  const kept: SalfCbm[] = [];
  for (let k = 0; k < 3; k++) {
    const salf = colourModel(dir, 'mean', { engine });
    await classifyConceptMaps(conceptModelFromSalf(salf, engine), new Float32Array(M * G), 1);
    await salf.forwardFeatures(new Float32Array(G * 3), 1);
    kept.push(salf);
  }
  assert.equal(engine.sessionCount, afterLoop + 2 * 3);
  await Promise.all(kept.map((s) => s.dispose()));
  assert.equal(engine.sessionCount, afterLoop + 3, 'the views were never disposed: their intervention graphs stay');
  await engine.dispose();
  assert.equal(engine.sessionCount, 0);
});
