import { useCallback, useEffect, useRef, useState } from 'react';
import { api, subscribe } from '../api';
import type { Dashboard } from './types';

export type LiveMode = 'connecting' | 'live' | 'polling';

/**
 * The dashboard, kept current by the `/events` stream; while the stream is down it polls
 * `/dashboard` every 2 s, and goes back to the stream when EventSource reconnects.
 */
export function useDashboard(): { dashboard?: Dashboard; mode: LiveMode; error?: unknown } {
  const [dashboard, setDashboard] = useState<Dashboard>();
  const [mode, setMode] = useState<LiveMode>('connecting');
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    let poll: ReturnType<typeof setInterval> | undefined;
    let stopped = false;
    let heard = false;
    const fetchOnce = () =>
      api<Dashboard>('GET', '/dashboard').then(
        (d) => {
          if (!stopped) (setDashboard(d), setError(undefined));
        },
        (err) => !stopped && setError(err),
      );
    const startPolling = () => {
      if (poll) return;
      setMode('polling');
      void fetchOnce();
      poll = setInterval(fetchOnce, 2_000);
    };
    const stopPolling = () => {
      if (poll) clearInterval(poll);
      poll = undefined;
    };
    const close = subscribe(
      '/events',
      {
        dashboard: (d: Dashboard) => {
          heard = true;
          stopPolling();
          setMode('live');
          setDashboard(d);
          setError(undefined);
        },
      },
      (open) => (open ? setMode('live') : startPolling()),
    );
    // If no event comes soon (a proxy buffering the stream), poll meanwhile.
    const grace = setTimeout(() => heard || startPolling(), 3_000);
    return () => {
      stopped = true;
      close();
      stopPolling();
      clearTimeout(grace);
    };
  }, []);
  return { dashboard, mode, error };
}

/**
 * Loads something and reloads it every `intervalMs` (0: only when `deps` change) while the page is
 * visible; `reload()` fetches at once (after a save). Keeps the last good value while a refresh
 * fails. Without `load` (nothing chosen yet) it loads nothing. An answer to a request made for
 * other `deps` is dropped, never shown under the new ones.
 */
export function usePolled<T>(load: (() => Promise<T>) | undefined, intervalMs: number, deps: readonly unknown[]) {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<unknown>();
  const loadRef = useRef(load);
  loadRef.current = load;
  const generation = useRef(0);
  const reload = useCallback(async () => {
    const current = loadRef.current;
    if (!current) return undefined;
    const asked = generation.current;
    try {
      const value = await current();
      if (asked === generation.current) (setData(value), setError(undefined));
      return value;
    } catch (err) {
      if (asked === generation.current) setError(err);
      return undefined;
    }
  }, []);
  useEffect(() => {
    setData(undefined);
    setError(undefined);
    void reload();
    const timer = intervalMs
      ? setInterval(() => {
          if (document.visibilityState === 'visible') void reload();
        }, intervalMs)
      : undefined;
    return () => {
      generation.current++;
      clearInterval(timer);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  return { data, error, reload };
}

/** The current time, refreshed every `ms`, so relative times ("5 s ago") age while the page is open. */
export function useNow(ms = 5_000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return now;
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
