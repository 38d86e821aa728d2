import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { reportReference } from '../../shared/report-schema';
import { createProject } from '../../server/projects/project-service';
import { startTestApp, type TestApp } from '../support/test-server';
import { startWidgetServers, type WidgetServers } from '../support/widget-servers';
import { browserAvailable, launchChromium, nameHelper, watchConsole } from '../support/widget-browser';

/**
 * End to end: the widget served by the real app (dist/widget at the site root), on a page of
 * another origin that the project allows, posting to the real `POST /api/v1/reports`.
 */
describe.skipIf(!browserAvailable)('widget against the real server', () => {
  let browser: Browser;
  let servers: WidgetServers;
  let app: TestApp;
  const widget = { url: '', projectKey: '' };

  beforeAll(async () => {
    [browser, servers, app] = await Promise.all([launchChromium(), startWidgetServers({ widget }), startTestApp()]);
    const project = await createProject(app.database.db, { name: 'Widget shop', allowedOrigins: [servers.pageOrigin] });
    widget.url = app.url;
    widget.projectKey = project.publicKey;
  });
  afterAll(async () => {
    await browser?.close();
    await servers?.close();
    await app?.close();
  });

  it('the demo page: its buttons cause a console error and a failing request, and the report carries both', async () => {
    await createProject(app.database.db, { name: 'Demo shop', allowedOrigins: [app.url], settings: { demo: true } });
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    await page.addInitScript({ content: nameHelper });
    try {
      await page.goto(`${app.url}/demo`);
      const checkout = page.waitForResponse((response) => response.url().includes('/demo/api/checkout'));
      await page.click('#checkout');
      expect((await checkout).status()).toBe(500);
      await page.click('#apply-coupon');
      await page.locator('[data-bugloop] button.launcher').click();
      const openedAt = Date.now();
      await page.locator('[data-bugloop] canvas').waitFor({ timeout: 20_000 });
      await page.fill('[data-bugloop] #bugloop-description', 'Demo checkout broke');
      await page.waitForTimeout(Math.max(0, openedAt + 1700 - Date.now()));
      await page.click('[data-bugloop] button[type="submit"]');
      await page.locator('[data-bugloop] .reference').waitFor({ timeout: 15_000 });
      const stored = await app.database.db.selectFrom('reports').select(['payload']).where('description', '=', 'Demo checkout broke').executeTakeFirstOrThrow();
      const payload = stored.payload as { console?: Array<{ level: string; message: string; source?: string }>; network?: Array<{ url: string; status: number; method: string }> };
      expect(payload.network).toContainEqual(expect.objectContaining({ method: 'POST', url: `${app.url}/demo/api/checkout`, status: 500 }));
      expect(payload.console).toContainEqual(expect.objectContaining({ level: 'error', message: expect.stringContaining("Cannot read properties of null (reading 'discount')") }));
      expect(payload.console).toContainEqual(expect.objectContaining({ source: 'uncaught' }));
    } finally {
      await context.close();
    }
  }, 60_000);

  it('stores the report and its screenshot, and shows the server reference', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    await page.addInitScript({ content: nameHelper });
    const consoleWatch = watchConsole(page);
    try {
      await page.goto(servers.pageUrl('plain'));
      await page.click('#break');
      await page.locator('[data-bugloop] button.launcher').click();
      const openedAt = Date.now();
      await page.locator('[data-bugloop] canvas').waitFor({ timeout: 20_000 });
      await page.fill('[data-bugloop] #bugloop-description', 'Checkout fails against the real server');
      await page.waitForTimeout(Math.max(0, openedAt + 1700 - Date.now()));
      await page.click('[data-bugloop] button[type="submit"]');
      const reference = await page.locator('[data-bugloop] .reference').textContent({ timeout: 15_000 });

      const stored = await app.database.db
        .selectFrom('reports')
        .select(['id', 'clientId', 'description', 'url', 'payload'])
        .where('description', '=', 'Checkout fails against the real server')
        .execute();
      expect(stored).toHaveLength(1);
      expect(reference).toBe(reportReference(stored[0].id));
      expect(stored[0].url).toBe(`${servers.pageOrigin}/plain.html`);
      const payload = stored[0].payload as { network?: Array<{ url: string; status: number }>; console?: unknown[] };
      expect(payload.network).toContainEqual(expect.objectContaining({ url: `${servers.pageOrigin}/api/broken`, status: 500 }));
      const image = await app.database.db
        .selectFrom('reportAttachments')
        .innerJoin('attachmentBlobs', 'attachmentBlobs.sha256', 'reportAttachments.sha256')
        .select(['attachmentBlobs.contentType', 'attachmentBlobs.width', 'attachmentBlobs.height'])
        .where('reportAttachments.reportId', '=', stored[0].id)
        .executeTakeFirst();
      expect(image).toEqual({ contentType: 'image/webp', width: 1280, height: 800 });
      expect(consoleWatch.pageErrors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 60_000);
});
