/**
 * What a reader of an official dataset layout (CUB, CIFAR, ImageNet, Places365; src/data/*.ts)
 * returns, and the file helpers they share. The official held-out split (CUB's and CIFAR's test,
 * ImageNet's and Places365's val) becomes the `test` split of src/data/datasets.ts.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Sample } from './image-folder.js';

/** A dataset in its official layout, with its official train/test split. */
export interface OfficialDataset {
  /** Absolute root folder. */
  root: string;
  /** Class names in the official label order; a sample's label indexes this list. */
  classes: string[];
  /** The official training images. */
  train: Sample[];
  /** The official held-out images (test, or val where the test labels are not public). */
  test: Sample[];
}

/** `dir/name` when it is a file; else an error naming the file that `kind` needs. */
export function requireFile(dir: string, name: string, kind: string): string {
  const file = join(dir, name);
  if (!isFile(file)) throw new Error(`${file}: missing (the ${kind} layout needs ${name} in ${dir})`);
  return file;
}

/** Whether `path` is a regular file (following links). */
export function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** Whether `path` is a folder (following links). */
export function isFolder(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The non-blank lines of a text file, each with its 1-based line number, split on whitespace. */
export function readFields(file: string): { line: number; fields: string[] }[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(`${file}: cannot read (${e.code ?? e.message})`);
  }
  const out: { line: number; fields: string[] }[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const t = raw.trim();
    if (t !== '') out.push({ line: i + 1, fields: t.split(/\s+/) });
  });
  return out;
}

/** A non-negative integer field, or an error naming the file and line. */
export function intField(value: string | undefined, file: string, line: number, what: string): number {
  if (value === undefined || !/^\d+$/.test(value)) throw new Error(`${file}:${line}: expected ${what} (an integer), got "${value ?? ''}"`);
  return Number.parseInt(value, 10);
}
