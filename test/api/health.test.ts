import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../server/db/database';
import { createLogger } from '../../server/logger';
import { startTestApp, type TestApp } from '../support/test-server';

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app.close());

describe('GET /healthz', () => {
  it('answers 200 with the database status', async () => {
    const response = await app.request('/healthz');
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok', database: 'ok' });
  });

  it('carries a request id, keeping a sane incoming one', async () => {
    const generated = await app.request('/healthz');
    expect(generated.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const echoed = await app.request('/healthz', { headers: { 'X-Request-Id': 'trace-abc-123' } });
    expect(echoed.headers.get('x-request-id')).toBe('trace-abc-123');
    const hostile = await app.request('/healthz', { headers: { 'X-Request-Id': '<script>' } });
    expect(hostile.headers.get('x-request-id')).not.toBe('<script>');
  });
});

describe('errors', () => {
  it('answer an unknown API route with the error body and 404', async () => {
    const response = await app.request('/api/v1/nothing-here');
    expect(response.status).toBe(404);
    const body = await response.json();
    expect(body.error.code).toBe('not_found');
    expect(body.error.message).toContain('/api/v1/nothing-here');
    expect(body.error.requestId).toBe(response.headers.get('x-request-id'));
  });
});

describe('when the database is down', () => {
  it('answers /healthz with 503 instead of hanging', async () => {
    // A PostgreSQL target where nothing listens: what the server sees while the database is down.
    const unreachable = await openDatabase({ kind: 'postgres', url: 'postgres://postgres@127.0.0.1:1/none', poolSize: 1 }, createLogger('silent'));
    const isolated = await startTestApp({}, { database: unreachable });
    const started = Date.now();
    const response = await isolated.request('/healthz');
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ database: 'unreachable' });
    expect(Date.now() - started).toBeLessThan(5000);
    await isolated.close();
    await unreachable.close();
  });
});

describe('security headers', () => {
  it('put a strict CSP and no framing on dashboard pages', async () => {
    const response = await app.request('/', { headers: { accept: 'text/html' } });
    expect(response.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(response.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(response.headers.get('x-frame-options')).toBe('DENY');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('cross-origin-resource-policy')).toBe('same-origin');
  });

  it('let other sites load the widget and reach the report endpoint', async () => {
    const widget = await app.request('/widget.js');
    expect(widget.status).toBe(200);
    expect(widget.headers.get('cross-origin-resource-policy')).toBe('cross-origin');
    expect(widget.headers.get('access-control-allow-origin')).toBe('*');
    const preflight = await app.request('/api/v1/reports', { method: 'OPTIONS', headers: { origin: 'https://nowhere.example' } });
    expect(preflight.headers.get('cross-origin-resource-policy')).toBe('cross-origin');
  });
});
