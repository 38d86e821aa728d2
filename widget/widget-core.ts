import { startCollectors } from './collectors';
import type { BugloopApi, WidgetOptions, WidgetUser } from './options';

export type { BugloopApi } from './options';
import type { DialogModule, RecordedLogs, TransportModule, WidgetRuntime } from './runtime';

/** Bumped with every change to the widget's behaviour; sent as `client.widgetVersion`. */
export const widgetVersion = '0.1.0';

const buttonCss = `:host{all:initial}
.launcher{position:fixed;z-index:2147483646;display:flex;align-items:center;gap:6px;padding:10px 14px;border:0;border-radius:999px;background:var(--bugloop-accent,#0f766e);color:#fff;font:600 14px/1 system-ui,sans-serif;box-shadow:0 4px 14px rgba(0,0,0,.25);cursor:pointer}
.launcher:focus-visible{outline:3px solid #93c5fd;outline-offset:2px}
.bottom-right{right:20px;bottom:20px}.bottom-left{left:20px;bottom:20px}.top-right{right:20px;top:20px}.top-left{left:20px;top:20px}
.launcher svg{width:16px;height:16px}`;

const idle = (work: () => void) =>
  'requestIdleCallback' in window ? requestIdleCallback(work, { timeout: 2000 }) : setTimeout(work, 1);

/**
 * Creates the widget state and API. Nothing visible happens until `init()`; the button is
 * created at idle time so the loader adds no long task to the host page's load.
 * `loadDialog`/`loadTransport` are the lazy chunk imports (relative to the loader's URL).
 */
export function createWidget(environment: {
  defaultServer: string;
  loadDialog: () => Promise<DialogModule>;
  loadTransport: () => Promise<TransportModule>;
}): BugloopApi {
  const logs: RecordedLogs = { console: [], network: [], breadcrumbs: [] };
  const pageFetch = window.fetch;
  let runtime: WidgetRuntime | undefined;
  let dialog: { close(): void } | undefined;
  let opening = false;
  let returnFocus: Element | null = null;
  let user: WidgetUser = {};
  let metadata: Record<string, string | number | boolean | null> = {};
  const teardown: Array<() => void> = [];

  const reportError = (error: unknown) => {
    try {
      runtime?.options.onError?.(error);
    } catch {
      /* the host's own handler failed: nothing more we can do without throwing into the page */
    }
  };
  /** Every public entry point goes through here: the widget never throws into the page. */
  const guard =
    <A extends unknown[]>(work: (...args: A) => void) =>
    (...args: A) => {
      try {
        work(...args);
      } catch (error) {
        reportError(error);
      }
    };

  const stopCollectors = startCollectors(logs, {
    isOwnRequest: (url) => !!runtime && url.startsWith(`${runtime.serverUrl}/api/`),
    isOwnElement: (node) => !!runtime && (node === runtime.host || runtime.host.contains(node as Node)),
    slowRequestMs: () => runtime?.options.slowRequestMs ?? 3000,
  });
  teardown.push(stopCollectors);

  const open = guard(() => {
    if (!runtime || dialog || opening) return;
    opening = true;
    // The element that really has focus, inside shadow roots too (our own button is in one).
    returnFocus = document.activeElement;
    while (returnFocus?.shadowRoot?.activeElement) returnFocus = returnFocus.shadowRoot.activeElement;
    const current = runtime;
    environment
      .loadDialog()
      .then((module) => {
        opening = false;
        if (runtime === current) dialog = module.openDialog(current);
      })
      .catch((error) => {
        opening = false;
        reportError(error);
      });
  });

  const close = guard(() => dialog?.close());

  const onTriggerClick = (event: Event) => {
    const target = event.target as Element | null;
    if (target?.closest?.('[data-bugloop-trigger]')) {
      event.preventDefault();
      open();
    }
  };

  const init = guard((options: WidgetOptions) => {
    if (runtime) return;
    if (!options?.projectKey) throw new Error('Bugloop: init() needs a projectKey');
    const host = document.createElement('div');
    host.setAttribute('data-bugloop', '');
    const shadow = host.attachShadow({ mode: 'open' });
    const sheets: CSSStyleSheet[] = [];
    const addStyle = (css: string) => {
      // Constructable stylesheets are not "inline styles" for CSP; a nonce is the fallback.
      if ('adoptedStyleSheets' in shadow && typeof CSSStyleSheet === 'function' && 'replaceSync' in CSSStyleSheet.prototype) {
        const sheet = new CSSStyleSheet();
        sheet.replaceSync(css);
        sheets.push(sheet);
        shadow.adoptedStyleSheets = [...sheets];
      } else {
        const style = document.createElement('style');
        if (options.nonce) style.nonce = options.nonce;
        style.textContent = css;
        shadow.append(style);
      }
    };
    runtime = {
      options,
      serverUrl: (options.server ?? environment.defaultServer).replace(/\/+$/, ''),
      version: widgetVersion,
      host,
      shadow,
      get user() {
        return user;
      },
      get metadata() {
        return metadata;
      },
      logs,
      fetch: pageFetch,
      addStyle,
      reportError,
      dialogClosed: () => {
        dialog = undefined;
        try {
          (returnFocus as HTMLElement | null)?.focus?.();
        } catch {
          /* element gone */
        }
      },
    };
    const current = runtime;
    addEventListener('click', onTriggerClick, true);
    teardown.push(() => removeEventListener('click', onTriggerClick, true));
    idle(
      guard(() => {
        if (runtime !== current) return;
        addStyle(buttonCss + (options.accentColor ? `:host{--bugloop-accent:${options.accentColor}}` : ''));
        if (!options.hideButton) {
          const button = document.createElement('button');
          button.type = 'button';
          button.className = `launcher ${options.position ?? 'bottom-right'}`;
          button.setAttribute('part', 'button');
          button.innerHTML =
            '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" aria-hidden="true"><path d="M8 2l1.9 1.9M16 2l-1.9 1.9M9 7.1V6a3 3 0 1 1 6 0v1.1M12 20c-3.3 0-6-2.7-6-6v-3a4 4 0 0 1 4-4h4a4 4 0 0 1 4 4v3c0 3.3-2.7 6-6 6zM12 20v-9M6.5 9C4.6 8.8 3 7.1 3 5M6 13H2M3 21c0-2.1 1.7-3.9 3.8-4M20.97 5c0 2.1-1.6 3.8-3.5 4M22 13h-4M17.2 17c2.1.1 3.8 1.9 3.8 4"/></svg>';
          button.append(options.texts?.button ?? 'Report a bug');
          button.addEventListener('click', open);
          shadow.append(button);
        }
        document.documentElement.append(host);
        // Reports that could not be sent earlier (offline, server down) go out now.
        if (hasQueuedReports()) flushQueue();
      }),
    );
    const onOnline = () => flushQueue();
    addEventListener('online', onOnline);
    teardown.push(() => removeEventListener('online', onOnline));
  });

  const hasQueuedReports = () => {
    try {
      return !!localStorage.getItem('bugloop:queue');
    } catch {
      return false;
    }
  };
  const flushQueue = () => {
    const current = runtime;
    if (!current) return;
    environment
      .loadTransport()
      .then((module) => module.flushQueue(current))
      .catch(reportError);
  };

  const destroy = guard(() => {
    dialog?.close();
    dialog = undefined;
    runtime?.host.remove();
    runtime = undefined;
    teardown.splice(0).forEach((step) => step());
    user = {};
    metadata = {};
    logs.console.length = logs.network.length = logs.breadcrumbs.length = 0;
    if ((window as unknown as { Bugloop?: unknown }).Bugloop === api) delete (window as unknown as { Bugloop?: unknown }).Bugloop;
  });

  const api: BugloopApi = {
    init,
    open,
    close,
    identify: guard((next: WidgetUser) => {
      user = { ...next };
    }),
    setMetadata: guard((next) => {
      metadata = { ...metadata, ...next };
    }),
    destroy,
    version: widgetVersion,
  };
  return api;
}
