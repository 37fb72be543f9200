/**
 * The pickle reader on the committed CIFAR fixtures (written by tools/make_cifar_fixtures.py with
 * Python's own pickle module: Python 2 style for CIFAR-10, Python 3 protocol 2 for CIFAR-100) and
 * on hand-assembled opcodes; anything outside the small opcode and global set is refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readPickle, type PickledArray, type PickleValue } from '../../src/data/python-pickle.js';
import { fixturePath } from '../helpers/paths.js';

const text = (v: PickleValue | undefined): string => new TextDecoder().decode(v as Uint8Array);

test('reads a Python 2 style CIFAR-10 batch: str keys, int list, numpy uint8 array', () => {
  const file = fixturePath('cifar', 'cifar-10-batches-py', 'data_batch_3');
  const d = readPickle(readFileSync(file), file) as Map<string, PickleValue>;
  assert.deepEqual([...d.keys()], ['batch_label', 'labels', 'data', 'filenames']);
  assert.equal(text(d.get('batch_label')), 'training batch 3 of 5');
  assert.deepEqual(d.get('labels'), [6, 7]);
  const a = d.get('data') as PickledArray;
  assert.deepEqual([a.kind, a.dtype, a.shape], ['ndarray', 'u1', [2, 3072]]);
  // pixel(batch, i, c, y, x) = (50·batch + 17·i + 80·c + 3·y + x) mod 256 (the tool's formula)
  assert.equal(a.data[0], 150);
  assert.equal(a.data[3072 + 1024 + 5 * 32 + 7], (150 + 17 + 80 + 15 + 7) % 256);
  assert.deepEqual((d.get('filenames') as PickleValue[]).map(text), ['img_3_0.png', 'img_3_1.png']);
});

test('reads a Python 3 protocol-2 pickle (bytes through _codecs.encode, memo gets)', () => {
  const file = fixturePath('cifar', 'cifar-100-python', 'meta');
  const d = readPickle(readFileSync(file), file) as Map<string, PickleValue>;
  const fine = d.get('fine_label_names') as PickleValue[];
  assert.equal(fine.length, 100);
  assert.deepEqual([text(fine[0]), text(fine[1]), text(fine[99])], ['apple', 'fine_01', 'worm']);
  assert.equal((d.get('coarse_label_names') as PickleValue[]).length, 20);
});

test('hand-assembled opcodes: tuples, negative and long ints, None, booleans, memo', () => {
  // {u'a': (1, -2, 300, None, True), 'b': [x, x]} with x memoised; LONG1 of 2**40.
  const bytes = Buffer.concat([
    Buffer.from([0x80, 2, 0x7d, 0x71, 0, 0x28]),
    Buffer.from([0x58, 1, 0, 0, 0]),
    Buffer.from('a'),
    Buffer.from([0x28, 0x4b, 1, 0x4a]),
    Buffer.from(Int32Array.of(-2).buffer),
    Buffer.from([0x4d, 0x2c, 0x01, 0x4e, 0x88, 0x74]),
    Buffer.from([0x55, 1]),
    Buffer.from('b'),
    Buffer.from([0x5d, 0x8a, 6, 0, 0, 0, 0, 0, 1, 0x71, 1, 0x61, 0x68, 1, 0x61]),
    Buffer.from([0x75, 0x2e]),
  ]);
  const d = readPickle(bytes, 'hand') as Map<string, PickleValue>;
  assert.deepEqual(d.get('a'), [1, -2, 300, null, true]);
  assert.deepEqual(d.get('b'), [2 ** 40, 2 ** 40]);
});

test('refuses other globals, unknown opcodes and truncated input, naming the file', () => {
  const evil = Buffer.concat([Buffer.from([0x80, 2, 0x63]), Buffer.from('os\nsystem\n'), Buffer.from([0x2e])]);
  assert.throws(() => readPickle(evil, 'evil.pkl'), /^Error: evil\.pkl: .*global os\.system is not allowed/);
  assert.throws(() => readPickle(Buffer.from([0x80, 2, 0x7e, 0x2e]), 'x.pkl'), /x\.pkl: .*opcode 0x7e\): unknown opcode/);
  assert.throws(() => readPickle(Buffer.from([0x80, 2, 0x54, 9, 0, 0, 0, 1]), 't.pkl'), /t\.pkl: .*truncated/);
});
