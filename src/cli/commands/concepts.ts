/** `salf-cbm concepts generate|filter`: SPEC step 1, a concept list from class names. */
import { readFileSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { Command } from 'commander';
import { writeFileAtomic, writeJsonAtomic } from '../../data/atomic-write.js';
import { openDataset } from '../../data/datasets.js';
import { ChatClient, DEFAULT_MAX_RESPONSE_BYTES } from '../../concepts/chat-client.js';
import { parseConceptList } from '../../concepts/concept-list.js';
import { FILTER_DEFAULTS, filterConcepts } from '../../concepts/filter.js';
import { SentenceEncoder } from '../../models/sentence-encoder.js';
import { allConcepts, generateConcepts, parseRawConcepts, readClassNames } from '../../concepts/generate.js';
import { formatConceptReport } from '../../concepts/report.js';
import { addPresetOption } from '../preset-option.js';
import { Engine } from '../../engine/session.js';
import { ClipModel } from '../../models/clip.js';
import { finite, fraction, nonNegative, nonNegativeInt, oneOf, positiveFloat, positiveInt, seed } from '../options.js';
import { TRAINING_DEFAULTS } from '../../training/defaults.js';
import { progressBars } from '../progress-bars.js';
import { parseJson } from '../../data/parse-json.js';

const DEFAULT_BASE_URL = 'https://api.openai.com/v1';

export function conceptsCommand(): Command {
  return new Command('concepts')
    .description('SPEC step 1: generate concepts for the class names with a language model, then filter them as Label-Free CBM does')
    .addCommand(generateCommand())
    .addCommand(filterCommand());
}

function generateCommand(): Command {
  return new Command('generate')
    .description("ask an OpenAI-compatible chat model LF-CBM's three prompts per class; writes the raw concepts per class and prompt as JSON")
    .requiredOption('--classes <file>', 'class names, one per line')
    .requiredOption('--out <file>', 'output JSON')
    .option('--base-url <url>', `API root of the chat-completions endpoint (env OPENAI_BASE_URL; default ${DEFAULT_BASE_URL})`)
    .option('--model <name>', 'chat model (env OPENAI_MODEL)')
    .option('--api-key <key>', 'API key (prefer the environment: OPENAI_API_KEY)')
    .option('--samples <n>', 'answers per class and prompt, united (LF-CBM: 2)', positiveInt, 2)
    .option('--temperature <t>', 'sampling temperature (LF-CBM: 0.7)', nonNegative, 0.7)
    .option('--max-tokens <n>', 'max_tokens per answer (not sent by default)', positiveInt)
    .option('--concurrency <n>', 'requests in flight at once', positiveInt, 4)
    .option('--retries <n>', 'retries of a request on rate limits, server errors, network errors and malformed answers', nonNegativeInt, 6)
    .option('--backoff-ms <ms>', 'first retry wait, doubled on each retry (Retry-After wins)', nonNegative, 1000)
    .option('--timeout-ms <ms>', 'time limit of one request', positiveInt, 120_000)
    .option('--max-wait-ms <ms>', 'longest wait before a retry; a server asking (Retry-After) for longer fails the request', positiveInt, 30_000)
    .option('--max-total-wait-ms <ms>', 'longest total of the waits of one request', positiveInt, 60_000)
    .option('--max-response-mb <n>', 'largest answer read, in MiB; a longer one fails the request', positiveFloat, DEFAULT_MAX_RESPONSE_BYTES / 2 ** 20)
    .option('--cache-dir <dir>', 'answer cache; a rerun asks only what is not cached (default <out folder>/chat-cache)')
    .option('--prompts <file>', "JSON object {name: template} replacing LF-CBM's prompts; templates use {class}")
    .option('--keep-case', 'keep the case of the answers (default: lower-case)')
    .action(async (flags) => {
      const classes = readClassNames(flags.classes);
      const apiKey: string | undefined = flags.apiKey ?? process.env.OPENAI_API_KEY;
      if (!apiKey)
        throw new Error('no API key: set OPENAI_API_KEY (or pass --api-key); for a local server that needs none, any value works, e.g. OPENAI_API_KEY=none');
      const model: string | undefined = flags.model ?? process.env.OPENAI_MODEL;
      if (!model) throw new Error('no model: pass --model or set OPENAI_MODEL');
      const client = new ChatClient({
        baseUrl: flags.baseUrl ?? process.env.OPENAI_BASE_URL ?? DEFAULT_BASE_URL,
        apiKey,
        model,
        maxRetries: flags.retries,
        initialBackoffMs: flags.backoffMs,
        timeoutMs: flags.timeoutMs,
        maxBackoffMs: flags.maxWaitMs,
        maxTotalWaitMs: flags.maxTotalWaitMs,
        maxResponseBytes: Math.floor(flags.maxResponseMb * 2 ** 20),
        onRetry: ({ attempt, waitMs, reason }) => process.stderr.write(`retry ${attempt} in ${(waitMs / 1000).toFixed(1)} s: ${reason}\n`),
      });
      const prompts = flags.prompts !== undefined ? readPrompts(flags.prompts) : undefined;
      const bars = progressBars();
      const total = classes.length * (prompts ? Object.keys(prompts).length : 3) * flags.samples;
      bars.start('concept prompts', total);
      let raw;
      try {
        raw = await generateConcepts({
          client,
          classes,
          ...(prompts ? { prompts } : {}),
          samples: flags.samples,
          temperature: flags.temperature,
          ...(flags.maxTokens !== undefined ? { maxTokens: flags.maxTokens } : {}),
          concurrency: flags.concurrency,
          cacheDir: flags.cacheDir ?? join(dirname(flags.out), 'chat-cache'),
          parse: { lowercase: !flags.keepCase },
          onProgress: (p) => bars.update(p.done, `${p.fetched} asked, ${p.cached} cached`),
        });
      } finally {
        bars.stop();
      }
      writeJsonAtomic(flags.out, raw);
      for (const w of raw.warnings) process.stderr.write(`warning: ${w}\n`);
      console.log(
        `${allConcepts(raw).length} distinct concepts for ${classes.length} classes (${raw.requests.fetched} answers asked, ${raw.requests.cached} from the cache); written to ${flags.out}`,
      );
    });
}

function filterCommand(): Command {
  const cmd = new Command('filter')
    .description(
      "LF-CBM's filters in order: length, similarity to class names, near-duplicates, absent from the training images; writes the list and a report of every decision",
    )
    .requiredOption('--concepts <file>', 'the output of "concepts generate", or a plain list, one concept per line')
    .requiredOption('--clip <folder|hub-id>', 'CLIP model: a local folder in the Hugging Face layout, or a hub id (online only)')
    .requiredOption('--out <file>', 'filtered concept list, one per line')
    .option('--classes <file>', 'class names, one per line (default: the classes recorded by "concepts generate")')
    .option('--report <file>', 'report of every decision, JSON (default <out>.report.json)')
    .option(
      '--data <[kind:]path>',
      'the data (cub, cifar10, cifar100, imagenet, places365 or folder; detected from the folder without a kind); its training images drive the absent-from-data filter, skipped without it',
    )
    .option('--split-file <file>', 'split file, as for train; its train split is used')
    .option(
      '--val-fraction <f>',
      'validation hold-out when there is no split file (as for train, so the same training images are used)',
      fraction,
      TRAINING_DEFAULTS.valFraction,
    )
    .option('--seed <n>', 'seed of the hold-out split (as for train)', seed, TRAINING_DEFAULTS.seed)
    .option(
      '--sentence-model <folder|hub-id>',
      'sentence-embedding model for transformers.js (e.g. a local export of all-mpnet-base-v2); text similarity becomes (sentence + 3 × CLIP)/4',
    )
    .option('--max-length <n>', 'drop concepts longer than this many characters', positiveInt, FILTER_DEFAULTS.maxLength)
    .option('--class-similarity <x>', 'drop concepts at least this similar to a class name', finite, FILTER_DEFAULTS.classSimilarity)
    .option('--duplicate-similarity <x>', 'of two concepts at least this similar, drop one', finite, FILTER_DEFAULTS.duplicateSimilarity)
    .option(
      '--clip-cutoff <x>',
      'drop concepts whose mean top-5 CLIP image similarity is not above this (LF-CBM: 0.26 CUB, 0.28 Places365 and ImageNet)',
      finite,
      FILTER_DEFAULTS.clipCutoff,
    )
    .option('--batch-size <n>', 'images per CLIP run', positiveInt, 32)
    .option('--skip-bad', 'skip images that cannot be decoded instead of stopping')
    .option('--device <device>', 'execution provider: cpu or cuda', oneOf('cpu', 'cuda'), 'cpu')
    .action(async (flags) => {
      const { concepts, classes: recorded } = readConceptsInput(flags.concepts);
      const classes = flags.classes !== undefined ? readClassNames(flags.classes) : recorded;
      if (!classes) throw new Error(`${flags.concepts}: a plain concept list records no class names; pass --classes`);
      const paths = flags.data !== undefined ? trainingImages(flags) : undefined;
      const clip = await ClipModel.load(flags.clip, { device: flags.device });
      const sentence = flags.sentenceModel !== undefined ? await SentenceEncoder.load(flags.sentenceModel, { device: flags.device }) : undefined;
      const engine = new Engine({ device: flags.device });
      try {
        const result = await filterConcepts({
          concepts,
          classes,
          text: { clip, ...(sentence ? { sentence } : {}) },
          ...(paths ? { images: { encoder: clip, paths } } : {}),
          maxLength: flags.maxLength,
          classSimilarity: flags.classSimilarity,
          duplicateSimilarity: flags.duplicateSimilarity,
          clipCutoff: flags.clipCutoff,
          batchSize: flags.batchSize,
          skipBad: flags.skipBad,
          engine,
          progress: progressBars(),
        });
        const reportPath: string = flags.report ?? join(dirname(flags.out), `${basename(flags.out, extname(flags.out))}.report.json`);
        if (result.kept.length === 0) process.stderr.write('warning: every concept was dropped\n');
        writeFileAtomic(flags.out, result.kept.map((c) => `${c}\n`).join(''));
        writeJsonAtomic(reportPath, { ...result.report, skippedImages: result.skipped });
        process.stdout.write(formatConceptReport(result.report));
        for (const s of result.skipped) process.stderr.write(`skipped ${s.path}: ${s.reason}\n`);
        console.log(`${result.kept.length} concept(s) written to ${flags.out}; report in ${reportPath}`);
      } finally {
        await Promise.all([clip.dispose(), sentence?.dispose(), engine.dispose()]);
      }
    });
  return addPresetOption(cmd, 'concepts-filter');
}

/** Concepts (and recorded classes) from a `concepts generate` JSON or a plain list. */
function readConceptsInput(path: string): { concepts: string[]; classes?: string[] } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`${path}: cannot read the concepts (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (text.trimStart().startsWith('{')) {
    const json = parseJson(text, path);
    const raw = parseRawConcepts(json, path);
    const concepts = allConcepts(raw);
    if (concepts.length === 0) throw new Error(`${path}: holds no concepts`);
    return { concepts, classes: raw.classes };
  }
  const concepts = parseConceptList(text);
  if (concepts.length === 0) throw new Error(`${path}: the concept list is empty (one concept per line expected)`);
  return { concepts };
}

function trainingImages(flags: { data: string; splitFile?: string; valFraction: number; seed: number }): string[] {
  const folder = openDataset(flags.data, flags.splitFile ? { splitFile: flags.splitFile } : { holdout: { val: flags.valFraction, seed: flags.seed } });
  const train = folder.split('train');
  if (train.length === 0) throw new Error(`${flags.data}: no training images`);
  return train.map((s) => s.path);
}

function readPrompts(path: string): Record<string, string> {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`${path}: cannot read the prompts (${(err as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json) || Object.keys(json).length === 0) {
    throw new Error(`${path}: expected a JSON object {"name": "template with {class}"}`);
  }
  for (const [k, v] of Object.entries(json)) {
    if (typeof v !== 'string' || !v.includes('{class}')) throw new Error(`${path}: prompt "${k}" must be a string containing {class}`);
  }
  return json as Record<string, string>;
}
