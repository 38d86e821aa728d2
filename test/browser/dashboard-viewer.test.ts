import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makePng } from '../support/images';
import { startTestApp, type TestApp } from '../support/test-server';
import { richEnrichment, richPayload, seedDefect } from '../api/defect-fixtures';
import { browserAvailability, launchChromium, projectWithUser, saveScreenshot, signIn } from './dashboard-browser';
import { linkDefectToTestCase } from '../../server/test-management/coverage-service';
import { createTestCase } from '../../server/test-management/test-case-service';
import { addDestination, testSecretKey } from '../support/integrations';

const availability = browserAvailability();

describe.skipIf(!availability.run)('dashboard: a viewer in Chromium', () => {
  let app: TestApp;
  let browser: Browser;
  let page: Page;
  let projectId: string;
  let email: string;
  let defect: Awaited<ReturnType<typeof seedDefect>>['defect'];
  let destinationId: string;
  let linkId: string;

  beforeAll(async () => {
    app = await startTestApp({ SECRET_KEY: testSecretKey });
    const setup = await projectWithUser(app, 'viewer', 'VIEW');
    projectId = setup.project.id;
    email = setup.email;
    defect = (
      await seedDefect(app.database.db, projectId, {
        title: 'Checkout total is wrong',
        severity: 'major',
        reports: [{ description: 'Total shows 0', payload: richPayload(), enrichment: richEnrichment(), screenshot: makePng(320, 200) }],
      })
    ).defect;
    destinationId = (await addDestination(app.database.db, projectId, { kind: 'jira', name: 'Jira VIEW', config: { baseUrl: 'https://acme.example', projectKey: 'VIEW', email: 'bot@acme.example' }, secrets: { apiToken: 'token' } })).id;
    const covering = await createTestCase(app.database.db, projectId, { title: 'Checkout total adds up', component: 'Checkout' }, null);
    await createTestCase(app.database.db, projectId, { title: 'Checkout total with coupons' }, null);
    linkId = (await linkDefectToTestCase(app.database.db, projectId, defect.id, { testCaseId: covering.id, kind: 'covers' }, { kind: 'system' })).id;
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
    await signIn(page, app, email);
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  it('sees the inbox without checkboxes, bulk actions or saving views', async () => {
    await page.waitForSelector('.inbox-row');
    expect(await page.locator('.inbox-row input[type=checkbox]').count()).toBe(0);
    expect(await page.locator('.bulkbar').count()).toBe(0);
    expect(await page.locator('button:text("Save view")').count()).toBe(0);
    await page.keyboard.press('s');
    expect(await page.locator('[aria-label="Set status"][role=dialog]').count()).toBe(0);
  });

  it('sees the defect read-only: no triage selects, no comment form, no split', async () => {
    await page.click(`text=${defect.title}`);
    await page.waitForSelector('.defect-head');
    expect(await page.locator('.triage select').count()).toBe(0);
    expect(await page.locator('.triage dd').first().textContent()).toBe('New');
    expect(await page.locator('textarea[name=comment]').count()).toBe(0);
    expect(await page.locator('button:text("Split out")').count()).toBe(0);
    await page.keyboard.press('s');
    expect(await page.locator('[aria-label="Set status"][role=dialog]').count()).toBe(0);
    // Tickets and tests are shown, with nothing to send, link or unlink.
    await page.waitForSelector('#tickets .ticket:has-text("Jira VIEW") >> text=not sent');
    expect(await page.locator('#tickets button').count()).toBe(0);
    await page.waitForSelector('#tests .test-link:has-text("Checkout total adds up")');
    expect(await page.locator('#tests button').count()).toBe(0);
    expect(await page.locator('#tests .suggestions').count()).toBe(0);
    // The screenshot is still visible to a viewer.
    const loaded = await page.locator('.thumbnail img').evaluate((image) => (image as HTMLImageElement).decode().then(() => (image as HTMLImageElement).naturalWidth));
    expect(loaded).toBe(320);
    await saveScreenshot(page, 'dashboard-defect-viewer');
  });

  it('sees settings without members, tokens or editable origins', async () => {
    await page.goto(`${app.url}/p/${projectId}/settings`);
    await page.waitForSelector('#widget-snippet');
    expect(await page.locator('#members').count()).toBe(0);
    expect(await page.locator('#tokens').count()).toBe(0);
    expect(await page.locator('textarea[name=allowedOrigins]').count()).toBe(0);
    expect(await page.locator('button:text("Add rule")').count()).toBe(0);
    expect(await page.locator('#component-rules button').count()).toBe(0);
    expect(await page.locator('.tabs a').allTextContents()).toEqual(['General', 'Your account']);
    // Asking for a tab the role may not see shows General instead.
    await page.goto(`${app.url}/p/${projectId}/settings?tab=integrations`);
    await page.waitForSelector('#widget-snippet');
    expect(await page.locator('#destinations, #routing, #dead-letters, #members, #tokens').count()).toBe(0);
    await saveScreenshot(page, 'dashboard-settings-viewer');
  });

  it('gets 403 from the API on every mutation, even with a valid CSRF token', async () => {
    const results = await page.evaluate(
      async ({ projectId, defectId, destinationId, linkId }) => {
        const me = await (await fetch('/api/v1/me')).json();
        const headers = { 'content-type': 'application/json', 'x-csrf-token': me.csrfToken };
        const base = `/api/v1/projects/${projectId}`;
        const fakeId = '00000000-0000-4000-8000-000000000000';
        const attempts: [string, string, unknown][] = [
          ['PATCH', `${base}/defects/${defectId}`, { status: 'triaged' }],
          ['POST', `${base}/defects/bulk`, { defectIds: [defectId], changes: { severity: 'minor' } }],
          ['POST', `${base}/defects/${defectId}/comments`, { body: 'sneaky' }],
          ['POST', `${base}/views`, { name: 'mine', query: {} }],
          ['PATCH', base, { name: 'renamed' }],
          ['POST', `${base}/component-rules`, { pattern: '/x', component: 'X' }],
          ['POST', `${base}/members`, { email: 'friend@example.com', role: 'admin', password: 'password123' }],
          ['POST', `${base}/api-tokens`, { name: 'mine', scopes: ['defects:write'] }],
          ['DELETE', `${base}/api-tokens/${fakeId}`, undefined],
          ['PATCH', `${base}/members/${fakeId}`, { role: 'admin' }],
          ['DELETE', `${base}/members/${fakeId}`, undefined],
          ['PATCH', `${base}/component-rules/${fakeId}`, { position: 0 }],
          ['DELETE', `${base}/component-rules/${fakeId}`, undefined],
          ['DELETE', `${base}/views/${fakeId}`, undefined],
          ['POST', `${base}/defects/${defectId}/merge`, { targetDefectId: fakeId }],
          ['POST', `${base}/defects/${defectId}/not-duplicate`, { otherDefectId: fakeId }],
          ['POST', `${base}/reports/${fakeId}/split`, {}],
          ['POST', `${base}/defects/${defectId}/send`, { destinationId }],
          ['POST', `${base}/defects/${defectId}/test-links`, { testCaseId: fakeId, kind: 'covers' }],
          ['DELETE', `${base}/defects/${defectId}/test-links/${linkId}`, undefined],
          ['POST', `${base}/destinations`, { kind: 'slack', name: 'mine', config: { channel: 'C0123' } }],
          ['PATCH', `${base}/destinations/${destinationId}`, { enabled: false }],
          ['DELETE', `${base}/destinations/${destinationId}`, undefined],
          ['POST', `${base}/routing-rules`, { name: 'r', triggers: ['manual'], actions: [{ type: 'stop' }] }],
          ['PUT', `${base}/routing-rules/order`, { ids: [] }],
          ['PATCH', `${base}/routing-rules/${fakeId}`, { enabled: false }],
          ['DELETE', `${base}/routing-rules/${fakeId}`, undefined],
          ['POST', `${base}/dead-letters/1/retry`, {}],
        ];
        const statuses = [];
        for (const [method, url, body] of attempts) {
          const response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
          statuses.push([method, url.replace(base, ''), response.status, (await response.json().catch(() => ({}))).error?.code]);
        }
        return statuses;
      },
      { projectId, defectId: defect.id, destinationId, linkId },
    );
    for (const [method, path, status, code] of results) {
      expect({ method, path, status, code }).toEqual({ method, path, status: 403, code: 'forbidden' });
    }
    const stored = await app.database.db.selectFrom('defects').select(['status', 'severity']).where('id', '=', defect.id).executeTakeFirstOrThrow();
    expect(stored).toEqual({ status: 'new', severity: 'major' });
    expect(await app.database.db.selectFrom('defectComments').select('id').execute()).toEqual([]);
    expect(await app.database.db.selectFrom('jobs').select('id').where('kind', 'like', 'integration.%').execute()).toEqual([]);
    expect(await app.database.db.selectFrom('destinations').select(['enabled']).execute()).toEqual([{ enabled: true }]);
    expect(await app.database.db.selectFrom('defectTestLinks').select('id').execute()).toEqual([{ id: linkId }]);
  });
});
