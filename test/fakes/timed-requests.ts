/** One request a fake platform made to the gateway, as the platform sees it. */
export interface TimedResponse {
  status?: number;
  /** The answer's body. */
  body?: string;
  /** No answer within the platform's wait (the platform would retry). */
  timedOut: boolean;
  ms: number;
  /** Connection error code (refused, reset) when there was no HTTP answer and no timeout. */
  error?: string;
}

/**
 * Requests a fake platform sends to the gateway with the platform's own time limit, and that
 * the fake can cut short when it closes (they then end as timed out).
 */
export class TimedRequests {
  private readonly aborts = new Set<AbortController>();

  async send(
    target: string,
    opts: { method: 'GET' | 'POST'; query?: Record<string, string>; body?: string; headers?: Record<string, string>; timeoutMs: number },
  ): Promise<TimedResponse> {
    const url = new URL(target);
    for (const [k, v] of Object.entries(opts.query ?? {})) url.searchParams.set(k, v);
    const started = Date.now();
    const abort = new AbortController();
    this.aborts.add(abort);
    const timer = setTimeout(() => abort.abort(), opts.timeoutMs);
    try {
      const res = await fetch(url, { method: opts.method, body: opts.body, headers: opts.headers ?? {}, signal: abort.signal });
      return { status: res.status, body: await res.text(), timedOut: false, ms: Date.now() - started };
    } catch (err) {
      if (abort.signal.aborted) return { timedOut: true, ms: Date.now() - started };
      return { timedOut: false, ms: Date.now() - started, error: (err as { cause?: { code?: string } }).cause?.code ?? String(err) };
    } finally {
      clearTimeout(timer);
      this.aborts.delete(abort);
    }
  }

  /** Aborts the requests in flight. */
  abortAll(): void {
    for (const a of this.aborts) a.abort();
  }
}
