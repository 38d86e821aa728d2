import type { Breadcrumb, ConsoleEntry, NetworkEntry } from '../shared/report-schema';
import type { WidgetOptions, WidgetUser } from './options';

/**
 * What the loader hands to the lazy chunks. Types only: a lazy chunk must never import a module
 * the loader bundles, or the bundler would make the chunk import the (classic-script) loader.
 */
export interface WidgetRuntime {
  options: WidgetOptions;
  /** Server base URL without a trailing slash. */
  serverUrl: string;
  version: string;
  /** The host element (light DOM) and its shadow root, where the dialog renders. */
  host: HTMLElement;
  shadow: ShadowRoot;
  user: WidgetUser;
  metadata: Record<string, string | number | boolean | null>;
  logs: RecordedLogs;
  /** The page's fetch as it was before the widget wrapped it, so the widget's own sends are not logged. */
  fetch: typeof fetch;
  /** Adds CSS to the shadow root (constructable stylesheet, or a `<style nonce>`). */
  addStyle(css: string): void;
  /** Routes an error to `onError`; never throws. */
  reportError(error: unknown): void;
  /** Called by the dialog when it closed, so the loader can return focus. */
  dialogClosed(): void;
}

/** Ring buffers filled from page load on. */
export interface RecordedLogs {
  console: ConsoleEntry[];
  network: NetworkEntry[];
  breadcrumbs: Breadcrumb[];
}

/** The dialog chunk's entry. */
export interface DialogModule {
  openDialog(runtime: WidgetRuntime): { close(): void };
}

/** The transport chunk's entry used by the loader (offline queue at page load). */
export interface TransportModule {
  flushQueue(runtime: Pick<WidgetRuntime, 'fetch' | 'reportError' | 'options'>): Promise<void>;
}
