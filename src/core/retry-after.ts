/** Helpers shared by outbound HTTP calls (agents, the Web API callback) to classify failed responses. */

/** 408, 409 (lock timeouts), 429 and 5xx can succeed when tried again; other 4xx cannot. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

/** Fetch's `Headers`, or the plain lowercase-keyed object undici's `request` and node:http give. */
export type HeaderSource = Headers | Record<string, string | string[] | undefined>;

function header(headers: HeaderSource, name: string): string | null {
  if (headers instanceof Headers) return headers.get(name);
  const value = headers[name];
  return Array.isArray(value) ? (value[0] ?? null) : (value ?? null);
}

/**
 * Reads `retry-after-ms` (OpenAI's extension) or `retry-after` (seconds or an HTTP date).
 * Returns undefined when absent or unreadable, so the caller falls back to its backoff.
 */
export function parseRetryAfter(headers: HeaderSource | undefined, nowMs: number = Date.now()): number | undefined {
  if (!headers) return undefined;
  const ms = header(headers, 'retry-after-ms');
  if (ms !== null && ms.trim() !== '') {
    const value = Number(ms);
    if (Number.isFinite(value) && value >= 0) return Math.round(value);
  }
  const raw = header(headers, 'retry-after');
  if (raw === null || raw.trim() === '') return undefined;
  const seconds = Number(raw);
  if (Number.isFinite(seconds)) return seconds >= 0 ? Math.round(seconds * 1000) : undefined;
  const date = Date.parse(raw);
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs);
}
