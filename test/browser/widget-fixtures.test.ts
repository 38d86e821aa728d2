import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { fixturePages, startWidgetServers, testProjectKey, type FixturePage, type WidgetServers } from '../support/widget-servers';
import { browserAvailable, inset, inspectImage, launchChromium, nameHelper, watchConsole, type Region } from '../support/widget-browser';

/**
 * On each of the seven fixture pages: open the widget, annotate the screenshot (highlight,
 * black-out, draw, undo), send, and check what the (recording) server received.
 */

const secrets = ['jane.doe@example.com', 'abc123secret', 's3cret-session', 'hunter2', '4242 4242', 'inside-shadow-secret', 'trace='];

/** Console errors the fixture pages cause themselves, not the widget. */
const pageOwnErrors = [/^Checkout failed for/, /Failed to load resource: the server responded with a status of 500/, /blocked by CORS policy/, /net::ERR_FAILED/];

describe.skipIf(!browserAvailable)('widget on the fixture pages', () => {
  let browser: Browser;
  let servers: WidgetServers;
  let decoder: Page;

  beforeAll(async () => {
    [browser, servers] = await Promise.all([launchChromium(), startWidgetServers()]);
    decoder = await browser.newPage();
  });
  afterAll(async () => {
    await browser?.close();
    await servers?.close();
  });

  /** Drags on the annotation canvas between two points given as fractions of its size. */
  async function drag(page: Page, from: [number, number], to: [number, number], steps = 5) {
    const box = (await page.locator('[data-bugloop] canvas').boundingBox())!;
    await page.mouse.move(box.x + box.width * from[0], box.y + box.height * from[1]);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * to[0], box.y + box.height * to[1], { steps });
    await page.mouse.up();
  }

  it.each(fixturePages)('%s page: the annotated, masked report arrives with its context', async (fixture: FixturePage) => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 });
    const page = await context.newPage();
    await page.addInitScript({ content: nameHelper });
    const consoleWatch = watchConsole(page);
    try {
      await page.goto(servers.pageUrl(fixture, { trace: 'abc' }));
      await page.locator('[data-bugloop] button.launcher').waitFor();
      await page.evaluate(() => {
        const api = (window as unknown as { Bugloop: { identify(user: object): void; setMetadata(metadata: object): void } }).Bugloop;
        api.identify({ id: 'user-7', email: 'ada@example.com', name: 'Ada' });
        api.setMetadata({ plan: 'pro', seats: 12 });
      });
      const broken = page.waitForResponse((response) => response.url().includes('/api/broken'));
      await page.click('#break');
      await broken;
      // Clicking scrolled the long page to its button; the picture is taken from the top.
      await page.evaluate(() => scrollTo(0, 0));

      // Where the private fields are on the page, to find them in the picture.
      const masked: Region[] = await page.evaluate(() => {
        const elements = [...document.querySelectorAll('#password, #card, #masked')];
        const shadowInput = document.querySelector('secret-field')?.shadowRoot?.querySelector('input');
        if (shadowInput) elements.push(shadowInput);
        return elements.map((element) => {
          const box = element.getBoundingClientRect();
          return { x: box.x, y: box.y, width: box.width, height: box.height };
        });
      });
      expect(masked.length).toBeGreaterThanOrEqual(3);

      await page.click('[data-bugloop] button.launcher');
      const openedAt = Date.now();
      await expect.poll(() => page.locator('[data-bugloop] #bugloop-email').inputValue()).toBe('ada@example.com');
      await page.locator('[data-bugloop] canvas').waitFor({ timeout: 20_000 });

      await page.click('[data-bugloop] button[data-tool="blackout"]');
      await drag(page, [0.55, 0.25], [0.75, 0.4]);
      await page.click('[data-bugloop] button[data-tool="highlight"]');
      await drag(page, [0.1, 0.7], [0.3, 0.85]);
      await page.click('[data-bugloop] button[data-tool="pen"]');
      await drag(page, [0.4, 0.6], [0.5, 0.7], 8);
      await page.click('[data-bugloop] button[data-tool="highlight"]');
      await drag(page, [0.8, 0.7], [0.95, 0.9]);
      await page.click('[data-bugloop] button[data-tool="undo"]');

      await page.fill('[data-bugloop] #bugloop-description', 'The checkout button does nothing');
      await page.fill('[data-bugloop] #bugloop-expected', 'An order confirmation');
      // The server's spam guard refuses sends within 1.5 s of opening, as a human would never.
      await page.waitForTimeout(Math.max(0, openedAt + 1600 - Date.now()));
      await page.click('[data-bugloop] button[type="submit"]');
      const reference = await page.locator('[data-bugloop] .reference').textContent({ timeout: 15_000 });
      expect(reference).toMatch(/^R-[0-9A-F]{8}$/);

      const received = servers.ingest.stored.filter((entry) => entry.report.url?.endsWith(`/${fixture}.html`));
      expect(received).toHaveLength(1);
      const { report, headers, image } = received[0];
      expect(headers['x-bugloop-key']).toBe(testProjectKey);
      expect(report).toMatchObject({
        description: 'The checkout button does nothing',
        expected: 'An order confirmation',
        email: 'ada@example.com',
        url: `${servers.pageOrigin}/${fixture}.html`,
        release: '2.3.4',
        environment: 'test',
        user: { id: 'user-7', email: 'ada@example.com', name: 'Ada' },
        metadata: { plan: 'pro', seats: 12 },
        website: '',
        browser: { viewport: { width: 1280, height: 800 } },
        screenshot: { engine: 'modern-screenshot', annotations: 3, unreadableImages: fixture === 'cross-origin-images' ? 1 : 0 },
      });
      expect(report.client!.openedAt! + 1500).toBeLessThanOrEqual(report.client!.sentAt!);
      expect(report.console).toContainEqual(expect.objectContaining({ level: 'error', source: 'console', message: expect.stringContaining('[email]') }));
      expect(report.console!.find((entry) => entry.message.startsWith('Checkout failed'))!.message).toContain('token=[redacted]');
      expect(report.network).toContainEqual(expect.objectContaining({ kind: 'fetch', method: 'GET', url: `${servers.pageOrigin}/api/broken`, status: 500 }));
      expect(report.breadcrumbs).toContainEqual(expect.objectContaining({ kind: 'click', selector: 'button#break', text: 'Break something' }));
      const serialized = JSON.stringify(report);
      for (const secret of secrets) expect(serialized).not.toContain(secret);

      expect(image?.type).toBe('image/webp');
      expect(image!.bytes.length).toBeLessThan(500_000);
      const blackout: Region = { x: 0.55 * 1280, y: 0.25 * 800, width: 0.2 * 1280, height: 0.15 * 800 };
      const header: Region = { x: 0, y: 0, width: 1280, height: 50 };
      const picture = await inspectImage(decoder, image!, [inset(blackout, 4), header, ...masked.map((region) => inset(region, 3))]);
      expect({ width: picture.width, height: picture.height }).toEqual({ width: 1280, height: 800 });
      expect({ width: report.screenshot!.width, height: report.screenshot!.height }).toEqual({ width: 1280, height: 800 });
      const [blackedOut, headerStats, ...maskStats] = picture.regions;
      expect(blackedOut.max, 'black-out annotation').toBeLessThanOrEqual(24);
      expect(headerStats.mean, 'the page header is in the picture, not black').toBeGreaterThan(40);
      maskStats.forEach((stats, index) => expect(stats.max, `masked field ${index}`).toBeLessThanOrEqual(24));

      const widgetErrors = consoleWatch.errors.filter((text) => !pageOwnErrors.some((pattern) => pattern.test(text)));
      expect(widgetErrors).toEqual([]);
      expect(consoleWatch.pageErrors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 60_000);
});
