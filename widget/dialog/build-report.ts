import type { ReportInput } from '../../shared/report-schema';
import type { WidgetRuntime } from '../runtime';
import { cleanUrl, scrubText } from '../scrub';

/** What the user typed and chose in the form. */
export interface FormValues {
  description: string;
  expected: string;
  steps: string;
  email: string;
  includeLogs: boolean;
  /** The honeypot; humans never see it. */
  website: string;
}

const cut = (value: string | undefined, max: number) => (value ? value.slice(0, max) : undefined);

/** A UUID v4; `crypto.randomUUID` exists only in secure contexts. */
export function createId(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** A random token kept in this browser, so the reporter can later look up their own reports. */
export function reporterToken(): string | undefined {
  try {
    let token = localStorage.getItem('bugloop:reporter');
    if (!token || !/^[A-Za-z0-9_-]{16,100}$/.test(token)) {
      token = Array.from(crypto.getRandomValues(new Uint8Array(18)), (byte) => 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'[byte & 63]).join('');
      localStorage.setItem('bugloop:reporter', token);
    }
    return token;
  } catch {
    return undefined;
  }
}

/** Browser and device facts; cheap, synchronous, nothing fingerprint-grade beyond what a bug needs. */
export function browserContext(): NonNullable<ReportInput['browser']> {
  const navigatorExtras = navigator as Navigator & {
    userAgentData?: { brands?: Array<{ brand: string; version: string }>; platform?: string; mobile?: boolean };
    connection?: { effectiveType?: string; downlink?: number; rtt?: number; saveData?: boolean };
  };
  const hints = navigatorExtras.userAgentData;
  const connection = navigatorExtras.connection;
  const navigation = performance.getEntriesByType?.('navigation')[0] as PerformanceNavigationTiming | undefined;
  const positive = (value: number | undefined) => (value && value > 0 ? Math.round(value) : undefined);
  return {
    userAgent: cut(navigator.userAgent, 1000),
    clientHints: hints
      ? {
          brands: hints.brands?.slice(0, 10).map(({ brand, version }) => ({ brand: brand.slice(0, 100), version: version.slice(0, 50) })),
          platform: cut(hints.platform, 100),
          mobile: hints.mobile,
        }
      : undefined,
    viewport: { width: innerWidth, height: innerHeight },
    screen: { width: screen.width, height: screen.height },
    devicePixelRatio: devicePixelRatio > 0 ? Math.min(devicePixelRatio, 20) : undefined,
    language: cut(navigator.language, 50),
    languages: navigator.languages?.slice(0, 20).map((language) => language.slice(0, 50)),
    timeZone: cut(Intl.DateTimeFormat().resolvedOptions().timeZone, 100),
    colorScheme: matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light',
    connection: connection
      ? { effectiveType: cut(connection.effectiveType, 20), downlink: connection.downlink, rtt: connection.rtt, saveData: connection.saveData }
      : undefined,
    pageLoad: navigation
      ? { ttfbMs: positive(navigation.responseStart), domContentLoadedMs: positive(navigation.domContentLoadedEventEnd), loadMs: positive(navigation.loadEventEnd) }
      : undefined,
  };
}

/** Custom metadata within the schema's bounds: 50 keys, keys up to 100 and texts up to 1000 characters. */
function boundedMetadata(metadata: WidgetRuntime['metadata']): ReportInput['metadata'] {
  const entries = Object.entries(metadata).slice(0, 50);
  if (!entries.length) return undefined;
  return Object.fromEntries(
    entries.map(([key, value]) => [key.slice(0, 100), typeof value === 'string' ? value.slice(0, 1000) : typeof value === 'number' && !Number.isFinite(value) ? null : value]),
  );
}

/**
 * Builds the wire report from the form, the page and the recorded logs: scrubbed, cut to the
 * schema's limits, so the server never has to refuse it for size.
 */
export function buildReport(
  runtime: WidgetRuntime,
  values: FormValues,
  extras: { id: string; openedAt: number; screenshot?: ReportInput['screenshot'] },
): ReportInput {
  const { options, logs, user } = runtime;
  const urlOptions = { allowQueryParameters: options.allowQueryParameters, keepFragment: options.keepFragment };
  const email = values.email.trim();
  return {
    id: extras.id,
    description: values.description.trim().slice(0, 20_000),
    expected: cut(values.expected.trim(), 10_000) || undefined,
    steps: cut(values.steps.trim(), 10_000) || undefined,
    email: email ? email.slice(0, 320) : undefined,
    url: cleanUrl(location.href, urlOptions).slice(0, 4096),
    referrer: document.referrer ? cleanUrl(document.referrer).slice(0, 4096) : undefined,
    pageTitle: cut(document.title, 500) || undefined,
    release: cut(options.release, 100),
    environment: cut(options.environment, 50),
    user: user.id || user.email || user.name ? { id: cut(user.id, 200), email: cut(user.email, 320), name: cut(user.name, 200) } : undefined,
    metadata: boundedMetadata(runtime.metadata),
    browser: browserContext(),
    console: values.includeLogs
      ? logs.console.slice(-50).map((entry) => ({ ...entry, message: scrubText(entry.message).slice(0, 5000), stack: entry.stack ? scrubText(entry.stack).slice(0, 10_000) : undefined }))
      : undefined,
    network: values.includeLogs ? logs.network.slice(-30).map((entry) => ({ ...entry, url: cleanUrl(entry.url).slice(0, 2048), error: entry.error ? scrubText(entry.error).slice(0, 500) : undefined })) : undefined,
    breadcrumbs: values.includeLogs
      ? logs.breadcrumbs.slice(-30).map((crumb) => ({
          ...crumb,
          text: crumb.text ? scrubText(crumb.text).slice(0, 200) : undefined,
          from: crumb.from ? cleanUrl(crumb.from, urlOptions).slice(0, 2048) : undefined,
          to: crumb.to ? cleanUrl(crumb.to, urlOptions).slice(0, 2048) : undefined,
          message: crumb.message ? scrubText(crumb.message).slice(0, 500) : undefined,
        }))
      : undefined,
    screenshot: extras.screenshot,
    client: { widgetVersion: runtime.version, openedAt: extras.openedAt },
    reporterToken: reporterToken(),
    website: values.website,
  };
}
