import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fixturePath } from '../helpers/paths.js';
import { Adam } from '../../src/training/adam.js';

interface Golden {
  W: number[];
  adam: { lr: number; grads: number[][]; after: number[][] };
}
const golden = JSON.parse(readFileSync(fixturePath('cbl-golden.json'), 'utf8')) as Golden;

test('Adam matches torch.optim.Adam step for step (3 steps, float32)', () => {
  const W = Float32Array.from(golden.W);
  const opt = new Adam(W.length, { lr: golden.adam.lr });
  golden.adam.grads.forEach((g, k) => {
    opt.update(W, Float32Array.from(g));
    const want = golden.adam.after[k]!;
    let worst = 0;
    for (let i = 0; i < W.length; i++) worst = Math.max(worst, Math.abs(W[i]! - want[i]!));
    // Float32 rounding of weights ~0.4 is ~3e-8; Adam moves each weight by ~1e-3 per step.
    assert.ok(worst < 2e-7, `step ${k + 1}: max |Δ| ${worst}`);
  });
  assert.equal(opt.step, 3);
});

test('first Adam step moves every weight by lr against the sign of its gradient (bias correction)', () => {
  const p = Float32Array.from([1, 1, 1, 1]);
  const opt = new Adam(4, { lr: 0.01 });
  opt.update(p, Float32Array.from([1e-3, -5, 2, 0]));
  assert.ok(Math.abs(p[0]! - 0.99) < 1e-6);
  assert.ok(Math.abs(p[1]! - 1.01) < 1e-6);
  assert.ok(Math.abs(p[2]! - 0.99) < 1e-6);
  assert.equal(p[3], 1, 'zero gradient: no move');
});

test('weight decay adds wd·θ to the gradient; bad settings are refused', () => {
  const p = Float32Array.from([2]);
  const opt = new Adam(1, { lr: 0.1, weightDecay: 0.5 });
  opt.update(p, Float32Array.from([-0.5])); // effective gradient 0.5 > 0: weight goes down
  assert.ok(Math.abs(p[0]! - 1.9) < 1e-6);
  assert.throws(() => new Adam(1, { beta1: 1 }), /invalid beta1/);
  assert.throws(() => new Adam(1, { lr: -1 }), /invalid learning rate/);
  assert.throws(() => opt.update(p, new Float32Array(2)), /expected 1 parameters/);
});
