/**
 * Step 1a: concepts from a language model, as Label-Free CBM asks for them (Oikarinen et al.,
 * `GPT_initial_concepts.ipynb`): three few-shot prompts per class — important features, things
 * seen around it, superclasses — each sampled `samples` times (LF-CBM: 2, temperature 0.7), the
 * answers split into items, cleaned and united per class and prompt.
 *
 * Answers are cached on disk, keyed by everything that shapes them (endpoint, model, messages,
 * temperature, token limit, sample number), so a rerun asks nothing; requests run a few at a time.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeJsonAtomic } from '../data/atomic-write.js';
import type { ChatClient, ChatMessage } from './chat-client.js';

/**
 * LF-CBM's three prompts, `{class}` standing for the class name. The few-shot examples are
 * LF-CBM's; a chat model gets the same text as one user message.
 */
export const LF_CBM_PROMPTS: Readonly<Record<string, string>> = {
  important:
    'List the most important features for recognizing something as a "goldfish":\n\n-bright orange color\n-a small, round body\n-a long, flowing tail\n-a small mouth\n-orange fins\n\n' +
    'List the most important features for recognizing something as a "beerglass":\n\n-a tall, cylindrical shape\n-clear or translucent color\n-opening at the top\n-a sturdy base\n-a handle\n\n' +
    'List the most important features for recognizing something as a "{class}":',
  superclass:
    'Give superclasses for the word "tench":\n\n-fish\n-vertebrate\n-animal\n\n' +
    'Give superclasses for the word "beer glass":\n\n-glass\n-container\n-object\n\n' +
    'Give superclasses for the word "{class}":',
  around:
    'List the things most commonly seen around a "tench":\n\n- a pond\n-fish\n-a net\n-a rod\n-a reel\n-a hook\n-bait\n\n' +
    'List the things most commonly seen around a "beer glass":\n\n- beer\n-a bar\n-a coaster\n-a napkin\n-a straw\n-a lime\n-a person\n\n' +
    'List the things most commonly seen around a "{class}":',
};

/** The system message that keeps chat models to the list format of the few-shot examples. */
export const LIST_SYSTEM_PROMPT = 'Answer with a short list in the format of the examples: one item per line, each line starting with "-", and nothing else.';

/**
 * Reads class names: one per line; blank lines and lines starting with `#` are ignored. An empty
 * file or a repeated name (compared case-insensitively, spaces collapsed) is an error naming the
 * file and lines.
 */
export function readClassNames(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`${path}: cannot read the class names (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return parseClassNames(text, path);
}

/** Parses class-name text (see {@link readClassNames}); `where` names the source in errors. */
export function parseClassNames(text: string, where = 'class names'): string[] {
  const seen = new Map<string, number>();
  const out: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const name = raw.trim().replace(/\s+/g, ' ');
    if (name === '' || name.startsWith('#')) return;
    const key = name.toLowerCase();
    const first = seen.get(key);
    if (first !== undefined) throw new Error(`${where}:${i + 1}: duplicate class name "${name}" (already on line ${first})`);
    seen.set(key, i + 1);
    out.push(name);
  });
  if (out.length === 0) throw new Error(`${where}: no class names (one class name per line expected)`);
  return out;
}

/** Options of {@link parseConceptAnswer}. */
export interface ParseOptions {
  /** Lower-case every concept (default true: chat models capitalise list items; CLIP's tokenizer lower-cases anyway). */
  lowercase?: boolean;
}

const LIST_MARKER = /^(?:[-*•–—+]|\d{1,3}[.)]|\(\d{1,3}\)|[a-z][.)](?=\s))\s*/i;

/**
 * Splits a model's answer into concepts. When some lines are list items (`-`, `*`, `•`, `1.`,
 * `1)` …) only those count, which drops preambles such as "Here are the features:"; otherwise
 * every line does, and a single comma-separated line is split at its commas. Each item loses its
 * list marker, Markdown emphasis, surrounding quotes, an explanation after `: ` and trailing
 * punctuation; whitespace is collapsed. Empty items and repeats are dropped; order is kept.
 * (LF-CBM split GPT-3 completions at "\n-" and stripped whitespace; chat answers vary more.)
 */
export function parseConceptAnswer(answer: string, options: ParseOptions = {}): string[] {
  const lowercase = options.lowercase ?? true;
  const lines = answer
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
  const items = lines.filter((l) => LIST_MARKER.test(l));
  let raw: string[];
  if (items.length > 0) raw = items.map((l) => l.replace(LIST_MARKER, ''));
  else if (lines.length === 1 && lines[0]!.includes(',')) raw = lines[0]!.split(',');
  else raw = lines;
  const out: string[] = [];
  const seen = new Set<string>();
  for (const r of raw) {
    let c = r.replace(/\*\*|__|`/g, '').trim();
    const colon = c.indexOf(': ');
    if (colon > 0) c = c.slice(0, colon);
    c = c
      .replace(/^["'“‘]+|["'”’]+$/g, '')
      .replace(/[.,;:!?]+$/, '')
      .replace(/\s+/g, ' ')
      .trim();
    c = c.replace(/^["'“‘]+|["'”’]+$/g, '').trim();
    if (lowercase) c = c.toLowerCase();
    if (c === '' || seen.has(c)) continue;
    seen.add(c);
    out.push(c);
  }
  return out;
}

/** Options of {@link generateConcepts}. */
export interface GenerateOptions {
  client: ChatClient;
  classes: string[];
  /** Prompt templates with `{class}`; LF-CBM's by default. */
  prompts?: Readonly<Record<string, string>>;
  /** Answers per class and prompt, united (LF-CBM: 2). */
  samples?: number;
  /** Sampling temperature (LF-CBM: 0.7). */
  temperature?: number;
  maxTokens?: number;
  /** Requests in flight at once (default 4). */
  concurrency?: number;
  /** Answer cache folder; no cache when omitted. */
  cacheDir?: string;
  parse?: ParseOptions;
  /** Called after each answer (cached or fetched). */
  onProgress?: (p: { done: number; total: number; fetched: number; cached: number }) => void;
}

/** The raw concepts of every class and prompt: `concepts generate`'s output. */
export interface RawConcepts {
  format: 'salf-cbm/raw-concepts';
  version: 1;
  model: string;
  endpoint: string;
  temperature: number;
  samples: number;
  prompts: Record<string, string>;
  classes: string[];
  /** Per class (in `classes` order): per prompt, the united, cleaned concepts, sorted. */
  perClass: { class: string; concepts: Record<string, string[]> }[];
  /** Answers that gave no concept, and similar oddities. */
  warnings: string[];
  /** How many answers came from the endpoint and how many from the cache. */
  requests: { fetched: number; cached: number };
}

/** Every concept of a {@link RawConcepts}, each once, sorted (LF-CBM unites them in a set). */
export function allConcepts(raw: RawConcepts): string[] {
  const set = new Set<string>();
  for (const c of raw.perClass) for (const list of Object.values(c.concepts)) for (const x of list) set.add(x);
  return [...set].sort(compareCodePoints);
}

/** Checks that `value` is a {@link RawConcepts}; `where` names the file in errors. */
export function parseRawConcepts(value: unknown, where: string): RawConcepts {
  const r = value as Partial<RawConcepts> | null;
  if (typeof r !== 'object' || r === null || r.format !== 'salf-cbm/raw-concepts') {
    throw new Error(`${where}: not the output of "salf-cbm concepts generate" (expected "format": "salf-cbm/raw-concepts")`);
  }
  if (!Array.isArray(r.classes) || !Array.isArray(r.perClass) || r.perClass.some((c) => typeof c?.class !== 'string' || typeof c.concepts !== 'object')) {
    throw new Error(`${where}: "classes" and "perClass" are missing or malformed`);
  }
  return r as RawConcepts;
}

/** Python's `sorted` order for strings (by code point). */
export function compareCodePoints(a: string, b: string): number {
  const A = [...a];
  const B = [...b];
  for (let i = 0; i < Math.min(A.length, B.length); i++) {
    const d = A[i]!.codePointAt(0)! - B[i]!.codePointAt(0)!;
    if (d !== 0) return d;
  }
  return A.length - B.length;
}

/** The messages sent for one class and prompt template. */
export function promptMessages(template: string, className: string): ChatMessage[] {
  return [
    { role: 'system', content: LIST_SYSTEM_PROMPT },
    { role: 'user', content: template.replaceAll('{class}', className) },
  ];
}

interface Task {
  cls: number;
  prompt: string;
  sample: number;
}

/** Asks the model the prompts for every class (cached, bounded concurrency) and collects the concepts. */
export async function generateConcepts(options: GenerateOptions): Promise<RawConcepts> {
  const { client, classes } = options;
  const prompts = { ...(options.prompts ?? LF_CBM_PROMPTS) };
  const samples = options.samples ?? 2;
  const temperature = options.temperature ?? 0.7;
  const concurrency = options.concurrency ?? 4;
  if (classes.length === 0) throw new Error('generateConcepts: no classes');
  if (new Set(classes.map((c) => c.toLowerCase())).size !== classes.length) throw new Error('generateConcepts: duplicate class names');
  if (Object.keys(prompts).length === 0) throw new Error('generateConcepts: no prompts');
  for (const [name, t] of Object.entries(prompts)) {
    if (!t.includes('{class}')) throw new Error(`generateConcepts: prompt "${name}" has no {class} placeholder`);
  }
  if (!Number.isInteger(samples) || samples < 1) throw new Error(`generateConcepts: samples must be a positive integer (got ${samples})`);
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error(`generateConcepts: concurrency must be a positive integer (got ${concurrency})`);

  const tasks: Task[] = [];
  classes.forEach((_, cls) => {
    for (const prompt of Object.keys(prompts)) for (let sample = 0; sample < samples; sample++) tasks.push({ cls, prompt, sample });
  });
  const answers: (string | undefined)[] = new Array(tasks.length);
  let fetched = 0;
  let cached = 0;
  let next = 0;
  let failure: Error | undefined;

  const run = async (t: Task, i: number): Promise<void> => {
    const messages = promptMessages(prompts[t.prompt]!, classes[t.cls]!);
    const request = { endpoint: client.url, model: client.model, messages, temperature, maxTokens: options.maxTokens ?? null, sample: t.sample };
    const file = options.cacheDir !== undefined ? join(options.cacheDir, `${cacheKey(request)}.json`) : undefined;
    const hit = file !== undefined ? readCached(file) : undefined;
    if (hit !== undefined) {
      answers[i] = hit;
      cached++;
    } else {
      const content = await client.complete({
        messages,
        temperature,
        ...(options.maxTokens !== undefined ? { maxTokens: options.maxTokens } : {}),
      });
      if (file !== undefined) writeJsonAtomic(file, { request, content });
      answers[i] = content;
      fetched++;
    }
    options.onProgress?.({ done: fetched + cached, total: tasks.length, fetched, cached });
  };
  const worker = async (): Promise<void> => {
    while (next < tasks.length && failure === undefined) {
      const i = next++;
      const t = tasks[i]!;
      try {
        await run(t, i);
      } catch (err) {
        failure ??= new Error(`class "${classes[t.cls]}", prompt "${t.prompt}": ${(err as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, tasks.length) }, worker));
  if (failure !== undefined) {
    const note = options.cacheDir !== undefined ? ` (${fetched + cached} answers are cached; a rerun asks only for the rest)` : '';
    throw new Error(`${failure.message}${note}`);
  }

  const warnings: string[] = [];
  const perClass = classes.map((name) => ({ class: name, concepts: {} as Record<string, string[]> }));
  const united = classes.map(() => new Map<string, Set<string>>());
  tasks.forEach((t, i) => {
    const found = parseConceptAnswer(answers[i]!, options.parse);
    if (found.length === 0)
      warnings.push(
        `class "${classes[t.cls]}", prompt "${t.prompt}", sample ${t.sample + 1}: the answer held no list item: ${JSON.stringify(answers[i]!.slice(0, 120))}`,
      );
    const m = united[t.cls]!;
    let set = m.get(t.prompt);
    if (!set) m.set(t.prompt, (set = new Set()));
    for (const c of found) set.add(c);
  });
  perClass.forEach((pc, k) => {
    for (const prompt of Object.keys(prompts)) pc.concepts[prompt] = [...(united[k]!.get(prompt) ?? [])].sort(compareCodePoints);
  });
  return {
    format: 'salf-cbm/raw-concepts',
    version: 1,
    model: client.model,
    endpoint: client.url,
    temperature,
    samples,
    prompts,
    classes: [...classes],
    perClass,
    warnings,
    requests: { fetched, cached },
  };
}

function cacheKey(request: object): string {
  return createHash('sha256').update(JSON.stringify(request)).digest('hex').slice(0, 32);
}

function readCached(file: string): string | undefined {
  if (!existsSync(file)) return undefined;
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as { content?: unknown };
    return typeof v.content === 'string' ? v.content : undefined;
  } catch {
    return undefined; // a damaged entry is asked again and overwritten
  }
}
