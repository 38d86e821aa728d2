import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useErrorBoundary, useRef, useState } from 'preact/hooks';
import { ApiError } from '../api';

/** A spinner line for a request in flight. */
export function Loading(props: { label?: string }) {
  return (
    <div class="state state-loading" role="status" aria-live="polite">
      <span class="spinner" aria-hidden="true" />
      {props.label ?? 'Loading…'}
    </div>
  );
}

/** A failed request: what went wrong and a retry button. */
export function ErrorState(props: { error: unknown; onRetry?: () => void }) {
  const message = props.error instanceof ApiError ? props.error.message : 'Something went wrong.';
  return (
    <div class="state state-error" role="alert">
      <strong>Could not load this.</strong> <span>{message}</span>
      {props.onRetry && (
        <button type="button" class="button" onClick={props.onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}

/** Nothing to show yet, with what to do next. */
export function EmptyState(props: { title: string; children?: ComponentChildren }) {
  return (
    <div class="state state-empty">
      <strong>{props.title}</strong>
      {props.children && <div class="muted">{props.children}</div>}
    </div>
  );
}

export interface Resource<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: (options?: { quiet?: boolean }) => void;
  setData: (data: T) => void;
}

/**
 * Loads something for a page and keeps loading/error/data together. A quiet reload (live
 * updates) keeps showing the old data instead of a spinner. Answers that arrive after a newer
 * request started are dropped, so fast filter changes never show stale rows.
 */
export function useResource<T>(load: () => Promise<T>, dependencies: unknown[], enabled = true): Resource<T> {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true });
  const generation = useRef(0);
  const run = useCallback((options: { quiet?: boolean } = {}) => {
    const mine = ++generation.current;
    if (!options.quiet) setState((previous) => ({ data: previous.data, loading: true }));
    load().then(
      (data) => mine === generation.current && setState({ data, loading: false }),
      (error: unknown) => mine === generation.current && setState((previous) => ({ data: options.quiet ? previous.data : undefined, error, loading: false })),
    );
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, dependencies);
  useEffect(() => {
    if (enabled) run();
  }, [run, enabled]);
  return {
    data: state.data,
    error: state.error,
    loading: state.loading,
    reload: run,
    setData: (data: T) => setState({ data, loading: false }),
  };
}

/**
 * Catches a render error in one page, so a surprise from the server (a changed answer shape)
 * shows an error with a way out instead of unmounting the whole dashboard to a blank page.
 * Keyed by path in the shell, so moving to another page starts fresh.
 */
export function PageBoundary(props: { children: ComponentChildren }) {
  const [error, reset] = useErrorBoundary((caught: unknown) => console.error('dashboard page failed', caught));
  if (error) {
    return (
      <div class="state state-error" role="alert">
        <strong>This page failed to show.</strong> <span>{error instanceof Error ? error.message : String(error)}</span>
        <button type="button" class="button" onClick={reset}>
          Try again
        </button>
      </div>
    );
  }
  return <>{props.children}</>;
}
