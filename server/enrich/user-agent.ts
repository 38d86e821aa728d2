import { UAParser } from 'ua-parser-js';

export interface ClientHints {
  brands?: { brand: string; version: string }[];
  platform?: string;
  platformVersion?: string;
  mobile?: boolean;
  model?: string;
}

/** Browser, OS and device in the shape the dashboard groups by. */
export interface DeviceSummary {
  browser: { name: string | null; version: string | null };
  os: { name: string | null; version: string | null };
  device: { type: 'desktop' | 'mobile' | 'tablet' | 'other'; vendor: string | null; model: string | null };
}

const genericBrands = /not.?a.?brand|chromium/i;

/**
 * Parses the user agent, then lets client hints correct what frozen user agents hide
 * (Chrome reports "Windows NT 10.0" even on Windows 11, and "Android 10; K" for every phone).
 */
export function summarizeDevice(userAgent: string | undefined, hints?: ClientHints): DeviceSummary {
  const parsed = new UAParser(userAgent ?? '').getResult();
  const deviceType = parsed.device.type === 'mobile' || parsed.device.type === 'tablet' ? parsed.device.type : parsed.device.type ? 'other' : 'desktop';
  const summary: DeviceSummary = {
    browser: { name: parsed.browser.name ?? null, version: parsed.browser.version ?? null },
    os: { name: parsed.os.name ?? null, version: parsed.os.version ?? null },
    device: { type: deviceType, vendor: parsed.device.vendor ?? null, model: parsed.device.model ?? null },
  };
  if (hints) {
    const brand = hints.brands?.find((entry) => !genericBrands.test(entry.brand)) ?? hints.brands?.find((entry) => /chromium/i.test(entry.brand));
    if (brand && !summary.browser.name) summary.browser = { name: brand.brand, version: brand.version };
    if (hints.platform) {
      summary.os.name = hints.platform === 'macOS' ? 'macOS' : hints.platform;
      if (hints.platformVersion) {
        // Windows 11 reports platformVersion 13 or higher in client hints.
        summary.os.version = hints.platform === 'Windows' ? (Number.parseInt(hints.platformVersion, 10) >= 13 ? '11' : '10') : hints.platformVersion;
      }
    }
    if (hints.mobile !== undefined && summary.device.type === 'desktop' && hints.mobile) summary.device.type = 'mobile';
    if (hints.model) summary.device.model = hints.model;
  }
  if (summary.os.name === 'Mac OS') summary.os.name = 'macOS';
  return summary;
}
