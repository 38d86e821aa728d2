import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startWidgetServers, testProjectKey, type WidgetServers } from '../support/widget-servers';
import { browserAvailable, inspectImage, launchChromium, nameHelper, watchConsole } from '../support/widget-browser';
import { defaultTexts } from '../../widget/dialog/texts';

/**
 * How a host page embeds and configures the widget: script-tag attributes, themes, reduced
 * motion, translated texts; and what the widget promises the host: bounded logs, a bounded
 * picture, a retry when the browser is back online, and no exception ever thrown into the page.
 */

type BugloopWindow = Window & { Bugloop: { init(options: object): void; open(): void; close(): void; identify(user: unknown): void }; widgetErrors: string[] };

describe.skipIf(!browserAvailable)('widget embedding', () => {
  let browser: Browser;
  let servers: WidgetServers;
  let context: BrowserContext | undefined;

  beforeAll(async () => {
    [browser, servers] = await Promise.all([launchChromium(), startWidgetServers()]);
  });
  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await servers?.close();
  });

  async function freshPage(options: Parameters<Browser['newContext']>[0] = {}): Promise<Page> {
    await context?.close();
    context = await browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1, ...options });
    const page = await context.newPage();
    await page.addInitScript({ content: nameHelper });
    return page;
  }

  const overlayStyle = (page: Page) =>
    page.evaluate(() => {
      const root = document.querySelector('[data-bugloop]')!.shadowRoot!;
      const overlay = root.querySelector('.overlay')!;
      return { animation: getComputedStyle(overlay).animationName, panel: getComputedStyle(root.querySelector('.panel')!).backgroundColor, lang: overlay.getAttribute('lang'), classes: overlay.className };
    });

  async function sendFilled(page: Page, description: string, openedAt: number) {
    await page.fill('[data-bugloop] #bugloop-description', description);
    await page.waitForTimeout(Math.max(0, openedAt + 1600 - Date.now()));
    await page.click('[data-bugloop] button[type="submit"]');
  }

  it('script-tag attributes set position, button text, accent color, language and the dark theme', async () => {
    const page = await freshPage();
    await page.goto(servers.pageUrl('plain', { position: 'top-left', buttonText: 'Fehler melden', accentColor: 'rgb(190, 18, 60)', language: 'de', theme: 'dark', screenshot: 'false' }));
    const launcher = page.locator('[data-bugloop] button.launcher');
    await launcher.waitFor();
    expect(await launcher.textContent()).toBe('Fehler melden');
    const box = (await launcher.boundingBox())!;
    expect(box.x).toBeLessThan(40);
    expect(box.y).toBeLessThan(40);
    expect(await launcher.evaluate((element) => getComputedStyle(element).backgroundColor)).toBe('rgb(190, 18, 60)');
    await launcher.click();
    await page.locator('[data-bugloop] #bugloop-description').waitFor();
    const style = await overlayStyle(page);
    expect(style).toMatchObject({ lang: 'de', panel: 'rgb(31, 41, 55)', animation: 'bugloop-fade' });
    expect(style.classes).toContain('dark');
    expect(await page.locator('[data-bugloop] button[type="submit"]').evaluate((element) => getComputedStyle(element).backgroundColor)).toBe('rgb(190, 18, 60)');
  });

  it('the light theme by option, and no animation when the user prefers reduced motion', async () => {
    const page = await freshPage({ reducedMotion: 'reduce', colorScheme: 'dark' });
    await page.goto(servers.pageUrl('plain', { theme: 'light', screenshot: 'false' }));
    await page.locator('[data-bugloop] button.launcher').click();
    await page.locator('[data-bugloop] #bugloop-description').waitFor();
    expect(await overlayStyle(page)).toMatchObject({ panel: 'rgb(255, 255, 255)', animation: 'none' });
  });

  it('every text comes from options.texts when given (translation), and the URL keeps only allow-listed query parameters', async () => {
    const page = await freshPage();
    // Markers made of numbers, so none contains an English default.
    const keys = Object.keys(defaultTexts) as Array<keyof typeof defaultTexts>;
    const marker = (key: keyof typeof defaultTexts) => `«${keys.indexOf(key)}»`;
    const translated = Object.fromEntries(keys.map((key) => [key, marker(key)]));
    await page.addInitScript({ content: `window.Bugloop = { q: [['init', { projectKey: ${JSON.stringify(testProjectKey)}, texts: ${JSON.stringify(translated)}, allowQueryParameters: ['tab'] }]] };` });
    await page.goto(`${servers.pageUrl('plain', { tab: '2', session: 's3cret' })}#access_token=abc`);
    const launcher = page.locator('[data-bugloop] button.launcher');
    expect(await launcher.textContent()).toBe(marker('button'));
    await launcher.click();
    const openedAt = Date.now();
    await page.locator('[data-bugloop] canvas').waitFor({ timeout: 20_000 });
    await page.click('[data-bugloop] summary');
    await page.click('[data-bugloop] button[type="submit"]');
    const shown = await page.evaluate(() => {
      const root = document.querySelector('[data-bugloop]')!.shadowRoot!;
      const attributes = [...root.querySelectorAll('[aria-label],[placeholder],[aria-roledescription]')].flatMap((element) => ['aria-label', 'placeholder', 'aria-roledescription'].map((name) => element.getAttribute(name) ?? ''));
      return [(root.querySelector('.panel') as HTMLElement).innerText, ...attributes].join('\n');
    });
    for (const key of ['title', 'description', 'descriptionPlaceholder', 'expected', 'steps', 'email', 'screenshot', 'highlight', 'blackOut', 'pen', 'arrow', 'undo', 'drawingHelp', 'whatWillBeSent', 'logSummary', 'includeScreenshot', 'includeLogs', 'send', 'cancel', 'required'] as const)
      expect(shown, key).toContain(marker(key));
    // No English default is left anywhere in the dialog.
    for (const text of Object.values(defaultTexts)) expect(shown).not.toContain(text.replace(/\{\w+\}/g, '').slice(0, 12));
    await sendFilled(page, 'Translated report', openedAt);
    await page.locator('[data-bugloop] .reference').waitFor({ timeout: 15_000 });
    const { report } = servers.ingest.received.find((entry) => entry.report.description === 'Translated report')!;
    expect(report.url).toBe(`${servers.pageOrigin}/plain.html?tab=2`);
    const done = await page.locator('[data-bugloop] [role="dialog"]').innerText();
    for (const key of ['thanks', 'reference', 'close'] as const) expect(done).toContain(marker(key));
  }, 60_000);

  it('keeps the newest 50 console messages, 30 failed requests and 30 breadcrumbs', async () => {
    const page = await freshPage();
    await page.goto(servers.pageUrl('plain', { screenshot: 'false' }));
    await page.locator('[data-bugloop] button.launcher').waitFor();
    await page.evaluate(async () => {
      for (let index = 0; index < 60; index++) console.warn(`warning ${index}`);
      for (let index = 0; index < 35; index++) await fetch(`/api/broken/${index}`).catch(() => undefined);
      for (let index = 0; index < 35; index++) document.querySelector<HTMLElement>('#action')!.click();
    });
    await page.locator('[data-bugloop] button.launcher').click();
    const openedAt = Date.now();
    await sendFilled(page, 'Many logs', openedAt);
    await page.locator('[data-bugloop] .reference').waitFor({ timeout: 15_000 });
    const { report } = servers.ingest.received.find((entry) => entry.report.description === 'Many logs')!;
    expect(report.console).toHaveLength(50);
    expect(report.console!.at(-1)!.message).toBe('warning 59');
    expect(report.console![0].message).toBe('warning 10');
    expect(report.network).toHaveLength(30);
    expect(report.network!.at(-1)!.url).toBe(`${servers.pageOrigin}/api/broken/34`);
    expect(report.breadcrumbs).toHaveLength(30);
  }, 60_000);

  it('a high-density screen is sent at most 1920 px wide and under 500 KB', async () => {
    const page = await freshPage({ deviceScaleFactor: 2 });
    await page.goto(servers.pageUrl('oklch'));
    await page.locator('[data-bugloop] button.launcher').click();
    const openedAt = Date.now();
    await page.locator('[data-bugloop] canvas').waitFor({ timeout: 30_000 });
    expect(await page.evaluate(() => document.querySelector('[data-bugloop]')!.shadowRoot!.querySelector('canvas')!.width)).toBe(2560);
    await sendFilled(page, 'Retina picture', openedAt);
    await page.locator('[data-bugloop] .reference').waitFor({ timeout: 15_000 });
    const { report, image } = servers.ingest.received.find((entry) => entry.report.description === 'Retina picture')!;
    expect(report.screenshot).toMatchObject({ width: 1920, height: 1200 });
    expect(['image/webp', 'image/jpeg']).toContain(image!.type);
    expect(image!.bytes.length).toBeLessThan(500_000);
    const decoder = await browser.newPage();
    try {
      const picture = await inspectImage(decoder, image!, []);
      expect({ width: picture.width, height: picture.height }).toEqual({ width: 1920, height: 1200 });
    } finally {
      await decoder.close();
    }
  }, 60_000);

  it('a report queued while offline is sent when the browser is back online, without a reload', async () => {
    const page = await freshPage();
    await page.goto(servers.pageUrl('plain', { screenshot: 'false' }));
    await page.locator('[data-bugloop] button.launcher').click();
    const openedAt = Date.now();
    // The form is a lazy chunk: go offline only once it has loaded, or the dialog cannot open.
    await page.locator('[data-bugloop] #bugloop-description').waitFor();
    await context!.setOffline(true);
    await sendFilled(page, 'Back online', openedAt);
    await page.locator('[data-bugloop] [role="status"]').filter({ hasText: 'offline' }).waitFor({ timeout: 30_000 });
    expect(servers.ingest.received.some((entry) => entry.report.description === 'Back online')).toBe(false);
    await context!.setOffline(false);
    await expect.poll(() => servers.ingest.received.filter((entry) => entry.report.description === 'Back online').length, { timeout: 15_000 }).toBe(1);
    await expect.poll(() => page.evaluate(() => localStorage.getItem('bugloop:queue'))).toBeNull();
  }, 60_000);

  it('never throws into the page: bad calls and failing host callbacks go to onError', async () => {
    const page = await freshPage();
    const consoleWatch = watchConsole(page);
    await page.addInitScript({
      content: `window.widgetErrors = [];
        window.Bugloop = { q: [['init', { projectKey: ${JSON.stringify(testProjectKey)}, onError: (error) => window.widgetErrors.push(String(error && error.message)), onSent: () => { throw new Error('host onSent failed'); } }]] };`,
    });
    await page.goto(servers.pageUrl('plain', { screenshot: 'false' }));
    await page.locator('[data-bugloop] button.launcher').waitFor();
    const thrown = await page.evaluate(() => {
      const api = (window as unknown as BugloopWindow).Bugloop;
      const failures: string[] = [];
      for (const call of [() => api.init({}), () => api.identify(null), () => api.close(), () => (api.open as (...args: unknown[]) => void)(42)]) {
        try {
          call();
        } catch (error) {
          failures.push(String(error));
        }
      }
      return failures;
    });
    expect(thrown).toEqual([]);
    await page.locator('[data-bugloop] #bugloop-description').waitFor();
    const openedAt = Date.now();
    await sendFilled(page, 'Host callback throws', openedAt);
    // The report was sent: the thank-you shows, and the host's failure went to onError.
    await page.locator('[data-bugloop] .reference').waitFor({ timeout: 15_000 });
    await expect.poll(() => page.evaluate(() => (window as unknown as BugloopWindow).widgetErrors)).toContain('host onSent failed');
    expect(consoleWatch.pageErrors).toEqual([]);
  }, 60_000);
});
