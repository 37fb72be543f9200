/**
 * The explorer's web server (`salf-cbm serve`): it sends the page, its scripts, ONNX Runtime
 * Web's files (from the installed `onnxruntime-web`, so nothing comes from the network), the
 * exported model and its classifier tensors, and images from one folder when given. The model
 * runs in the browser; no image is ever sent to the server.
 *
 * It listens on the loopback interface by default, answers GET and HEAD only, refuses paths
 * outside what it serves (403), image files over a size limit (413), and requests whose Host
 * header names another machine while it listens on loopback (a DNS-rebinding guard). A request
 * whose handling throws or rejects gets a 500 JSON answer; no request can end the process.
 */
import { closeSync, createReadStream, existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExplorerManifest, ImageList } from '../web/core/manifest.js';
import { IMAGE_EXTENSIONS, RefusedPath, contentType, listImages, openFile, openInside, type OpenedFile } from './files.js';
import type { ServedModel } from './model-source.js';

/** Default largest image file sent from the image folder: 32 MiB. */
export const DEFAULT_MAX_IMAGE_BYTES = 32 * 2 ** 20;

/** Options of {@link startExplorerServer}. */
export interface ExplorerServerOptions {
  model: ServedModel;
  /** A folder of images the page may pick from. */
  imagesDir?: string;
  /** Interface to listen on (default 127.0.0.1). */
  host?: string;
  /** Port (default 0: any free port). */
  port?: number;
  /** Largest image file sent, in bytes (default 32 MiB). */
  maxImageBytes?: number;
  /** The built page (default: the package's `dist/web`). */
  webRoot?: string;
  /** ONNX Runtime Web's `dist` folder (default: the installed package's). */
  ortRoot?: string;
  /** Told about each request that failed inside the server (default: one line on stderr). */
  onRequestError?: (err: unknown, req: IncomingMessage) => void;
}

/** A running explorer server. */
export interface ExplorerServer {
  /** The page's address, e.g. `http://127.0.0.1:8000/`. */
  url: string;
  host: string;
  port: number;
  /** Stops listening and closes open connections. */
  close(): Promise<void>;
}

/** The built page: `dist/web` beside the compiled sources, or the repository's when run from `src/`. */
export function defaultWebRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [resolve(here, '../../web'), resolve(here, '../../dist/web')];
  const found = candidates.find((d) => existsSync(join(d, 'index.html')));
  if (!found) throw new Error(`the explorer page is not built (no index.html in ${candidates.join(' or ')}); run \`npm run build\``);
  return found;
}

/** The installed onnxruntime-web's `dist` folder. */
export function defaultOrtRoot(): string {
  const require = createRequire(import.meta.url);
  let entry: string;
  try {
    entry = require.resolve('onnxruntime-web');
  } catch {
    throw new Error('onnxruntime-web is not installed; run `npm install`');
  }
  return dirname(entry);
}

/** Content-Security-Policy of the page: everything from this server, nothing from elsewhere. */
const CSP = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval' blob:",
  "worker-src 'self' blob:",
  "connect-src 'self' blob: data:",
  "img-src 'self' blob: data:",
  "style-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

function isLoopback(host: string): boolean {
  return LOOPBACK_HOSTS.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * The host name of a `Host` header (`name`, `name:port`, `[v6]:port`), lower-cased as host names
 * compare; undefined when it is not a host (with an optional port).
 */
export function hostHeaderName(header: string): string | undefined {
  if (header === '' || /[/?#@\s\\]/.test(header)) return undefined;
  try {
    return new URL(`http://${header}`).hostname;
  } catch {
    return undefined;
  }
}

/** A request handler, plain or async. */
export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/**
 * `handler` with its failures isolated: a throw or a rejection answers 500 with a JSON
 * `{"error": …}` (or closes the connection when the answer had begun) and is reported to
 * `onError`; it never reaches the process.
 */
export function isolateFailures(
  handler: RequestHandler,
  onError: (err: unknown, req: IncomingMessage) => void,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const failed = (err: unknown): void => {
      try {
        onError(err, req);
      } catch {
        /* a failing reporter must not end the process either */
      }
      if (res.headersSent) return void res.destroy();
      const body = Buffer.from(JSON.stringify({ error: 'internal server error', detail: err instanceof Error ? err.message : String(err) }));
      res.writeHead(500, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': body.byteLength, 'Cache-Control': 'no-cache' });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    try {
      const done = handler(req, res);
      if (done instanceof Promise) done.catch(failed);
    } catch (err) {
      failed(err);
    }
  };
}

function logRequestError(err: unknown, req: IncomingMessage): void {
  process.stderr.write(`salf-cbm serve: ${req.method} ${req.url}: ${err instanceof Error ? err.message : String(err)}\n`);
}

/** Starts the server; resolves once it listens. */
export async function startExplorerServer(options: ExplorerServerOptions): Promise<ExplorerServer> {
  const host = options.host ?? '127.0.0.1';
  const webRoot = options.webRoot ?? defaultWebRoot();
  const ortRoot = options.ortRoot ?? defaultOrtRoot();
  const maxImageBytes = options.maxImageBytes ?? DEFAULT_MAX_IMAGE_BYTES;
  const { model, imagesDir } = options;
  if (imagesDir !== undefined && !existsSync(imagesDir)) throw new Error(`${imagesDir}: image folder not found`);
  const manifest: ExplorerManifest = {
    name: model.name,
    info: model.info,
    model: { url: '/model/model.onnx', bytes: model.bytes },
    head: { url: '/model/head.bin', bytes: model.head.byteLength },
    images: imagesDir !== undefined,
    maxImageBytes,
  };
  const manifestJson = Buffer.from(JSON.stringify(manifest));

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    res.setHeader('Cache-Control', 'no-cache');
    res.setHeader('Referrer-Policy', 'no-referrer');
    const fail = (status: number, message: string): void => {
      res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(`${status} ${message}\n`);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return fail(405, 'method not allowed');
    }
    const hostName = hostHeaderName(req.headers.host ?? '');
    if (isLoopback(host) && (hostName === undefined || !isLoopback(hostName)))
      return fail(421, 'this server only answers requests addressed to the loopback interface');
    // Dot segments are refused as sent, before URL parsing would fold them away.
    const raw = (req.url ?? '/').split(/[?#]/)[0]!;
    if (raw.split('/').some((s) => /^(\.|%2e){1,2}$/i.test(s))) return fail(403, 'path outside what this server serves');
    let path: string;
    try {
      path = new URL(`http://localhost${raw.startsWith('/') ? '' : '/'}${raw}`).pathname;
    } catch {
      return fail(400, 'bad request');
    }
    const sendBytes = (bytes: Uint8Array, type: string): void => {
      res.writeHead(200, { 'Content-Type': type, 'Content-Length': bytes.byteLength });
      res.end(req.method === 'HEAD' ? undefined : bytes);
    };
    /** Sends an opened file, exactly the bytes it had when opened; a read failure cuts the connection. */
    const sendFile = (file: OpenedFile, type: string, extra: Record<string, string> = {}): void => {
      res.writeHead(200, { 'Content-Type': type, 'Content-Length': file.bytes, ...extra });
      if (req.method === 'HEAD' || file.bytes === 0) {
        closeSync(file.fd);
        return void res.end();
      }
      // pipeline closes the file when the client goes away early, and cuts the answer when a read fails.
      pipeline(createReadStream('', { fd: file.fd, start: 0, end: file.bytes - 1 }), res, () => undefined);
    };
    const refusedOr500 = (err: unknown): void => {
      if (err instanceof RefusedPath) return fail(err.status, err.message);
      fail(500, 'cannot read the file');
    };
    const serveFrom = (root: string, rel: string, limit = Infinity, extra: Record<string, string> = {}): void => {
      let f;
      try {
        f = openInside(root, rel, limit);
      } catch (err) {
        return refusedOr500(err);
      }
      sendFile(f, contentType(f.path), extra);
    };

    if (path === '/' || path === '/index.html') return serveFrom(webRoot, 'index.html', Infinity, { 'Content-Security-Policy': CSP });
    if (path.startsWith('/app/')) return serveFrom(webRoot, path.slice('/app/'.length));
    if (path.startsWith('/ort/')) {
      const name = path.slice('/ort/'.length);
      if (!/^[A-Za-z0-9_.-]+\.(mjs|wasm)$/.test(name)) return fail(404, 'not found');
      return serveFrom(ortRoot, name);
    }
    if (path === '/api/model') return sendBytes(manifestJson, 'application/json; charset=utf-8');
    if (path === manifest.model.url) {
      let f;
      try {
        f = openFile(model.onnxPath);
      } catch (err) {
        return refusedOr500(err);
      }
      return sendFile(f, 'application/octet-stream');
    }
    if (path === manifest.head.url) return sendBytes(model.head, 'application/octet-stream');
    if (path === '/api/images') {
      const list: ImageList = imagesDir ? listImages(imagesDir) : { images: [], truncated: false, skipped: 0 };
      return sendBytes(Buffer.from(JSON.stringify(list)), 'application/json; charset=utf-8');
    }
    if (path.startsWith('/images/')) {
      if (!imagesDir) return fail(404, 'no image folder is served');
      const rel = path.slice('/images/'.length);
      if (!IMAGE_EXTENSIONS.has(extname(rel).toLowerCase())) return fail(403, 'only image files are served');
      return serveFrom(imagesDir, rel, maxImageBytes);
    }
    fail(404, 'not found');
  };

  const server: Server = createServer(isolateFailures(handle, options.onRequestError ?? logRequestError));
  await new Promise<void>((ok, bad) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      bad(
        new Error(
          err.code === 'EADDRINUSE'
            ? `port ${options.port} on ${host} is already in use; pick another with --port (0 = any free port)`
            : `cannot listen on ${host}:${options.port ?? 0} (${err.message})`,
        ),
      ),
    );
    server.listen(options.port ?? 0, host, () => ok());
  });
  const { port } = server.address() as AddressInfo;
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}/`,
    host,
    port,
    close: () =>
      new Promise<void>((ok) => {
        server.close(() => ok());
        server.closeAllConnections();
      }),
  };
}
