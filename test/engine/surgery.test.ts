import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GraphBuilder, decodeModel, encodeModel, onnx, type ModelProto } from '../../src/engine/onnx-builder.js';
import { Engine, f32, dataF32 } from '../../src/engine/session.js';
import { appendNodes, defaultOpset, exposeTensors, inlineExternalData, listTensors, setOutputs } from '../../src/engine/surgery.js';
import { tempDir } from '../helpers/paths.js';

/** X → doubled = 2·X → Y = doubled + 1. */
function smallModel(opset = 17): ModelProto {
  const b = new GraphBuilder('small', opset);
  const x = b.input('X', 'float32', ['n', 3]);
  const doubled = b.op('Mul', [x, b.constF32([2], [], 'two')], {}, 'doubled');
  b.output(b.op('Add', [doubled, b.constF32([1], [], 'one')], {}, 'Y'), 'float32', ['n', 3]);
  return b.toModel();
}

const engine = new Engine({ threads: 1 });
const X = Float32Array.from([1, -2, 3, 0.5, 0, -1]);

async function runAll(model: ModelProto): Promise<Record<string, number[]>> {
  const s = await engine.open(encodeModel(model));
  const out = await s.run({ X: f32(X, [2, 3]) });
  await s.release();
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, Array.from(dataF32(v))]));
}

test('listTensors lists graph inputs and node outputs, not initializers', () => {
  assert.deepEqual(listTensors(smallModel()), [
    { name: 'X', op: 'input' },
    { name: 'doubled', op: 'Mul' },
    { name: 'Y', op: 'Add' },
  ]);
});

test('exposeTensors makes an internal tensor and a graph input readable, leaving the original intact', async () => {
  const model = smallModel();
  const exposed = exposeTensors(model, ['doubled', 'X'], 'small.onnx');
  assert.deepEqual(
    exposed.graph!.output!.map((o) => o.name),
    ['Y', 'doubled', 'X'],
  );
  assert.deepEqual(
    model.graph!.output!.map((o) => o.name),
    ['Y'],
    'argument unchanged',
  );
  const out = await runAll(exposed);
  assert.deepEqual(
    out.doubled,
    Array.from(X, (v) => 2 * v),
  );
  assert.deepEqual(out.X, Array.from(X));
  assert.deepEqual(
    out.Y,
    Array.from(X, (v) => 2 * v + 1),
  );
});

test('exposeTensors is idempotent (re-exposing, or exposing an existing output, adds nothing)', () => {
  const once = exposeTensors(smallModel(), ['doubled'], 'small.onnx');
  const twice = exposeTensors(once, ['doubled', 'Y', 'doubled'], 'small.onnx');
  assert.deepEqual(
    twice.graph!.output!.map((o) => o.name),
    ['Y', 'doubled'],
  );
  // A round trip through bytes keeps the outputs.
  assert.deepEqual(
    decodeModel(encodeModel(twice)).graph!.output!.map((o) => o.name),
    ['Y', 'doubled'],
  );
});

test('an unknown tensor name is an error naming the file and the closest names', () => {
  assert.throws(
    () => exposeTensors(smallModel(), ['doubld'], '/models/small.onnx'),
    (err: Error) => {
      assert.match(err.message, /^\/models\/small\.onnx: no tensor named "doubld"/);
      assert.match(err.message, /Closest tensor names: "doubled"/);
      return true;
    },
  );
  // Initializers are constants, not tensors one can expose.
  assert.throws(() => exposeTensors(smallModel(), ['two'], 'small.onnx'), /no tensor named "two"/);
});

test('setOutputs keeps exactly the named outputs, in order', async () => {
  const m = setOutputs(smallModel(), ['doubled'], 'small.onnx');
  assert.deepEqual(
    m.graph!.output!.map((o) => o.name),
    ['doubled'],
  );
  assert.deepEqual(Object.keys(await runAll(m)), ['doubled']);
});

test('appendNodes adds nodes reading internal tensors, rejects name clashes, bumps a low opset', async () => {
  const b = new GraphBuilder('tail');
  b.op('Sub', ['doubled', b.constF32([10], [], 'ten')], {}, 'shifted');
  const tail = b.toModel().graph!;
  const spec = { nodes: tail.node!, initializers: tail.initializer!, outputs: [{ name: 'shifted' }] };
  const m = appendNodes(smallModel(), spec, 'small.onnx');
  assert.equal(defaultOpset(m), 17, 'opset kept when high enough');
  assert.deepEqual(
    (await runAll(m)).shifted,
    Array.from(X, (v) => 2 * v - 10),
  );

  const bumped = appendNodes(smallModel(7), { ...spec, minOpset: 13 }, 'small.onnx');
  assert.equal(defaultOpset(bumped), 13);
  assert.equal(defaultOpset(smallModel(7)), 7);

  const clash = { nodes: [{ opType: 'Relu', input: ['X'], output: ['doubled'] }] };
  assert.throws(() => appendNodes(smallModel(), clash, 'small.onnx'), /small\.onnx: cannot add tensor "doubled"/);
});

test('inlineExternalData reads initializers stored beside the model', async () => {
  const dir = tempDir();
  const model = smallModel();
  const two = model.graph!.initializer!.find((t) => t.name === 'two')!;
  writeFileSync(join(dir, 'weights.bin'), Buffer.concat([Buffer.alloc(4), Buffer.from(new Float32Array([3]).buffer)]));
  Object.assign(two, {
    rawData: new Uint8Array(0),
    dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
    externalData: [
      { key: 'location', value: 'weights.bin' },
      { key: 'offset', value: '4' },
      { key: 'length', value: '4' },
    ],
  });
  const path = join(dir, 'small.onnx');
  writeFileSync(path, encodeModel(model));
  const inlined = inlineExternalData(decodeModel(readFileSync(path), path), path);
  assert.deepEqual(
    (await runAll(inlined)).Y,
    Array.from(X, (v) => 3 * v + 1),
  );
});

test('appendNodes declares new constants as graph inputs for IR version < 4 models', async () => {
  const old = smallModel(7);
  old.irVersion = 3;
  old.graph!.input!.push(
    { name: 'two', type: { tensorType: { elemType: 1, shape: { dim: [] } } } },
    { name: 'one', type: { tensorType: { elemType: 1, shape: { dim: [] } } } },
  );
  const b = new GraphBuilder('tail');
  b.op('Sub', ['doubled', b.constF32([10], [], 'ten')], {}, 'shifted');
  const tail = b.toModel().graph!;
  const m = appendNodes(old, { nodes: tail.node!, initializers: tail.initializer!, outputs: [{ name: 'shifted' }] }, 'old.onnx');
  assert.ok(m.graph!.input!.some((i) => i.name === 'ten'));
  assert.deepEqual(
    listTensors(m).map((t) => t.name),
    ['X', 'doubled', 'Y', 'shifted'],
    'constants declared as inputs are still not tensors',
  );
  const s = await engine.open(encodeModel(m));
  const out = await s.run({ X: f32(X, [2, 3]) });
  await s.release();
  assert.deepEqual(
    Array.from(dataF32(out.shifted!)),
    Array.from(X, (v) => 2 * v - 10),
  );
});
