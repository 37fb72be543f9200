/**
 * Label-Free CBM's published filtered concept sets (SPEC step 1: the paper trains on them), named
 * `lfcbm:<name>` wherever a concept list is taken (`--concepts lfcbm:cub`).
 *
 * They are not shipped with this package: on first use each file is downloaded from the LF-CBM
 * repository at a pinned commit, its SHA-256 is checked against the one recorded here, and it is
 * cached (written atomically) under `<cache>/concept-sets/`. A cached file whose checksum matches
 * is used without touching the network. Offline, the error names the file, its URL and where to
 * put it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../data/atomic-write.js';
import { closestNames } from '../closest-names.js';
import { parseConceptList } from './concept-list.js';
import { sha256Hex } from '../store/fingerprint.js';

/** The commit of github.com/Trustworthy-ML-Lab/Label-free-CBM the files are pinned to (2023-04-07). */
export const LFCBM_COMMIT = 'bacf7bd18d4889f1279551da34b5055c93d2fe9c';
/** Where the files are fetched from: the repository's raw files at {@link LFCBM_COMMIT}. */
export const LFCBM_BASE_URL = `https://raw.githubusercontent.com/Trustworthy-ML-Lab/Label-free-CBM/${LFCBM_COMMIT}/data/concept_sets/`;

/** One published concept set. */
export interface ConceptSetInfo {
  /** File name in the repository's `data/concept_sets/`. */
  file: string;
  /** SHA-256 of the file's bytes at {@link LFCBM_COMMIT}. */
  sha256: string;
  /** Concepts it holds (distinct, non-empty lines). */
  concepts: number;
}

/** LF-CBM's filtered concept sets, by name. */
export const CONCEPT_SETS: Readonly<Record<string, ConceptSetInfo>> = {
  cifar10: { file: 'cifar10_filtered.txt', sha256: 'dbd485c91708585e0740db46773dd9e7bccbf1bb2424a6aeaa6ab28f5e06ff19', concepts: 143 },
  cifar100: { file: 'cifar100_filtered.txt', sha256: '960a78d29f65d3df0134edc3bd2573b6bc79b6ece970ae217011cb3e737ae0e3', concepts: 892 },
  cub: { file: 'cub_filtered.txt', sha256: '4e4b0ba0159791c9d5b105002c84baebd4ca8f8d8818a7a0c7052a1bb7a8dc8f', concepts: 370 },
  places365: { file: 'places365_filtered.txt', sha256: '1dacb978ce262e93b20aaf95b97cb3de80906fbeb8ecdde6cfc156ddbb3ffbb8', concepts: 2544 },
  imagenet: { file: 'imagenet_filtered.txt', sha256: '18c9c85dfe4020dac4d2fdf1a38e0ae98a41f90dfb5af7936511c7d61e5df49e', concepts: 4751 },
};

/** The prefix that names a published concept set instead of a file. */
export const CONCEPT_SET_PREFIX = 'lfcbm:';

/** salf-cbm's download cache: `SALF_CBM_CACHE`, else `$XDG_CACHE_HOME/salf-cbm`, else `~/.cache/salf-cbm`. */
export function salfCacheDir(): string {
  return process.env.SALF_CBM_CACHE || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'salf-cbm');
}

/** Options of {@link ensureConceptSet}. */
export interface ConceptSetOptions {
  /** Cache root (the files go to `<cacheDir>/concept-sets/`); {@link salfCacheDir} by default. */
  cacheDir?: string;
  /** Base URL the file names are appended to; {@link LFCBM_BASE_URL} by default (tests use a local server). */
  baseUrl?: string;
  /** Download time limit in ms (30 s by default). */
  timeoutMs?: number;
  /** The sets known by name; {@link CONCEPT_SETS} by default. */
  sets?: Readonly<Record<string, ConceptSetInfo>>;
}

function infoOf(name: string, sets: Readonly<Record<string, ConceptSetInfo>>): ConceptSetInfo {
  const info = sets[name];
  if (info) return info;
  const near = closestNames(Object.keys(sets), name);
  throw new Error(
    `no published concept set ${JSON.stringify(name)}; known: ${Object.keys(sets).join(', ')}${near.length ? ` (did you mean ${near[0]}?)` : ''}`,
  );
}

/**
 * The local path of the published concept set `name`, downloading and checking it first unless a
 * cached copy with the right checksum is there. Throws a clear error on a checksum mismatch (the
 * download is not kept) or when the file cannot be fetched (saying where to put it by hand).
 */
export async function ensureConceptSet(name: string, options: ConceptSetOptions = {}): Promise<string> {
  const info = infoOf(name, options.sets ?? CONCEPT_SETS);
  const dir = join(options.cacheDir ?? salfCacheDir(), 'concept-sets');
  const path = join(dir, info.file);
  if (existsSync(path) && sha256Hex(readFileSync(path)) === info.sha256) return path;
  const url = `${options.baseUrl ?? LFCBM_BASE_URL}${info.file}`;
  let bytes: Uint8Array;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(options.timeoutMs ?? 30_000) });
    if (!res.ok) throw new Error(`HTTP ${res.status} ${res.statusText}`);
    bytes = new Uint8Array(await res.arrayBuffer());
  } catch (err) {
    const cause = (err as Error & { cause?: Error }).cause?.message ?? (err as Error).message;
    throw new Error(
      `concept set ${CONCEPT_SET_PREFIX}${name}: could not download ${url} (${cause}). ` +
        `Offline, download that file elsewhere and put it at ${path} (SHA-256 ${info.sha256}).`,
    );
  }
  const got = sha256Hex(bytes);
  if (got !== info.sha256) {
    throw new Error(`concept set ${CONCEPT_SET_PREFIX}${name}: ${url} has SHA-256 ${got}, expected ${info.sha256}; refusing it (nothing was cached)`);
  }
  writeFileAtomic(path, bytes);
  return path;
}

/**
 * The concepts a `--concepts` value names: `lfcbm:<name>` is a published set (downloaded and
 * cached by {@link ensureConceptSet}), anything else a path handed to `readFile`.
 */
export async function resolveConceptsSource(value: string, readFile: (path: string) => string[], options: ConceptSetOptions = {}): Promise<string[]> {
  if (!value.startsWith(CONCEPT_SET_PREFIX)) return readFile(value);
  const path = await ensureConceptSet(value.slice(CONCEPT_SET_PREFIX.length), options);
  return parseConceptList(readFileSync(path, 'utf8'));
}
