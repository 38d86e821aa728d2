import type { ConsoleEntry } from '../shared/report-schema';
import type { RecordedLogs } from './runtime';

/** How many entries each ring buffer keeps (the numbers). */
const limits = { console: 50, network: 30, breadcrumbs: 30 };
const consoleLevels = ['debug', 'log', 'info', 'warn', 'error'] as const;

function push<T>(list: T[], item: T, max: number): void {
  list.push(item);
  if (list.length > max) list.shift();
}

/** Formats console arguments the way a developer reads them, bounded. */
function formatArgument(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  try {
    return typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value);
  } catch {
    return String(value);
  }
}

/** The URL without query string and fragment: those often carry tokens. */
export function stripQuery(url: string): string {
  try {
    const parsed = new URL(url, location.href);
    return parsed.origin + parsed.pathname;
  } catch {
    return String(url).split(/[?#]/)[0];
  }
}

/** A short CSS selector: up to three levels of tag, id and two classes. */
function shortSelector(element: Element): string {
  const parts: string[] = [];
  for (let current: Element | null = element; current && parts.length < 3 && current !== document.body; current = current.parentElement) {
    let part = current.localName;
    if (current.id) {
      parts.unshift(`${part}#${current.id}`);
      break;
    }
    const classes = typeof current.className === 'string' ? current.className.trim().split(/\s+/).filter(Boolean).slice(0, 2) : [];
    if (classes.length) part += `.${classes.join('.')}`;
    parts.unshift(part);
  }
  return parts.join(' > ').slice(0, 300);
}

/**
 * Starts recording console messages, uncaught errors, failed or slow requests and breadcrumbs
 * into `logs`. Every hook calls the page's original first-class behaviour and swallows its own
 * failures. Returns the function that undoes every patch (used by `destroy()`).
 */
export function startCollectors(
  logs: RecordedLogs,
  options: { isOwnRequest: (url: string) => boolean; isOwnElement: (node: EventTarget) => boolean; slowRequestMs: () => number },
): () => void {
  const undo: Array<() => void> = [];
  const now = Date.now;

  const record = (level: ConsoleEntry['level'], args: unknown[], source: ConsoleEntry['source']) => {
    try {
      const error = args.find((argument) => argument instanceof Error) as Error | undefined;
      push(
        logs.console,
        {
          level,
          message: args.map(formatArgument).join(' ').slice(0, 5000),
          time: now(),
          stack: error?.stack?.slice(0, 10_000),
          source,
        },
        limits.console,
      );
    } catch {
      /* recording must never break the page's logging */
    }
  };

  for (const level of consoleLevels) {
    const original = console[level];
    const patched = function (this: unknown, ...args: unknown[]) {
      record(level, args, 'console');
      return original.apply(this, args);
    };
    console[level] = patched;
    undo.push(() => {
      if (console[level] === patched) console[level] = original;
    });
  }

  const onError = (event: ErrorEvent) => record('error', [event.error ?? event.message], 'uncaught');
  const onRejection = (event: PromiseRejectionEvent) => record('error', [event.reason], 'unhandledrejection');
  addEventListener('error', onError);
  addEventListener('unhandledrejection', onRejection);
  undo.push(() => {
    removeEventListener('error', onError);
    removeEventListener('unhandledrejection', onRejection);
  });

  const recordRequest = (kind: 'fetch' | 'xhr', method: string, url: string, status: number, started: number, error?: string) => {
    try {
      const durationMs = Math.max(0, now() - started);
      if (options.isOwnRequest(url)) return;
      if (status > 0 && status < 400 && durationMs < options.slowRequestMs()) return;
      push(logs.network, { kind, method: method.toUpperCase().slice(0, 16), url: stripQuery(url).slice(0, 2048), status, durationMs, time: started, error: error?.slice(0, 500) }, limits.network);
    } catch {
      /* never break the page's requests */
    }
  };

  const originalFetch = window.fetch;
  if (originalFetch) {
    const patchedFetch = function (this: unknown, input: RequestInfo | URL, init?: RequestInit) {
      const started = now();
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      const method = init?.method ?? (input instanceof Request ? input.method : 'GET');
      const promise = originalFetch.call(this ?? window, input, init);
      promise.then(
        (response) => recordRequest('fetch', method, url, response.status, started),
        (error: unknown) => recordRequest('fetch', method, url, 0, started, String(error)),
      );
      return promise;
    } as typeof fetch;
    window.fetch = patchedFetch;
    undo.push(() => {
      if (window.fetch === patchedFetch) window.fetch = originalFetch;
    });
  }

  const xhr = XMLHttpRequest.prototype;
  const originalOpen = xhr.open;
  const originalSend = xhr.send;
  const requests = new WeakMap<XMLHttpRequest, { method: string; url: string; started: number }>();
  xhr.open = function (this: XMLHttpRequest, method: string, url: string | URL, ...rest: unknown[]) {
    requests.set(this, { method, url: String(url), started: 0 });
    return (originalOpen as (...args: unknown[]) => void).call(this, method, url, ...rest);
  } as typeof xhr.open;
  xhr.send = function (this: XMLHttpRequest, body?: Document | XMLHttpRequestBodyInit | null) {
    const request = requests.get(this);
    if (request) {
      request.started = now();
      this.addEventListener('loadend', () => recordRequest('xhr', request.method, request.url, this.status, request.started));
    }
    return originalSend.call(this, body);
  };
  undo.push(() => {
    xhr.open = originalOpen;
    xhr.send = originalSend;
  });

  const onClick = (event: MouseEvent) => {
    try {
      const target = event.target;
      if (!(target instanceof Element) || options.isOwnElement(target)) return;
      const text = ((target as HTMLElement).innerText ?? target.textContent ?? '').trim().replace(/\s+/g, ' ').slice(0, 80);
      push(logs.breadcrumbs, { kind: 'click', time: now(), selector: shortSelector(target), text: text || undefined }, limits.breadcrumbs);
    } catch {
      /* ignore */
    }
  };
  addEventListener('click', onClick, true);
  undo.push(() => removeEventListener('click', onClick, true));

  let lastUrl = location.href;
  const onNavigation = () => {
    const to = location.href;
    if (to === lastUrl) return;
    push(logs.breadcrumbs, { kind: 'navigation', time: now(), from: stripQuery(lastUrl), to: stripQuery(to) }, limits.breadcrumbs);
    lastUrl = to;
  };
  for (const name of ['pushState', 'replaceState'] as const) {
    const original = history[name];
    const patched = function (this: History, ...args: Parameters<History['pushState']>) {
      const result = original.apply(this, args);
      onNavigation();
      return result;
    };
    history[name] = patched;
    undo.push(() => {
      if (history[name] === patched) history[name] = original;
    });
  }
  addEventListener('popstate', onNavigation);
  addEventListener('hashchange', onNavigation);
  undo.push(() => {
    removeEventListener('popstate', onNavigation);
    removeEventListener('hashchange', onNavigation);
  });

  return () => undo.forEach((step) => step());
}
