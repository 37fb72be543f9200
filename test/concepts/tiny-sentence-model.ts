/**
 * A tiny sentence-embedding model folder that transformers.js' feature-extraction pipeline
 * loads (model_type `bert`): config.json, the tiny CLIP's tokenizer files and onnx/model.onnx,
 * which maps input_ids to last_hidden_state = tanh(table[input_ids]) (b×T×H). The table is
 * returned so tests can compute the expected pooled embeddings themselves.
 */
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GraphBuilder, attr } from '../../src/engine/onnx-builder.js';
import { writeTinyClip } from '../helpers/tiny-clip.js';

export interface TinySentenceModel {
  dir: string;
  hidden: number;
  /** The embedding table, vocab×hidden. */
  table: Float32Array;
}

export async function writeTinySentenceModel(dir: string, hidden = 8, seed = 3): Promise<TinySentenceModel> {
  const clipDir = `${dir}-clip-tmp`;
  await writeTinyClip(clipDir, { seed });
  await mkdir(join(dir, 'onnx'), { recursive: true });
  await copyFile(join(clipDir, 'tokenizer.json'), join(dir, 'tokenizer.json'));
  await copyFile(join(clipDir, 'tokenizer_config.json'), join(dir, 'tokenizer_config.json'));
  const vocab = (JSON.parse(await readFile(join(clipDir, 'tokenizer.json'), 'utf8')) as { model: { vocab: Record<string, number> } }).model.vocab;
  await rm(clipDir, { recursive: true, force: true });
  const V = Object.keys(vocab).length;
  const table = new Float32Array(V * hidden);
  let a = seed >>> 0;
  for (let i = 0; i < table.length; i++) {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    table[i] = (a / 4294967296) * 4 - 2;
  }
  const b = new GraphBuilder('tiny_sentence_model');
  const ids = b.input('input_ids', 'int64', ['batch_size', 'sequence_length']);
  b.input('attention_mask', 'int64', ['batch_size', 'sequence_length']);
  const t = b.initializer('embeddings.weight', 'float32', [V, hidden], table);
  b.op('Tanh', [b.op('Gather', [t, ids], { axis: attr.i(0) })], {}, 'last_hidden_state');
  b.output('last_hidden_state', 'float32', ['batch_size', 'sequence_length', hidden]);
  const config = {
    _comment: 'Tiny sentence model for tests: random weights, proves plumbing only.',
    model_type: 'bert',
    architectures: ['BertModel'],
    hidden_size: hidden,
    vocab_size: V,
    num_hidden_layers: 0,
    num_attention_heads: 1,
    max_position_embeddings: 77,
  };
  await writeFile(join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  await writeFile(join(dir, 'onnx', 'model.onnx'), b.toBytes());
  return { dir, hidden, table };
}
