import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/rng.js';

test('the seeded generator is deterministic and seeds differ', () => {
  const a = new Rng(123);
  const b = new Rng(123);
  const c = new Rng(124);
  const xs = Array.from({ length: 5 }, () => a.nextU32());
  assert.deepEqual(
    xs,
    Array.from({ length: 5 }, () => b.nextU32()),
  );
  assert.notDeepEqual(
    xs,
    Array.from({ length: 5 }, () => c.nextU32()),
  );
  assert.throws(() => new Rng(Number.NaN), /finite/);
});

test('uniform draws are in range with the right mean; normals have unit variance', () => {
  const r = new Rng(9);
  let sum = 0;
  let sq = 0;
  for (let i = 0; i < 20000; i++) {
    const u = r.next();
    assert.ok(u >= 0 && u < 1);
    sum += u;
    const z = r.normal();
    sq += z * z;
  }
  assert.ok(Math.abs(sum / 20000 - 0.5) < 0.01);
  assert.ok(Math.abs(sq / 20000 - 1) < 0.05);
  const w = r.uniformArray(1000, -0.25, 0.25);
  assert.ok(w.every((x) => x >= -0.25 && x <= 0.25));
});

test('int is unbiased over its range; sample draws distinct indices; shuffle permutes', () => {
  const r = new Rng(5);
  const counts = new Array<number>(7).fill(0);
  for (let i = 0; i < 7000; i++) counts[r.int(7)]! += 1;
  for (const c of counts) assert.ok(c > 850 && c < 1150, `count ${c}`);
  const s = r.sample(100, 40);
  assert.equal(s.length, 40);
  assert.equal(new Set(s).size, 40);
  assert.ok(s.every((x) => x >= 0 && x < 100));
  assert.deepEqual(Array.from(r.sample(5, 5)).sort(), [0, 1, 2, 3, 4]);
  assert.throws(() => r.sample(3, 4), /cannot draw 4 of 3/);
  const p = r.permutation(50);
  assert.deepEqual(
    Array.from(p).sort((x, y) => x - y),
    Array.from({ length: 50 }, (_, i) => i),
  );
  assert.notDeepEqual(
    Array.from(p),
    Array.from({ length: 50 }, (_, i) => i),
  );
  assert.throws(() => r.int(0), /n must be an integer/);
});
