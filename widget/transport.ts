import type { ReportAccepted, ReportInput } from '../shared/report-schema';
import type { WidgetRuntime } from './runtime';

/**
 * Sending a report, and the offline queue: a report that could not be sent (offline, 5xx, 429,
 * timeout) is kept in localStorage and retried on the next page load and on `online`. The report
 * id is generated once, so a retry is never a second report.
 */

const queueKey = 'bugloop:queue';
const maxQueued = 5;
const maxQueueChars = 5 * 1024 * 1024;
const timeoutMs = 20_000;

/** How one send ended: accepted, refused for good, or worth retrying later. */
export type SendOutcome =
  | { kind: 'accepted'; answer: ReportAccepted }
  | { kind: 'rejected'; code: string; message: string; status: number }
  | { kind: 'retry'; reason: string; retryAfterMs?: number };

/** One report waiting in the queue; the image as a data URL so it fits in localStorage. */
export interface QueuedReport {
  server: string;
  key: string;
  report: ReportInput;
  image?: string;
  queuedAt: number;
}

type Sender = Pick<WidgetRuntime, 'fetch'>;

/** Sends once; never throws. 2xx → accepted, 4xx (but 429) → rejected for good, else retry. */
export async function sendReport(runtime: Sender, server: string, key: string, report: ReportInput, image?: Blob): Promise<SendOutcome> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    const body = { ...report, client: { ...report.client, sentAt: Date.now() } };
    let init: RequestInit;
    if (image) {
      const form = new FormData();
      form.append('report', JSON.stringify(body));
      form.append('screenshot', image, `screenshot.${image.type.split('/')[1] ?? 'png'}`);
      init = { body: form };
    } else {
      init = { body: JSON.stringify(body), headers: { 'Content-Type': 'application/json', 'X-Bugloop-Key': key } };
    }
    const response = await runtime.fetch.call(window, `${server}/api/v1/reports`, {
      ...init,
      method: 'POST',
      headers: { ...(init.headers as Record<string, string>), 'X-Bugloop-Key': key },
      mode: 'cors',
      credentials: 'omit',
      signal: controller.signal,
    });
    const answer = await response.json().catch(() => undefined);
    if (response.ok) return { kind: 'accepted', answer: answer as ReportAccepted };
    if (response.status === 429 || response.status >= 500) {
      const retryAfter = Number(response.headers.get('Retry-After'));
      return { kind: 'retry', reason: `HTTP ${response.status}`, retryAfterMs: retryAfter > 0 ? retryAfter * 1000 : undefined };
    }
    const error = (answer as { error?: { code?: string; message?: string } } | undefined)?.error;
    return { kind: 'rejected', status: response.status, code: error?.code ?? 'invalid_request', message: error?.message ?? `HTTP ${response.status}` };
  } catch (error) {
    return { kind: 'retry', reason: String(error) };
  } finally {
    clearTimeout(timer);
  }
}

function readQueue(): QueuedReport[] {
  try {
    const stored = JSON.parse(localStorage.getItem(queueKey) ?? '[]');
    return Array.isArray(stored) ? stored : [];
  } catch {
    return [];
  }
}

function writeQueue(queue: QueuedReport[]): void {
  if (!queue.length) return localStorage.removeItem(queueKey);
  localStorage.setItem(queueKey, JSON.stringify(queue));
}

/**
 * Adds a report to the bounded queue (5 reports / 5 MB): the oldest go first; when storage is
 * full the images go before the text, so what the user wrote survives longest.
 */
export function enqueueReport(item: QueuedReport): void {
  const queue = readQueue().filter((queued) => queued.report.id !== item.report.id);
  queue.push(item);
  while (queue.length > maxQueued) queue.shift();
  while (queue.length > 1 && JSON.stringify(queue).length > maxQueueChars) queue.shift();
  for (let attempt = 0; attempt <= queue.length; attempt++) {
    try {
      return writeQueue(queue);
    } catch {
      const withImage = queue.find((queued) => queued.image);
      if (withImage) {
        delete withImage.image;
        withImage.report = { ...withImage.report, screenshot: undefined };
      } else queue.shift();
    }
  }
}

/** Reads a Blob as a data URL (for the queue). */
export function blobToDataUrl(blob: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

/** Decodes a data URL without fetch (a strict CSP's connect-src may not list `data:`). */
function dataUrlToBlob(dataUrl: string): Blob {
  const [head, body] = dataUrl.split(',');
  const bytes = Uint8Array.from(atob(body), (character) => character.charCodeAt(0));
  return new Blob([bytes], { type: head.slice(5).split(';')[0] });
}

let flushing: Promise<void> | undefined;

/**
 * Sends every queued report once; removes it on 2xx or on a permanent 4xx (reported through
 * `onError`), keeps it otherwise. One flush at a time per page, and across tabs through a Web
 * Lock where the browser has them.
 */
export function flushQueue(runtime: Pick<WidgetRuntime, 'fetch' | 'reportError' | 'options'>): Promise<void> {
  const run = async () => {
    for (const item of readQueue()) {
      const image = item.image ? dataUrlToBlob(item.image) : undefined;
      const outcome = await sendReport(runtime, item.server, item.key, item.report, image);
      if (outcome.kind === 'retry') continue;
      writeQueue(readQueue().filter((queued) => queued.report.id !== item.report.id));
      if (outcome.kind === 'rejected') runtime.reportError(Object.assign(new Error(outcome.message), { code: outcome.code, status: outcome.status }));
      else {
        try {
          runtime.options.onSent?.({ id: outcome.answer.clientId, reference: outcome.answer.reference });
        } catch (error) {
          runtime.reportError(error);
        }
      }
    }
  };
  flushing ??= (async () => {
    try {
      const locks = (navigator as Navigator & { locks?: LockManager }).locks;
      if (locks) await locks.request('bugloop-queue', run);
      else await run();
    } catch (error) {
      runtime.reportError(error);
    } finally {
      flushing = undefined;
    }
  })();
  return flushing;
}
