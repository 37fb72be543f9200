/**
 * Model folders written as a unit and verified when read. `writeModelFolder` first removes the
 * folder's `manifest.json`, writes every file atomically, then writes a new `manifest.json`
 * (size and SHA-256 of each file) last: a save that stops part-way leaves no manifest, so the
 * folder is refused rather than loaded with new weights and old names. `openModelFolder` checks
 * every file against the manifest and decodes text as strict UTF-8.
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { removeStaleTemporaries, writeFileAtomic } from '../data/atomic-write.js';
import { parseJson } from '../data/parse-json.js';
import { decodeUtf8 } from '../data/utf8.js';
import { sha256Hex } from '../store/fingerprint.js';

/** The manifest's file name. */
export const MANIFEST_FILE = 'manifest.json';

/** `manifest.json`: every other file of the folder with its size and SHA-256 (hex). */
export interface ModelFolderManifest {
  format: 'salf-cbm-folder';
  version: 1;
  files: Record<string, { bytes: number; sha256: string }>;
}

/**
 * Writes `files` (name → content) into `dir` as a unit (see the module comment); the names in
 * `stale` are removed, so a file the new model lacks is not left from an older one, and so are
 * temporaries left by an earlier save that was killed.
 */
export function writeModelFolder(dir: string, files: Record<string, Uint8Array | string>, stale: readonly string[] = []): void {
  mkdirSync(dir, { recursive: true });
  removeStaleTemporaries(dir);
  rmSync(join(dir, MANIFEST_FILE), { force: true });
  const manifest: ModelFolderManifest = { format: 'salf-cbm-folder', version: 1, files: {} };
  for (const name of stale) if (!(name in files)) rmSync(join(dir, name), { force: true });
  for (const [name, content] of Object.entries(files)) {
    const bytes = typeof content === 'string' ? new TextEncoder().encode(content) : content;
    writeFileAtomic(join(dir, name), bytes);
    manifest.files[name] = { bytes: bytes.length, sha256: sha256Hex(bytes) };
  }
  writeFileAtomic(join(dir, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + '\n');
}

/** A model folder whose files were all read and checked against its manifest. */
export interface ModelFolder {
  dir: string;
  /** Whether the manifest lists `name`. */
  has(name: string): boolean;
  /** The verified bytes of `name` (an error names the file when the manifest does not list it). */
  bytes(name: string): Uint8Array;
  /** `name` decoded as strict UTF-8 and parsed as JSON. */
  json(name: string): unknown;
}

/**
 * Opens `dir`: reads its manifest and every file it lists, checking each file's size and SHA-256;
 * `what` names the kind of folder in errors.
 */
export function openModelFolder(dir: string, what: string): ModelFolder {
  const manifestPath = join(dir, MANIFEST_FILE);
  if (!existsSync(manifestPath)) {
    throw new Error(
      `${manifestPath}: missing, so the ${what} cannot be verified: its save did not finish (the files may mix two models), ` +
        'or it was saved by an older salf-cbm (before model folders had a manifest); train or save it again',
    );
  }
  const manifest = parseJson(decodeUtf8(readOrThrow(manifestPath), manifestPath), manifestPath) as ModelFolderManifest;
  if (manifest?.format !== 'salf-cbm-folder' || manifest.version !== 1 || typeof manifest.files !== 'object' || manifest.files === null) {
    throw new Error(
      `${manifestPath}: not a salf-cbm folder manifest (format ${JSON.stringify(manifest?.format)}, version ${JSON.stringify(manifest?.version)})`,
    );
  }
  const verified = new Map<string, Uint8Array>();
  for (const [name, entry] of Object.entries(manifest.files)) {
    const path = join(dir, name);
    const data = readOrThrow(path);
    if (data.length !== entry.bytes || sha256Hex(data) !== entry.sha256) {
      throw new Error(
        `${path}: does not match ${MANIFEST_FILE} (${data.length !== entry.bytes ? `${data.length} bytes, expected ${entry.bytes}` : 'SHA-256 differs'}); ` +
          `the file was changed or corrupted after the ${what} was saved — restore the folder or train/save it again`,
      );
    }
    verified.set(name, data);
  }
  const bytes = (name: string): Uint8Array => {
    const data = verified.get(name);
    if (!data) throw new Error(`${manifestPath}: does not list ${name}; the ${what} is incomplete — train or save it again`);
    return data;
  };
  return {
    dir,
    has: (name) => verified.has(name),
    bytes,
    json: (name) => parseJson(decodeUtf8(bytes(name), join(dir, name)), join(dir, name)),
  };
}

function readOrThrow(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(`${path}: cannot read (${e.code ?? e.message})`);
  }
}
