/**
 * Files the explorer's server may send: resolving a URL path inside one folder and nowhere else
 * (no `..`, no encoded separators, no symbolic link leading out), content types, and the listing
 * of an image folder.
 */
import { closeSync, constants, fstatSync, openSync, realpathSync, statSync, readdirSync } from 'node:fs';
import { extname, join, relative, resolve, sep } from 'node:path';

/** Why a path was refused. */
export class RefusedPath extends Error {
  constructor(
    message: string,
    /** The HTTP status to answer with. */
    readonly status: 403 | 404 | 413,
  ) {
    super(message);
  }
}

/** Content types of the files the server sends. */
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.bmp': 'image/bmp',
  '.avif': 'image/avif',
};

/** Image file extensions the page can open (what browsers decode). */
export const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg', '.gif', '.webp', '.bmp', '.avif']);

/** The content type for a file name. */
export function contentType(name: string): string {
  return TYPES[extname(name).toLowerCase()] ?? 'application/octet-stream';
}

/**
 * The file under `root` that URL path `urlPath` (percent-encoded, `/`-separated, relative to
 * the root) names. Refuses (403) empty, `.`/`..`, hidden (`.x`) or encoded-separator segments
 * and anything whose real path (links resolved) is outside the root; 404 when it does not exist
 * or is not a file; 413 when it is larger than `maxBytes`.
 */
export function resolveInside(root: string, urlPath: string, maxBytes = Infinity): { path: string; bytes: number } {
  let segments: string[];
  try {
    segments = urlPath.split('/').map((s) => decodeURIComponent(s));
  } catch {
    throw new RefusedPath('malformed path', 403);
  }
  if (segments.length === 0 || segments.some((s) => s === '' || s === '.' || s === '..' || s.startsWith('.') || /[\\/\0]/.test(s))) {
    throw new RefusedPath('path outside the served folder', 403);
  }
  const base = realpathSync(root);
  const candidate = resolve(base, ...segments);
  if (!isInside(base, candidate)) throw new RefusedPath('path outside the served folder', 403);
  let real: string;
  try {
    real = realpathSync(candidate);
  } catch {
    throw new RefusedPath('not found', 404);
  }
  if (!isInside(base, real)) throw new RefusedPath('path outside the served folder', 403);
  let st;
  try {
    st = statSync(real);
  } catch {
    throw new RefusedPath('not found', 404);
  }
  if (!st.isFile()) throw new RefusedPath('not found', 404);
  if (st.size > maxBytes) throw new RefusedPath(`file of ${st.size} bytes is over the limit of ${maxBytes}`, 413);
  return { path: real, bytes: st.size };
}

/** An open file to send: its descriptor (the caller closes it) and its size when opened. */
export interface OpenedFile {
  fd: number;
  bytes: number;
}

/**
 * Opens `path` for sending. The size and kind are those of the opened file, so a file removed or
 * replaced after it was found is either sent whole as opened or refused (404), never half-sent;
 * a FIFO is refused without blocking.
 */
export function openFile(path: string, maxBytes = Infinity): OpenedFile {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    throw new RefusedPath('not found', 404);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new RefusedPath('not found', 404);
    if (st.size > maxBytes) throw new RefusedPath(`file of ${st.size} bytes is over the limit of ${maxBytes}`, 413);
    return { fd, bytes: st.size };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/** {@link resolveInside}, then {@link openFile}. */
export function openInside(root: string, urlPath: string, maxBytes = Infinity): OpenedFile & { path: string } {
  const { path } = resolveInside(root, urlPath, maxBytes);
  return { path, ...openFile(path, maxBytes) };
}

function isInside(base: string, path: string): boolean {
  const rel = relative(base, path);
  return rel !== '' && !rel.startsWith(`..${sep}`) && rel !== '..' && !rel.startsWith(sep) && !/^[a-zA-Z]:/.test(rel);
}

/** A listing of the image folder. */
export interface ImageListing {
  images: { path: string; bytes: number }[];
  /** True when the listing was cut at `limit`. */
  truncated: boolean;
  /** Entries that could not be read while listing (a sub-folder without permission, a file removed meanwhile), skipped. */
  skipped: number;
}

/**
 * Lists image files under `root` (sub-folders up to `maxDepth` deep, hidden entries skipped),
 * sorted, at most `limit`. The folder may change while it is listed: a sub-folder that cannot be
 * read or a file gone before it is measured is skipped and counted, never thrown.
 */
export function listImages(root: string, limit = 5000, maxDepth = 4): ImageListing {
  const images: { path: string; bytes: number }[] = [];
  let truncated = false;
  let skipped = 0;
  const walk = (dir: string, rel: string[], depth: number): void => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      skipped++;
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (truncated) return;
      if (e.name.startsWith('.')) continue;
      const full = join(dir, e.name);
      if (e.isDirectory()) {
        if (depth < maxDepth) walk(full, [...rel, e.name], depth + 1);
      } else if (e.isFile() && IMAGE_EXTENSIONS.has(extname(e.name).toLowerCase())) {
        if (images.length >= limit) {
          truncated = true;
          return;
        }
        let bytes: number;
        try {
          bytes = statSync(full).size;
        } catch {
          skipped++;
          continue;
        }
        images.push({ path: [...rel, e.name].join('/'), bytes });
      }
    }
  };
  walk(root, [], 0);
  return { images, truncated, skipped };
}
