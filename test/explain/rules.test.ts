import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { contributionBarsSvg } from '../../src/explain/render.js';
import { decisionRule } from '../../src/explain/rules.js';
import { sankeySvg } from '../../src/explain/sankey.js';
import { NEGATIVE, POSITIVE, svgToPng } from '../../src/explain/svg.js';

const head = {
  mean: new Float32Array(4),
  std: new Float32Array(4).fill(1),
  // class a: 2·red − 0.5·blue (+ a weight below SPEC's 1e-5 threshold); class b: nothing.
  finalWeight: Float32Array.from([2, 5e-6, -0.5, 0, 0, 0, 0, 0]),
  finalBias: Float32Array.from([0.25, -1]),
};
const model = { concepts: ['red', 'green', 'blue', 'a <b> & "c"'], classes: ['a', 'b'], head };

test('a decision rule lists the non-zero weights (|w| > 1e-5), largest first, and can be cut to a top-k', () => {
  const r = decisionRule(model, 0);
  assert.deepEqual(r.terms, [
    { concept: 'red', index: 0, weight: 2 },
    { concept: 'blue', index: 2, weight: -0.5 },
  ]);
  assert.equal(r.nonZeros, 2);
  assert.equal(r.bias, 0.25);
  const top1 = decisionRule(model, 0, 1);
  assert.equal(top1.terms.length, 1);
  assert.equal(top1.nonZeros, 2);
  assert.deepEqual(decisionRule(model, 1).terms, []);
  assert.throws(() => decisionRule(model, 2), /class index 2 is out of range/);
});

test('the Sankey diagram draws one band per weight, coloured by sign, and renders', async () => {
  const svg = sankeySvg([decisionRule(model, 0), decisionRule(model, 1)]);
  const bands = [...svg.matchAll(/<path d="[^"]+" fill="(#[0-9a-f]+)"/g)].map((m) => m[1]);
  assert.deepEqual(bands, [POSITIVE, NEGATIVE]);
  assert.match(svg, />red</);
  assert.match(svg, /no non-zero weights|b 0/);
  // Band thickness ∝ |w|: the red band is 4× the blue one.
  const thickness = [...svg.matchAll(/ [\d.]+,([\d.]+) L[\d.]+,([\d.]+) C/g)].map((m) => Number(m[2]) - Number(m[1]));
  assert.equal(thickness.length, 2);
  assert.ok(Math.abs(thickness[0]! / thickness[1]! - 4) < 0.05, `band thicknesses ${thickness}`);
  const png = await svgToPng(sankeySvg([decisionRule(model, 0)]));
  const meta = await sharp(png).metadata();
  assert.equal(meta.format, 'png');
  assert.ok(meta.width! > 400 && meta.height! > 200);
});

test('the contribution chart labels "NOT" concepts and escapes names', () => {
  const svg = contributionBarsSvg({
    class: 'a',
    index: 0,
    logit: 1,
    probability: 0.7,
    bias: 0.25,
    rest: 0.1,
    contributions: [
      { concept: 'red', index: 0, label: 'red', weight: 2, activation: 1, standardised: 0.5, contribution: 1 },
      { concept: 'a <b> & "c"', index: 3, label: 'NOT a <b> & "c"', weight: 1, activation: 0, standardised: -0.35, contribution: -0.35 },
    ],
  });
  assert.match(svg, /NOT a &lt;b&gt; &amp; &quot;c&quot;/);
  assert.match(svg, />other concepts</);
  assert.match(svg, />bias</);
  assert.equal([...svg.matchAll(new RegExp(`fill="${NEGATIVE}"`, 'g'))].length, 2, 'the negative bar and its legend swatch');
});
