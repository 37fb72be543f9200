/**
 * A minimal client for OpenAI-compatible chat-completions endpoints (`POST {baseUrl}/chat/completions`):
 * OpenAI, Azure-style proxies, vLLM, llama.cpp, Ollama, LM Studio … anything that speaks the
 * protocol. Rate limits (429), server errors (5xx), timeouts, network failures and malformed
 * answers are retried with exponential back-off and jitter, honouring `Retry-After`; other
 * client errors (400, 401, 403, 404 …) fail at once with the server's message.
 *
 * Resource bounds: an answer body is read as a stream and abandoned past `maxResponseBytes`
 * (a runaway or hostile server cannot fill the memory); a `Retry-After` longer than
 * `maxBackoffMs` fails at once rather than being waited out, and the waits of one request
 * together stay under `maxTotalWaitMs`.
 */

/** One chat message. */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** One completion request. */
export interface ChatRequest {
  messages: ChatMessage[];
  /** Sampling temperature; the server's default when omitted. */
  temperature?: number;
  /** `max_tokens`; not sent when omitted (some reasoning models reject it). */
  maxTokens?: number;
}

/** Options of {@link ChatClient}. */
export interface ChatClientOptions {
  /** API root, e.g. `https://api.openai.com/v1` or `http://localhost:11434/v1`. */
  baseUrl: string;
  /** Bearer token. */
  apiKey: string;
  model: string;
  /** Retries after the first attempt (default 6). */
  maxRetries?: number;
  /** First back-off in ms, doubled on each retry (default 1000). */
  initialBackoffMs?: number;
  /** Largest wait between attempts (default 30000); a server asking for a longer `Retry-After` fails the request. */
  maxBackoffMs?: number;
  /** Largest total of the waits of one request (default 60000); a retry that would pass it fails the request. */
  maxTotalWaitMs?: number;
  /** Largest answer body read, in bytes (default 8 MiB); a longer one fails the request. */
  maxResponseBytes?: number;
  /** Per-attempt time limit in ms (default 120000). */
  timeoutMs?: number;
  /** Replaces `globalThis.fetch` (tests). */
  fetch?: typeof fetch;
  /** Replaces the timer used for back-off (tests). */
  sleep?: (ms: number) => Promise<void>;
  /** Told about each retry (the CLI logs it). */
  onRetry?: (info: { attempt: number; waitMs: number; reason: string }) => void;
}

/** A failed request; `retryable` says whether another attempt could succeed. */
export class ChatError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly status?: number,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'ChatError';
  }
}

const RETRY_STATUS = new Set([408, 409, 425, 429]);

/** Default largest answer body: 8 MiB (a long concept list is a few KB). */
export const DEFAULT_MAX_RESPONSE_BYTES = 8 * 2 ** 20;

/** Parses `retry-after-ms` (OpenAI) or `Retry-After` (seconds or an HTTP date) into ms. */
export function retryAfterMs(headers: Headers, now = Date.now()): number | undefined {
  const ms = headers.get('retry-after-ms');
  if (ms !== null && ms.trim() !== '' && Number.isFinite(Number(ms))) return Math.max(0, Number(ms));
  const ra = headers.get('retry-after');
  if (ra === null || ra.trim() === '') return undefined;
  if (Number.isFinite(Number(ra))) return Math.max(0, Number(ra) * 1000);
  const at = Date.parse(ra);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** The assistant text of a chat-completions response body; throws a retryable ChatError when malformed. */
export function completionText(body: string, where: string): string {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new ChatError(`${where}: malformed answer (not JSON): ${snippet(body)}`, true);
  }
  const choices = (json as { choices?: unknown })?.choices;
  if (!Array.isArray(choices) || choices.length === 0) {
    const err = (json as { error?: { message?: unknown } })?.error?.message;
    if (typeof err === 'string') throw new ChatError(`${where}: the server reported an error: ${err}`, true);
    throw new ChatError(`${where}: malformed answer (no "choices"): ${snippet(body)}`, true);
  }
  const content = (choices[0] as { message?: { content?: unknown } })?.message?.content;
  if (typeof content === 'string') return content;
  // Content given as an array of parts ({type: 'text', text}).
  if (Array.isArray(content)) {
    const parts = content.map((p) => (typeof p === 'string' ? p : typeof p?.text === 'string' ? p.text : null));
    if (parts.every((p) => p !== null)) return parts.join('');
  }
  throw new ChatError(`${where}: malformed answer (choices[0].message.content is not text): ${snippet(body)}`, true);
}

function snippet(s: string): string {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > 200 ? `${t.slice(0, 200)}…` : t || '(empty body)';
}

function errorMessage(body: string): string {
  try {
    const m = (JSON.parse(body) as { error?: { message?: unknown } | string })?.error;
    if (typeof m === 'string') return m;
    if (typeof m?.message === 'string') return m.message;
  } catch {
    /* not JSON */
  }
  return snippet(body);
}

/** Sends chat-completion requests with retries; one instance may serve many concurrent calls. */
export class ChatClient {
  readonly url: string;
  readonly model: string;
  private readonly o: Required<
    Pick<ChatClientOptions, 'maxRetries' | 'initialBackoffMs' | 'maxBackoffMs' | 'maxTotalWaitMs' | 'maxResponseBytes' | 'timeoutMs'>
  >;
  private readonly apiKey: string;
  private readonly fetchFn: typeof fetch;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly onRetry: ChatClientOptions['onRetry'];

  constructor(options: ChatClientOptions) {
    let base: URL;
    try {
      base = new URL(options.baseUrl);
    } catch {
      throw new Error(`chat endpoint: "${options.baseUrl}" is not a URL (expected e.g. https://api.openai.com/v1)`);
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new Error(`chat endpoint: ${options.baseUrl} must be http or https`);
    if (!options.apiKey) throw new Error('chat endpoint: no API key (set OPENAI_API_KEY or pass --api-key; servers that need none accept any value)');
    if (!options.model) throw new Error('chat endpoint: no model (pass --model or set OPENAI_MODEL)');
    this.url = `${options.baseUrl.replace(/\/+$/, '')}/chat/completions`;
    this.model = options.model;
    this.apiKey = options.apiKey;
    this.o = {
      maxRetries: options.maxRetries ?? 6,
      initialBackoffMs: options.initialBackoffMs ?? 1000,
      maxBackoffMs: options.maxBackoffMs ?? 30_000,
      maxTotalWaitMs: options.maxTotalWaitMs ?? 60_000,
      maxResponseBytes: options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES,
      timeoutMs: options.timeoutMs ?? 120_000,
    };
    this.fetchFn = options.fetch ?? globalThis.fetch;
    this.sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.onRetry = options.onRetry;
  }

  /** The assistant's text for `request`, after retries. */
  async complete(request: ChatRequest): Promise<string> {
    const body = JSON.stringify({
      model: this.model,
      messages: request.messages,
      ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
      ...(request.maxTokens !== undefined ? { max_tokens: request.maxTokens } : {}),
    });
    let waited = 0;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.attempt(body);
      } catch (err) {
        const e = err instanceof ChatError ? err : new ChatError(String(err), false);
        if (!e.retryable) throw e;
        if (attempt >= this.o.maxRetries) {
          throw new ChatError(`${e.message} (gave up after ${attempt + 1} attempts)`, false, e.status);
        }
        if (e.retryAfterMs !== undefined && e.retryAfterMs > this.o.maxBackoffMs) {
          throw new ChatError(
            `${e.message} (the server asks to wait ${seconds(e.retryAfterMs)} before retrying, over the limit of ${seconds(this.o.maxBackoffMs)} per wait; raise it with --max-wait-ms)`,
            false,
            e.status,
            e.retryAfterMs,
          );
        }
        const backoff = this.o.initialBackoffMs * 2 ** attempt * (0.5 + Math.random() / 2);
        const waitMs = Math.min(this.o.maxBackoffMs, e.retryAfterMs ?? backoff);
        if (waited + waitMs > this.o.maxTotalWaitMs) {
          throw new ChatError(
            `${e.message} (gave up after ${attempt + 1} attempts: waiting ${seconds(waitMs)} more would pass the limit of ${seconds(this.o.maxTotalWaitMs)} of waits per request; raise it with --max-total-wait-ms)`,
            false,
            e.status,
          );
        }
        waited += waitMs;
        this.onRetry?.({ attempt: attempt + 1, waitMs, reason: e.message });
        await this.sleep(waitMs);
      }
    }
  }

  private async attempt(body: string): Promise<string> {
    let res: Response;
    let text: string;
    try {
      res = await this.fetchFn(this.url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${this.apiKey}` },
        body,
        signal: AbortSignal.timeout(this.o.timeoutMs),
      });
      text = await this.boundedText(res);
    } catch (err) {
      if (err instanceof ChatError) throw err;
      const e = err as Error & { cause?: { code?: string; message?: string } };
      const why = e.name === 'TimeoutError' ? `no answer within ${this.o.timeoutMs} ms` : (e.cause?.code ?? e.cause?.message ?? e.message);
      throw new ChatError(`${this.url}: cannot reach the endpoint (${why})`, true);
    }
    if (!res.ok) {
      const retryable = RETRY_STATUS.has(res.status) || res.status >= 500;
      const what = res.status === 429 ? 'rate limited' : res.status === 401 || res.status === 403 ? 'not authorised (check the API key)' : 'request failed';
      throw new ChatError(`${this.url}: ${what}, HTTP ${res.status}: ${errorMessage(text)}`, retryable, res.status, retryAfterMs(res.headers));
    }
    return completionText(text, this.url);
  }

  /** The body as text, read as a stream and abandoned (non-retryable ChatError) past `maxResponseBytes`. */
  private async boundedText(res: Response): Promise<string> {
    const limit = this.o.maxResponseBytes;
    const tooLong = (what: string): ChatError =>
      new ChatError(
        `${this.url}: the answer ${what} is over the limit of ${limit} bytes; raise it with --max-response-mb if it is expected`,
        false,
        res.status,
      );
    const declared = Number(res.headers.get('content-length') ?? NaN);
    if (declared > limit) {
      await res.body?.cancel().catch(() => undefined);
      throw tooLong(`of ${declared} bytes`);
    }
    if (!res.body) return '';
    const reader = res.body.getReader();
    const chunks: Uint8Array[] = [];
    let bytes = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      bytes += value.byteLength;
      if (bytes > limit) {
        await reader.cancel().catch(() => undefined);
        throw tooLong(`(more than ${bytes} bytes so far)`);
      }
      chunks.push(value);
    }
    return Buffer.concat(chunks).toString('utf8');
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
}
