/**
 * A local chat-completions server for tests: listens on 127.0.0.1 (a free port), answers
 * `POST /v1/chat/completions` through a scripted handler, records every request and the most
 * requests in flight at once, refuses requests beyond a bound, and closes itself after a while.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One recorded request. */
export interface RecordedRequest {
  n: number;
  authorization: string | undefined;
  body: { model?: string; messages?: { role: string; content: string }[]; temperature?: number; max_tokens?: number };
}

/** What the handler answers: a status, a raw body and headers. */
export interface Reply {
  status?: number;
  body: string;
  headers?: Record<string, string>;
  delayMs?: number;
}

export interface ChatServer {
  /** API root, e.g. http://127.0.0.1:1234/v1 */
  baseUrl: string;
  requests: RecordedRequest[];
  maxInFlight: number;
  close(): Promise<void>;
}

/** A well-formed chat-completions body with `content` as the assistant's text. */
export function completion(content: string): string {
  return JSON.stringify({
    id: 'chatcmpl-test',
    object: 'chat.completion',
    created: 0,
    model: 'test-model',
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
  });
}

/** The class name a LF-CBM prompt asks about (the last quoted word) and which prompt it is. */
export function askedAbout(req: RecordedRequest): { cls: string; prompt: 'important' | 'around' | 'superclass' } {
  const user = req.body.messages?.find((m) => m.role === 'user')?.content ?? '';
  const quoted = [...user.matchAll(/"([^"]+)"/g)];
  const cls = quoted.at(-1)?.[1] ?? '';
  const last = user.slice(user.lastIndexOf('\n') + 1);
  const prompt = last.startsWith('Give superclasses') ? 'superclass' : last.startsWith('List the things') ? 'around' : 'important';
  return { cls, prompt };
}

export async function startChatServer(
  handler: (req: RecordedRequest) => Reply,
  options: { maxRequests?: number; lifetimeMs?: number } = {},
): Promise<ChatServer> {
  const maxRequests = options.maxRequests ?? 200;
  const requests: RecordedRequest[] = [];
  let inFlight = 0;
  const state = { maxInFlight: 0 };
  const server: Server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: `no route ${req.method} ${req.url}` } }));
        return;
      }
      if (requests.length >= maxRequests) {
        res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'test server: request bound reached' } }));
        return;
      }
      let body: RecordedRequest['body'] = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as RecordedRequest['body'];
      } catch {
        /* recorded as empty */
      }
      const rec: RecordedRequest = { n: requests.length, authorization: req.headers.authorization, body };
      requests.push(rec);
      inFlight++;
      state.maxInFlight = Math.max(state.maxInFlight, inFlight);
      const reply = handler(rec);
      setTimeout(() => {
        inFlight--;
        res.writeHead(reply.status ?? 200, { 'content-type': 'application/json', ...(reply.headers ?? {}) }).end(reply.body);
      }, reply.delayMs ?? 0);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const timer = setTimeout(() => server.close(), options.lifetimeMs ?? 60_000);
  timer.unref();
  const port = (server.address() as AddressInfo).port;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    get maxInFlight() {
      return state.maxInFlight;
    },
    close: () =>
      new Promise<void>((resolve) => {
        clearTimeout(timer);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A port on 127.0.0.1 where nothing listens (a server started and closed). */
export async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}
