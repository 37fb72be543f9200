/**
 * Atomic file writes: write a temporary sibling, flush it to disk, then rename over the target.
 * A failed write (a full disk, say) removes its temporary and throws an error naming the target;
 * temporaries left by a killed process are removed by {@link removeStaleTemporaries}.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';

const TMP_MARK = '.tmp-';
/**
 * A temporary whose writer can't be checked (another machine on a shared folder, or a name
 * without this host's pid) is taken as abandoned after this long; a shard write takes seconds.
 */
export const STALE_TEMPORARY_MS = 10 * 60 * 1000;

/** Writes `data` to `path` so that readers see either the old file or the complete new one. */
export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  const tmp = `${path}${TMP_MARK}${hostname()}-${process.pid}-${Date.now()}`;
  let fd: number | undefined;
  try {
    mkdirSync(dirname(path), { recursive: true });
    fd = openSync(tmp, 'w');
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    let written = 0;
    while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    throw writeError(path, err);
  }
}

/** Writes pretty JSON atomically. */
export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n');
}

/**
 * Removes the temporaries (`<name>.tmp-<host>-<pid>-…`) in `dir` left by writers that died: on
 * this machine, those whose process is gone; otherwise those older than
 * {@link STALE_TEMPORARY_MS}, so a live writer's temporary is never touched. Returns their names.
 */
export function removeStaleTemporaries(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  const here = `${hostname()}-`;
  for (const name of names) {
    const at = name.lastIndexOf(TMP_MARK);
    if (at < 0) continue;
    const writer = name.slice(at + TMP_MARK.length);
    const pid = writer.startsWith(here) ? /^(\d+)-/.exec(writer.slice(here.length))?.[1] : undefined;
    const path = join(dir, name);
    try {
      const stale = pid !== undefined ? Number(pid) !== process.pid && !processAlive(Number(pid)) : Date.now() - statSync(path).mtimeMs > STALE_TEMPORARY_MS;
      if (stale) {
        rmSync(path, { force: true });
        removed.push(name);
      }
    } catch {
      // removed by another process meanwhile
    }
  }
  return removed;
}

/** The error of a failed write, naming the file (and what to do on a full disk); keeps `code`. */
function writeError(path: string, err: unknown): Error {
  const e = err as NodeJS.ErrnoException;
  const hint = e.code === 'ENOSPC' || e.code === 'EDQUOT' ? ': the disk is full (or over quota); free space and run again' : '';
  return Object.assign(new Error(`${path}: cannot write ${basename(path)} (${e.code ?? e.message})${hint}`, { cause: err }), { code: e.code });
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
