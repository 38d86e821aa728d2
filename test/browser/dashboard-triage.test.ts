import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makePng } from '../support/images';
import { startTestApp, type TestApp } from '../support/test-server';
import { richEnrichment, richPayload, seedDefect } from '../api/defect-fixtures';
import { browserAvailability, launchChromium, projectWithUser, saveScreenshot, signIn } from './dashboard-browser';

const availability = browserAvailability();

describe.skipIf(!availability.run)('dashboard: a triager in Chromium', () => {
  let app: TestApp;
  let browser: Browser;
  let page: Page;
  let projectId: string;
  let userEmail: string;
  let checkoutKey: string;
  let checkoutId: string;
  let otherId: string;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    app = await startTestApp();
    const setup = await projectWithUser(app, 'admin', 'WEB');
    projectId = setup.project.id;
    userEmail = setup.email;
    const now = Date.now();
    const checkout = await seedDefect(app.database.db, projectId, {
      title: 'Pay button does nothing',
      component: 'Checkout',
      severity: 'blocker',
      release: '2.4.1',
      reports: [
        {
          description: 'I click pay and nothing happens. See https://evil.example.com/phish <img src=x onerror=alert(1)>',
          expected: 'The order is placed',
          reporterEmail: 'ann@example.com',
          receivedAt: new Date(now - 90_000),
          payload: richPayload(),
          enrichment: richEnrichment('Chrome', 'Linux'),
          screenshot: makePng(900, 560),
        },
        { description: 'Payment stuck on spinner', reporterEmail: 'bob@example.com', receivedAt: new Date(now - 30_000), enrichment: richEnrichment('Firefox', 'Windows') },
      ],
    });
    checkoutKey = checkout.defect.key;
    checkoutId = checkout.defect.id;
    const other = await seedDefect(app.database.db, projectId, { title: 'Avatar upload shows wrong colours', component: 'Profile', severity: 'minor', reports: [{ description: 'The avatar is purple', receivedAt: new Date(now - 600_000) }] });
    otherId = other.defect.id;
    await seedDefect(app.database.db, projectId, { title: 'Footer link goes nowhere', component: 'Marketing', reports: [{ description: 'footer', receivedAt: new Date(now - 3_600_000) }] });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('dialog', (dialog) => void (dialog.type() === 'prompt' ? dialog.accept('Blockers') : dialog.accept()));
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  it('signs in with the form and shows the inbox sorted by impact', async () => {
    await signIn(page, app, userEmail);
    const keys = await page.locator('.inbox-row .key').allTextContents();
    expect(keys[0]).toBe(checkoutKey);
    expect(keys).toHaveLength(3);
    await expect(page.locator('.inbox-row').first().textContent()).resolves.toContain('coverage gap');
    await saveScreenshot(page, 'dashboard-inbox');
  });

  it('filters by severity and component through the filter bar', async () => {
    await page.selectOption('select[aria-label=Severity]', 'minor');
    await expect.poll(() => page.locator('.inbox-row').count(), { timeout: 15_000 }).toBe(1);
    expect(await page.locator('.inbox-row .title a').textContent()).toBe('Avatar upload shows wrong colours');
    expect(page.url()).toContain('severity=minor');
    await page.click('button:text("Clear")');
    await page.selectOption('select[aria-label=Component]', 'Marketing');
    await expect.poll(() => page.locator('.inbox-row').count(), { timeout: 15_000 }).toBe(1);
    expect(await page.locator('.inbox-row .title a').textContent()).toBe('Footer link goes nowhere');
    await page.click('button:text("Clear")');
    await expect.poll(() => page.locator('.inbox-row').count(), { timeout: 15_000 }).toBe(3);
  });

  it('searches with / and full-text search, and says so when nothing matches', async () => {
    await page.keyboard.press('/');
    await page.keyboard.type('avatar colours');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('.inbox-row').count(), { timeout: 15_000 }).toBe(1);
    expect(await page.locator('.inbox-row .title a').textContent()).toBe('Avatar upload shows wrong colours');
    await page.fill('input[type=search]', 'zebra');
    await page.keyboard.press('Enter');
    await page.waitForSelector('text=No defect matches these filters');
    await page.click('button:text("Clear")');
    await expect.poll(() => page.locator('.inbox-row').count(), { timeout: 15_000 }).toBe(3);
  });

  it('saves the current filters as a view that can be applied later', async () => {
    await page.selectOption('select[aria-label=Severity]', 'blocker');
    await expect.poll(() => page.locator('.inbox-row').count(), { timeout: 15_000 }).toBe(1);
    await page.click('button:text("Save view")');
    await page.waitForSelector('text=Saved the view "Blockers"');
    await page.click('button:text("Clear")');
    await expect.poll(() => page.locator('.inbox-row').count(), { timeout: 15_000 }).toBe(3);
    const viewId = await page.locator('select[aria-label="Saved views"] option:text("Blockers")').getAttribute('value');
    await page.selectOption('select[aria-label="Saved views"]', viewId!);
    await expect.poll(() => page.locator('.inbox-row').count(), { timeout: 15_000 }).toBe(1);
    expect(page.url()).toContain('severity=blocker');
    await page.click('button:text("Clear")');
    await expect.poll(() => page.locator('.inbox-row').count(), { timeout: 15_000 }).toBe(3);
  });

  it('sets the status of checked defects in bulk', async () => {
    await page.check('input[aria-label="Check WEB-2"]');
    await page.check('input[aria-label="Check WEB-3"]');
    await page.selectOption('.bulkbar select[aria-label="Set status"]', 'triaged');
    await page.waitForSelector('text=Updated 2 defect(s)');
    const rows = await app.database.db.selectFrom('defects').select(['key', 'status']).where('key', 'in', ['WEB-2', 'WEB-3']).orderBy('key').execute();
    expect(rows).toEqual([
      { key: 'WEB-2', status: 'triaged' },
      { key: 'WEB-3', status: 'triaged' },
    ]);
    await page.waitForSelector('.inbox-row:has-text("WEB-2") .status:text("Triaged")');
  });

  it('shows new reports without a reload (live polling)', async () => {
    await seedDefect(app.database.db, projectId, { title: 'Brand new crash on login', severity: 'critical', reports: [{ description: 'login crash' }] });
    await page.waitForSelector('text=Brand new crash on login', { timeout: 15_000 });
  });

  it('moves with j/k and opens a defect with Enter', async () => {
    await page.locator('body').click({ position: { x: 5, y: 5 } });
    await page.keyboard.press('k');
    await page.keyboard.press('k');
    const selectedKey = await page.locator('.inbox-row.selected .key').textContent();
    await page.keyboard.press('j');
    await page.keyboard.press('k');
    expect(await page.locator('.inbox-row.selected .key').textContent()).toBe(selectedKey);
    const target = (await page.locator('.inbox-row .key').allTextContents()).indexOf(checkoutKey);
    for (let step = 0; step < target; step += 1) await page.keyboard.press('j');
    await page.keyboard.press('Enter');
    await page.waitForSelector(`.defect-head .key:text("${checkoutKey}")`);
    expect(page.url()).toContain(`/defects/${checkoutKey}`);
  });

  it('renders reporters\u2019 words as text and their links unclickable', async () => {
    await page.waitForSelector('.report');
    expect(await page.locator('.report img[src=x]').count()).toBe(0);
    expect(await page.locator('.report-words', { hasText: 'I click pay' }).textContent()).toContain('<img src=x onerror=alert(1)>');
    expect(await page.locator('a[href="https://evil.example.com/phish"]').count()).toBe(0);
    expect(await page.locator('.external-link-text', { hasText: 'https://evil.example.com/phish' }).count()).toBeGreaterThan(0);
  });

  it('shows expected vs actual, console errors, failed requests and the browser breakdown', async () => {
    const text = await page.locator('.defect').textContent();
    expect(text).toContain('The order is placed');
    expect(text).toContain("TypeError: Cannot read properties of undefined (reading 'total')");
    expect(text).toContain('https://shop.example.com/api/orders');
    const browsers = await page.locator('.breakdown').first().locator('.bar-label').allTextContents();
    expect(browsers.sort()).toEqual(['Chrome', 'Firefox']);
    await saveScreenshot(page, 'dashboard-defect');
  });

  it('opens a screenshot in the viewer at original size and offers a download', async () => {
    await page.click('.thumbnail');
    await page.waitForSelector('.viewer img');
    await page.click('.viewer button:text("Original size")');
    const width = await page.locator('.viewer img').evaluate((image) => (image as HTMLImageElement).getBoundingClientRect().width);
    expect(Math.round(width)).toBe(900);
    const natural = await page.locator('.viewer img').evaluate((image) => (image as HTMLImageElement).naturalWidth);
    expect(natural).toBe(900);
    expect(await page.locator('.viewer a:text("Download")').getAttribute('href')).toMatch(/\/attachments\/[0-9a-f-]+\?download=1$/);
    await saveScreenshot(page, 'dashboard-screenshot-viewer');
    await page.keyboard.press('Escape');
    await page.waitForSelector('.viewer', { state: 'detached' });
  });

  it('sets the status with s and a number key, recorded in the history', async () => {
    // Typed back to back, as a quick hand does: the number must not be lost between the dialog
    // appearing and its key handler being attached (it was, on a loaded CI machine).
    await page.keyboard.press('s');
    await page.keyboard.press('2');
    await page.waitForSelector('.defect-head .status:text("Triaged")', { timeout: 10_000 });
    const row = await app.database.db.selectFrom('defects').select('status').where('id', '=', checkoutId).executeTakeFirstOrThrow();
    expect(row.status).toBe('triaged');
    await page.waitForSelector('.timeline li:has-text("changed status from New to Triaged")', { timeout: 10_000 });
  });

  it('sets severity through the triage fields', async () => {
    await page.selectOption('.triage select[name=severity]', 'critical');
    await page.waitForSelector('.defect-head .severity:text("critical")');
    const row = await app.database.db.selectFrom('defects').select('severity').where('id', '=', checkoutId).executeTakeFirstOrThrow();
    expect(row.severity).toBe('critical');
  });

  it('posts a comment that appears at once and is stored', async () => {
    await page.fill('textarea[name=comment]', 'Reproduced on staging with a Visa card.');
    await page.click('.comment-form button[type=submit]');
    await page.waitForSelector('.comment-body:has-text("Reproduced on staging with a Visa card.")');
    const stored = await app.database.db.selectFrom('defectComments').select('body').where('defectId', '=', checkoutId).execute();
    expect(stored.map((comment) => comment.body)).toEqual(['Reproduced on staging with a Visa card.']);
  });

  it('splits a report out into a new defect through the dedup API', async () => {
    await page.goto(`${app.url}/p/${projectId}/defects/${checkoutKey}`);
    await page.waitForSelector('.report');
    expect(await page.locator('.report').count()).toBe(2);
    const spinner = page.locator('.report', { hasText: 'Payment stuck on spinner' });
    await spinner.locator('button:text("Split out")').click();
    const notice = await page.waitForSelector('text=/Split out into WEB-\\d+/');
    const newKey = /WEB-\d+/.exec((await notice.textContent()) ?? '')![0];
    await expect.poll(() => page.locator('.report').count(), { timeout: 10_000 }).toBe(1);
    const moved = await app.database.db
      .selectFrom('reports')
      .innerJoin('defects', 'defects.id', 'reports.defectId')
      .select(['defects.key'])
      .where('reports.description', '=', 'Payment stuck on spinner')
      .executeTakeFirstOrThrow();
    expect(moved.key).toBe(newKey);
    expect(newKey).not.toBe(checkoutKey);
  });

  it('merges into a possible duplicate with m, through the dedup API', async () => {
    // The duplicate candidates stored on the report by dedup (scores and signals), as processing writes them.
    await app.database.db
      .updateTable('reports')
      .set({ candidates: JSON.stringify([{ defectId: otherId, score: 0.82, signals: { title: 0.7, route: 1 } }]) })
      .where('defectId', '=', checkoutId)
      .execute();
    await page.reload();
    await page.waitForSelector('.candidate:has-text("82%")');
    await page.locator('body').click({ position: { x: 5, y: 5 } });
    await page.keyboard.press('m');
    expect(await page.evaluate(() => document.activeElement?.classList.contains('merge-button'))).toBe(true);
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/defects\/WEB-2$/);
    await page.waitForSelector('.defect-head .key:text("WEB-2")');
    const merged = await app.database.db.selectFrom('defects').select(['mergedIntoId']).where('id', '=', checkoutId).executeTakeFirstOrThrow();
    expect(merged.mergedIntoId).toBe(otherId);
    // The reports moved to the defect it was merged into.
    await page.waitForSelector('.report-words:has-text("I click pay")');
  });

  it('shows settings: snippet with copy and live preview, origins, ordered component rules, members and tokens', async () => {
    await page.goto(`${app.url}/p/${projectId}/settings`);
    await page.waitForSelector('#widget-snippet');
    const project = await app.database.db.selectFrom('projects').select('publicKey').where('id', '=', projectId).executeTakeFirstOrThrow();
    expect(await page.locator('#widget-snippet').textContent()).toContain(`data-project-key="${project.publicKey}"`);
    // Copy puts the exact snippet on the clipboard.
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: app.url });
    await page.click('.snippet button:text("Copy")');
    await page.waitForSelector('.snippet button:text("Copied")');
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(await page.locator('#widget-snippet').textContent());
    // The live preview runs the real widget from this server inside a sandboxed frame.
    await page.click('button:text("Live preview")');
    await page.frameLocator('iframe.widget-preview').locator('[data-bugloop]').waitFor({ state: 'attached', timeout: 15_000 });
    // Allowed origins and component rules, with their order.
    await page.fill('textarea[name=allowedOrigins]', 'https://shop.example.com\nhttps://staging.example.com');
    await page.click('button:text("Save origins")');
    await page.waitForSelector('text=Saved the allowed origins');
    const origins = await app.database.db.selectFrom('projects').select('allowedOrigins').where('id', '=', projectId).executeTakeFirstOrThrow();
    expect(origins.allowedOrigins).toEqual(['https://shop.example.com', 'https://staging.example.com']);
    for (const [pattern, component] of [['/checkout/**', 'Checkout'], ['/account/*', 'Account']]) {
      await page.fill('input[name=pattern]', pattern);
      await page.fill('input[name=component]', component);
      await page.click('button:text("Add rule")');
      await page.waitForSelector(`td code:text("${pattern}")`);
    }
    await page.click('button[aria-label="Move /account/* up"]');
    const rules = () => app.database.db.selectFrom('componentRules').select(['pattern']).where('projectId', '=', projectId).orderBy('position').execute();
    await expect.poll(async () => (await rules()).map((rule) => rule.pattern)).toEqual(['/account/*', '/checkout/**']);
    await page.waitForSelector('#component-rules tbody tr:first-child code:text("/account/*")');
    await saveScreenshot(page, 'dashboard-settings');
    // Tokens live in the People tab; a token is shown once.
    await page.click('.tabs a:text("People and tokens")');
    await page.fill('input[name=tokenName]', 'CI pipeline');
    await page.click('#tokens button[type=submit]');
    await page.waitForSelector('.token-secret');
    expect(await page.locator('.token-secret').textContent()).toMatch(/^blt_/);
    await page.fill('input[name=memberEmail]', 'new-triager@example.com');
    await page.fill('input[name=memberPassword]', 'a long first password');
    await page.click('#members button:text("Add person")');
    await page.waitForSelector('#members td:text("new-triager@example.com")');
    await page.selectOption('select[aria-label="Role of new-triager@example.com"]', 'viewer');
    await page.waitForSelector('text=new-triager@example.com is now viewer');
    const member = await app.database.db
      .selectFrom('projectMembers')
      .innerJoin('users', 'users.id', 'projectMembers.userId')
      .select('projectMembers.role')
      .where('users.email', '=', 'new-triager@example.com')
      .executeTakeFirstOrThrow();
    expect(member.role).toBe('viewer');
  });

  it('shows the shortcut list with ?', async () => {
    await page.goto(`${app.url}/p/${projectId}`);
    await page.waitForSelector('.inbox-row');
    await page.keyboard.press('?');
    await page.waitForSelector('[aria-label="Keyboard shortcuts"]');
    await page.keyboard.press('Escape');
  });

  it('threw no uncaught errors in the page', () => {
    expect(pageErrors).toEqual([]);
  });
});
