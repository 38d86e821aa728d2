import type { WidgetOptions } from './options';
import type { DialogModule, TransportModule } from './runtime';
import { createWidget, type BugloopApi } from './widget-core';

/**
 * The script-tag entry (`dist/widget/widget.js`), a classic `<script async>`:
 * reads `data-*` options from its own tag, replaces the `window.Bugloop` stub and replays the
 * calls queued in `Bugloop.q` before it loaded. The dialog and the screenshot engine are lazy
 * chunks; `import()` in a classic script resolves relative to the script's own URL, so the
 * chunks load from wherever the loader was served.
 */

type QueuedCall = [keyof BugloopApi, ...unknown[]] | IArguments;
interface BugloopStub {
  q?: QueuedCall[];
}

const script = document.currentScript as HTMLScriptElement | null;
const global = window as unknown as { Bugloop?: BugloopStub | BugloopApi };

if (!global.Bugloop || !('version' in global.Bugloop)) {
  const queued = (global.Bugloop as BugloopStub | undefined)?.q ?? [];
  let defaultServer = location.origin;
  try {
    if (script?.src) defaultServer = new URL(script.src).origin;
  } catch {
    /* keep the page's origin */
  }
  const api = createWidget({
    defaultServer,
    loadDialog: () => import('./dialog/open-dialog') as Promise<DialogModule>,
    loadTransport: () => import('./transport') as Promise<TransportModule>,
  });
  global.Bugloop = api;

  const data = script?.dataset ?? {};
  const fromAttributes: Partial<WidgetOptions> = {
    projectKey: data.projectKey,
    server: data.server,
    position: data.position as WidgetOptions['position'],
    hideButton: data.hideButton === '' || data.hideButton === 'true',
    theme: data.theme as WidgetOptions['theme'],
    accentColor: data.accentColor,
    language: data.language,
    release: data.release,
    environment: data.environment,
    nonce: script?.nonce || undefined,
    screenshot: data.screenshot === 'false' ? false : undefined,
    screenshotEngine: data.screenshotEngine as WidgetOptions['screenshotEngine'],
    texts: data.buttonText ? { button: data.buttonText } : undefined,
  };
  for (const key of Object.keys(fromAttributes) as Array<keyof WidgetOptions>) if (fromAttributes[key] === undefined) delete fromAttributes[key];

  const calls = queued.map((call) => Array.prototype.slice.call(call) as [keyof BugloopApi, ...unknown[]]);
  const initCall = calls.find(([method]) => method === 'init');
  if (initCall || fromAttributes.projectKey) api.init({ ...fromAttributes, ...(initCall?.[1] as WidgetOptions | undefined) } as WidgetOptions);
  for (const [method, ...args] of calls) {
    const target = api[method];
    if (method !== 'init' && typeof target === 'function') (target as (...values: unknown[]) => void)(...args);
  }
}
