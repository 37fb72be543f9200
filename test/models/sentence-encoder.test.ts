/** The sentence-model path through transformers.js, on a tiny random-weight folder (plumbing only). */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { AutoTokenizer } from '@huggingface/transformers';
import { SentenceEncoder } from '../../src/models/sentence-encoder.js';
import { tempDir } from '../helpers/paths.js';
import { writeTinySentenceModel } from '../concepts/tiny-sentence-model.js';

const root = tempDir('salf-sentence-');
let enc: SentenceEncoder | undefined;
after(async () => {
  await enc?.dispose();
  rmSync(root, { recursive: true, force: true });
});

test('a local sentence model loads and gives mean-pooled, unit-length embeddings', async () => {
  const model = await writeTinySentenceModel(join(root, 'st'), 8);
  enc = await SentenceEncoder.load(model.dir, { batch: 2 });
  assert.equal(enc.embedDim, 8);
  assert.match(enc.id, /^sentence:.*st$/);
  const texts = ['red bird', 'a blue car with four round wheels', 'sky'];
  const got = await enc.encodeTexts(texts);
  assert.equal(got.length, 3 * 8);
  const tok = (await AutoTokenizer.from_pretrained(model.dir, { local_files_only: true })) as unknown as (
    t: string[],
    o: object,
  ) => { input_ids: { data: BigInt64Array } };
  texts.forEach((t, i) => {
    const ids = Array.from(tok([t], {}).input_ids.data, Number);
    const v = new Float64Array(8);
    for (const id of ids) for (let h = 0; h < 8; h++) v[h]! += Math.tanh(model.table[id * 8 + h]!) / ids.length;
    const n = Math.hypot(...v);
    for (let h = 0; h < 8; h++) assert.ok(Math.abs(got[i * 8 + h]! - v[h]! / n) < 1e-5, `text ${i} dim ${h}`);
  });
});

test('a missing sentence-model folder is a clear error', async () => {
  await assert.rejects(SentenceEncoder.load(join(root, 'nope')), /sentence model .*nope: not a folder/);
});
