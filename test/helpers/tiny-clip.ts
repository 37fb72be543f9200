/**
 * A tiny CLIP pair for tests, written in the local-folder layout that `ClipModel.load` and
 * @huggingface/transformers read (see docs/clip-folder-layout.md).
 *
 * The weights are deterministic pseudo-random numbers (seeded PRNG): the model proves plumbing
 * (loading, tokenising, shapes, normalisation, caching), not explanations. Its embeddings mean
 * nothing semantically, but they are deterministic, depend on every input pixel / token, and
 * depend on where things are in the image (a learned per-patch position term) and in the text
 * (a learned position table).
 *
 * Vision tower: pixel_values [b,3,S,S] → Conv (P×P patches, stride P) + bias + position term →
 *   ReLU → mean over patches → MatMul → image_embeds [b,E].
 * Text tower: input_ids [b,T] → Gather(token table) + Gather(position table) → Tanh →
 *   mean over positions where attention_mask = 1 → MatMul → text_embeds [b,E].
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GraphBuilder, attr } from '../../src/engine/onnx-builder.js';
import { Rng } from '../../src/rng.js';

/** Options of {@link writeTinyClip}. */
export interface TinyClipOptions {
  /** Square input size S in pixels (default 64). */
  inputSize?: number;
  /** Embedding width E (default 16). */
  embedDim?: number;
  /** PRNG seed (default 1). Different seeds give different weights, hence different content hashes. */
  seed?: number;
  /** Extra words that get their own BPE merges (every ASCII text tokenises anyway). */
  words?: readonly string[];
}

/** OpenAI CLIP's normalisation constants, as in the real preprocessor_config.json. */
export const TINY_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073] as const;
export const TINY_CLIP_STD = [0.26862954, 0.26130258, 0.27577711] as const;

/** Maximum text length in tokens, start and end tokens included (as in CLIP). */
export const TINY_CLIP_MAX_TOKENS = 77;

/** Words that tokenise to whole-word tokens in the tiny vocabulary. */
export const TINY_CLIP_WORDS: readonly string[] = [
  'a',
  'an',
  'the',
  'of',
  'with',
  'and',
  'on',
  'in',
  'photo',
  'image',
  'picture',
  'object',
  'red',
  'green',
  'blue',
  'yellow',
  'black',
  'white',
  'orange',
  'brown',
  'grey',
  'striped',
  'spotted',
  'small',
  'large',
  'round',
  'square',
  'circle',
  'bird',
  'cat',
  'dog',
  'car',
  'fish',
  'animal',
  'vehicle',
  'wing',
  'wings',
  'beak',
  'feathers',
  'fur',
  'tail',
  'wheel',
  'wheels',
  'eye',
  'eyes',
  'legs',
  'head',
  'sky',
  'grass',
  'water',
  'tree',
  'road',
  'background',
  'stripes',
  'dots',
];

const START = '<|startoftext|>';
const END = '<|endoftext|>';

/** `count` normal(0, scale²) samples (Box–Muller). */
function normals(rand: () => number, count: number, scale: number): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const u = 1 - rand();
    const v = rand();
    const r = Math.sqrt(-2 * Math.log(u)) * scale;
    out[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < count) out[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  return out;
}

/** The vision tower: strided-conv patchify, position term, ReLU, mean pool, projection. */
function visionModel(rand: () => number, size: number, embedDim: number): { bytes: Uint8Array; patch: number; width: number } {
  const patch = Math.max(1, Math.floor(size / 8));
  const grid = Math.floor(size / patch);
  const width = 32;
  const b = new GraphBuilder('tiny_clip_vision');
  const x = b.input('pixel_values', 'float32', ['batch_size', 3, size, size]);
  const w = b.initializer(
    'patch_embed.weight',
    'float32',
    [width, 3, patch, patch],
    normals(rand, width * 3 * patch * patch, 1 / Math.sqrt(3 * patch * patch)),
  );
  const bias = b.initializer('patch_embed.bias', 'float32', [width], normals(rand, width, 0.1));
  const pos = b.initializer('position_embedding', 'float32', [1, width, grid, grid], normals(rand, width * grid * grid, 0.5));
  const conv = b.op('Conv', [x, w, bias], { kernel_shape: attr.ints([patch, patch]), strides: attr.ints([patch, patch]) });
  const act = b.op('Relu', [b.op('Add', [conv, pos])]);
  const pooled = b.op('ReduceMean', [act], { axes: attr.ints([2, 3]), keepdims: attr.i(0) });
  const proj = b.initializer('visual_projection.weight', 'float32', [width, embedDim], normals(rand, width * embedDim, 1 / Math.sqrt(width)));
  b.op('MatMul', [pooled, proj], {}, 'image_embeds');
  b.output('image_embeds', 'float32', ['batch_size', embedDim]);
  return { bytes: b.toBytes(), patch, width };
}

/** The text tower: token + position embeddings, tanh, masked mean, projection. */
function textModel(rand: () => number, vocabSize: number, embedDim: number): { bytes: Uint8Array; width: number } {
  const width = 24;
  const b = new GraphBuilder('tiny_clip_text');
  const ids = b.input('input_ids', 'int64', ['batch_size', 'sequence_length']);
  const mask = b.input('attention_mask', 'int64', ['batch_size', 'sequence_length']);
  const tokTable = b.initializer('token_embedding.weight', 'float32', [vocabSize, width], normals(rand, vocabSize * width, 1));
  const posTable = b.initializer('position_embedding.weight', 'float32', [TINY_CLIP_MAX_TOKENS, width], normals(rand, TINY_CLIP_MAX_TOKENS * width, 0.5));
  const tok = b.op('Gather', [tokTable, ids], { axis: attr.i(0) }); // [b, T, W]
  const seqLen = b.op('Gather', [b.op('Shape', [ids]), b.constI64([1], [])], { axis: attr.i(0) }); // scalar T
  const positions = b.op('Range', [b.constI64([0], []), seqLen, b.constI64([1], [])]); // [T]
  const pos = b.op('Gather', [posTable, positions], { axis: attr.i(0) }); // [T, W]
  const h = b.op('Tanh', [b.op('Add', [tok, pos])]);
  const m = b.op('Unsqueeze', [b.op('Cast', [mask], { to: attr.i(1) }), b.constI64([2])]); // [b, T, 1] float
  const axis1 = b.constI64([1]);
  const num = b.op('ReduceSum', [b.op('Mul', [h, m]), axis1], { keepdims: attr.i(0) }); // [b, W]
  const count = b.op('ReduceSum', [m, axis1], { keepdims: attr.i(0) }); // [b, 1]
  const pooled = b.op('Div', [num, b.op('Max', [count, b.constF32([1], [])])]);
  const proj = b.initializer('text_projection.weight', 'float32', [width, embedDim], normals(rand, width * embedDim, 1 / Math.sqrt(width)));
  b.op('MatMul', [pooled, proj], {}, 'text_embeds');
  b.output('text_embeds', 'float32', ['batch_size', embedDim]);
  return { bytes: b.toBytes(), width };
}

/**
 * The 256 symbols of the byte-level pre-tokenizer (GPT-2's `bytes_to_unicode`): printable bytes
 * stand for themselves, the others are shifted to U+0100 and up. With all of them in the
 * vocabulary, any text tokenises without unknown tokens, as with the real CLIP vocabulary.
 */
function byteLevelAlphabet(): string[] {
  const out: string[] = [];
  let shifted = 0;
  for (let byte = 0; byte < 256; byte++) {
    const printable = (byte >= 33 && byte <= 126) || (byte >= 161 && byte <= 172) || (byte >= 174 && byte <= 255);
    out.push(String.fromCharCode(printable ? byte : 256 + shifted++));
  }
  return out;
}

/**
 * A BPE vocabulary in CLIP's style (`</w>` marks a word's last symbol): the byte-level alphabet
 * alone and word-final, whole-word merges for `words`, then the two special tokens (last, as in
 * CLIP, so `<|endoftext|>` has the largest id).
 */
function bpeVocabulary(words: readonly string[]): { vocab: Record<string, number>; merges: [string, string][] } {
  const vocab: Record<string, number> = {};
  const add = (t: string): void => {
    if (!(t in vocab)) vocab[t] = Object.keys(vocab).length;
  };
  const alphabet = byteLevelAlphabet();
  for (const c of alphabet) add(c);
  for (const c of alphabet) add(`${c}</w>`);
  const merges: [string, string][] = [];
  const seen = new Set<string>();
  for (const raw of words) {
    const word = raw.toLowerCase();
    if (!/^[!-~]+$/.test(word)) throw new Error(`tiny CLIP: word "${raw}" is not printable ASCII without spaces`);
    const symbols = Array.from(word);
    symbols[symbols.length - 1] += '</w>';
    let left = symbols[0]!;
    for (let i = 1; i < symbols.length; i++) {
      const right = symbols[i]!;
      const key = `${left} ${right}`;
      if (!seen.has(key)) {
        seen.add(key);
        merges.push([left, right]);
        add(left + right);
      }
      left += right;
    }
  }
  add(START);
  add(END);
  return { vocab, merges };
}

/** tokenizer.json in the Hugging Face `tokenizers` format, shaped like openai/clip-vit-base-patch16's. */
function tokenizerJson(vocab: Record<string, number>, merges: [string, string][]): object {
  const special = (content: string) => ({
    id: vocab[content],
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: true,
    special: true,
  });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(START), special(END)],
    normalizer: {
      type: 'Sequence',
      normalizers: [{ type: 'NFC' }, { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }, { type: 'Lowercase' }],
    },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        {
          type: 'Split',
          pattern: { Regex: "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+" },
          behavior: 'Removed',
          invert: true,
        },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: {
      type: 'RobertaProcessing',
      sep: [END, vocab[END]],
      cls: [START, vocab[START]],
      trim_offsets: false,
      add_prefix_space: false,
    },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: END,
      continuing_subword_prefix: '',
      end_of_word_suffix: '</w>',
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
}

/**
 * Writes a tiny CLIP (random weights, deterministic per seed) into `dir`: config.json,
 * preprocessor_config.json, tokenizer.json, tokenizer_config.json, onnx/vision_model.onnx and
 * onnx/text_model.onnx. See docs/clip-folder-layout.md for the contract.
 */
export async function writeTinyClip(dir: string, opts: TinyClipOptions = {}): Promise<void> {
  const inputSize = opts.inputSize ?? 64;
  const embedDim = opts.embedDim ?? 16;
  const seed = opts.seed ?? 1;
  if (!Number.isInteger(inputSize) || inputSize < 8) throw new Error(`tiny CLIP: inputSize must be an integer ≥ 8 (got ${inputSize})`);
  if (!Number.isInteger(embedDim) || embedDim < 1) throw new Error(`tiny CLIP: embedDim must be a positive integer (got ${embedDim})`);

  const gen = new Rng(seed);
  const rand = (): number => gen.next();
  const { vocab, merges } = bpeVocabulary([...TINY_CLIP_WORDS, ...(opts.words ?? [])]);
  const vocabSize = Object.keys(vocab).length;
  const vision = visionModel(rand, inputSize, embedDim);
  const text = textModel(rand, vocabSize, embedDim);

  const config = {
    _comment: 'Tiny CLIP for tests: deterministic random weights; proves plumbing, not explanations.',
    architectures: ['CLIPModel'],
    model_type: 'clip',
    projection_dim: embedDim,
    logit_scale_init_value: 2.6592,
    initializer_factor: 1.0,
    text_config: {
      model_type: 'clip_text_model',
      vocab_size: vocabSize,
      hidden_size: text.width,
      max_position_embeddings: TINY_CLIP_MAX_TOKENS,
      num_hidden_layers: 0,
      bos_token_id: vocab[START],
      eos_token_id: vocab[END],
      pad_token_id: vocab[END],
      projection_dim: embedDim,
    },
    vision_config: {
      model_type: 'clip_vision_model',
      image_size: inputSize,
      patch_size: vision.patch,
      num_channels: 3,
      hidden_size: vision.width,
      num_hidden_layers: 0,
      projection_dim: embedDim,
    },
    seed,
  };
  const preprocessor = {
    image_processor_type: 'CLIPImageProcessor',
    do_resize: true,
    size: { shortest_edge: inputSize },
    resample: 3,
    do_center_crop: true,
    crop_size: { height: inputSize, width: inputSize },
    do_rescale: true,
    rescale_factor: 1 / 255,
    do_normalize: true,
    image_mean: [...TINY_CLIP_MEAN],
    image_std: [...TINY_CLIP_STD],
    do_convert_rgb: true,
  };
  const tokenizerConfig = {
    tokenizer_class: 'CLIPTokenizer',
    bos_token: START,
    eos_token: END,
    unk_token: END,
    pad_token: END,
    model_max_length: TINY_CLIP_MAX_TOKENS,
    do_lower_case: true,
    add_prefix_space: false,
    clean_up_tokenization_spaces: false,
    errors: 'replace',
  };

  await mkdir(join(dir, 'onnx'), { recursive: true });
  const json = (v: object): string => `${JSON.stringify(v, null, 2)}\n`;
  await Promise.all([
    writeFile(join(dir, 'config.json'), json(config)),
    writeFile(join(dir, 'preprocessor_config.json'), json(preprocessor)),
    writeFile(join(dir, 'tokenizer.json'), json(tokenizerJson(vocab, merges))),
    writeFile(join(dir, 'tokenizer_config.json'), json(tokenizerConfig)),
    writeFile(join(dir, 'onnx', 'vision_model.onnx'), vision.bytes),
    writeFile(join(dir, 'onnx', 'text_model.onnx'), text.bytes),
  ]);
}
