import { chromium } from 'playwright-core';
import { startWidgetServers } from '../test/support/widget-servers';
const servers = await startWidgetServers();
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
for (const name of (process.argv[2] ?? 'plain').split(',')) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.on('console', (m) => console.log('[console]', m.type(), m.text().slice(0, 200)));
  page.on('response', (r) => r.status() >= 400 && console.log('[http]', r.status(), r.url()));
  page.on('pageerror', (e) => console.log('[pageerror]', e.message));
  await page.addInitScript({ content: `window.Bugloop = { q: [['init', { projectKey: 'pk_test_widget_0123456789', onError: (e) => console.log('WIDGET ERROR', e && e.stack || String(e)) }]] };` });
  await page.goto(servers.pageUrl(name as any));
  await page.locator('[data-bugloop] >> button.launcher').click();
  await page.locator('[data-bugloop] canvas').waitFor({ timeout: 8000 }).catch(async (e) => { await page.screenshot({ path: '/tmp/wscratch/fail.png' }); console.log(await page.evaluate(() => document.querySelector('[data-bugloop]')?.shadowRoot?.innerHTML.slice(0, 3000))); throw e; });
  await page.screenshot({ path: `/tmp/wscratch/${name}.png` });
  await page.locator('#bugloop-description').fill('It broke');
  await page.waitForTimeout(1600);
  await page.locator('button[type=submit]').click();
  await page.locator('.reference').waitFor({ timeout: 10000 });
  console.log(name, await page.locator('.reference').textContent(), servers.ingest.received.length, servers.ingest.received.at(-1)?.image?.type, servers.ingest.received.at(-1)?.image?.bytes.length);
  const r = servers.ingest.received.at(-1)!;
  console.log(JSON.stringify({ ...r.report, browser: undefined }).slice(0, 1500));
  if (r.image) (await import('node:fs')).writeFileSync(`/tmp/wscratch/${name}-sent.webp`, r.image.bytes);
  await page.close();
}
await browser.close();
await servers.close();
