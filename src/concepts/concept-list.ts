/** Concept lists as plain text files: one concept per line. */
import { readFileSync } from 'node:fs';
import { decodeUtf8 } from '../data/utf8.js';

/**
 * Reads a concept file: one concept per line; blank lines and lines starting with `#` are
 * ignored, surrounding whitespace is trimmed, and repeated concepts (case-insensitive) are
 * kept once. An empty list, or bytes that are not UTF-8, are an error naming the file (and line).
 */
export function readConceptList(path: string): string[] {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new Error(`${path}: cannot read concept list (${(err as Error).message})`);
  }
  const concepts = parseConceptList(decodeUtf8(bytes, path));
  if (concepts.length === 0) throw new Error(`${path}: the concept list is empty (one concept per line expected)`);
  return concepts;
}

/** Parses concept-list text (see `readConceptList`). */
export function parseConceptList(text: string): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const key = line.toLowerCase();
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(line);
  }
  return out;
}
