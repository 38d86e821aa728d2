import { describe, expect, it } from 'vitest';
import { componentForRoute, globToRegExp } from '../../server/enrich/component-rules';
import { draftSteps, draftTitle } from '../../server/enrich/drafts';
import { enrichReport } from '../../server/enrich/enrich-report';
import { routePattern } from '../../server/enrich/route-pattern';
import { scrubText, scrubUrl } from '../../server/enrich/scrub';
import { errorSignature, normalizeErrorMessage, requestSignature, topFrames } from '../../server/enrich/signatures';
import { summarizeDevice } from '../../server/enrich/user-agent';

describe('routePattern', () => {
  it.each([
    ['https://shop.example.com/orders/8812/items?x=1#top', '/orders/:id/items'],
    ['/users/3f2b8c1e-9d4a-4e8b-a1c2-6b7d8e9f0a1b/profile', '/users/:id/profile'],
    ['/assets/5f1d2c3b4a6e7f8091a2b3c4', '/assets/:id'],
    ['/products/blue-shirt-8812', '/products/:id'],
    ['/Checkout/Payment', '/checkout/payment'],
    ['/invite/Xk2p9QwErt7yUioPaSdf4', '/invite/:id'],
    ['/blog/how-to-pay', '/blog/how-to-pay'],
    ['https://shop.example.com/', '/'],
  ])('%s → %s', (url, pattern) => {
    expect(routePattern(url)).toBe(pattern);
  });
});

describe('component rules', () => {
  const rules = [
    { pattern: '/checkout/**', patternKind: 'glob' as const, component: 'Checkout' },
    { pattern: '^/orders/:id(/.*)?$', patternKind: 'regex' as const, component: 'Orders' },
    { pattern: '/account/*', patternKind: 'glob' as const, component: 'Account' },
  ];

  it('takes the first matching rule, glob or regex', () => {
    expect(componentForRoute('/checkout', rules)).toBe('Checkout');
    expect(componentForRoute('/checkout/payment/confirm', rules)).toBe('Checkout');
    expect(componentForRoute('/orders/:id/items', rules)).toBe('Orders');
    expect(componentForRoute('/account/settings', rules)).toBe('Account');
  });

  it('falls back to Unassigned, also for a route under a single-segment glob', () => {
    expect(componentForRoute('/account/settings/email', rules)).toBe('Unassigned');
    expect(componentForRoute(null, rules)).toBe('Unassigned');
  });

  it('keeps glob special characters literal', () => {
    expect(globToRegExp('/a.b/*').test('/a.b/x')).toBe(true);
    expect(globToRegExp('/a.b/*').test('/aXb/x')).toBe(false);
  });
});

describe('signatures', () => {
  const chromeStack = `TypeError: Cannot read properties of null (reading 'discount')
    at applyCoupon (https://shop.example.com/assets/app.3f9a1c2b.js:10:5)
    at HTMLButtonElement.<anonymous> (https://shop.example.com/assets/app.3f9a1c2b.js:88:12)
    at dispatch (https://shop.example.com/assets/vendor.js?v=2:1:100)`;

  it('normalize numbers, ids and URLs out of error messages', () => {
    expect(normalizeErrorMessage('Order 8812 failed at https://x.example/a?b=1 (id 3f2b8c1e-9d4a-4e8b-a1c2-6b7d8e9f0a1b)')).toBe(
      'Order <n> failed at <url> (id <id>)',
    );
  });

  it('keep function and file of the top frames, without positions or build hashes', () => {
    expect(topFrames(chromeStack)).toEqual(['applyCoupon@app.js', 'HTMLButtonElement.<anonymous>@app.js', 'dispatch@vendor.js']);
    expect(topFrames('applyCoupon@https://x/app.js:1:2\n@https://x/app.js:3:4')).toEqual(['applyCoupon@app.js', '<anonymous>@app.js']);
  });

  it('give the same error signature to the same error with different ids and builds', () => {
    const first = errorSignature([{ level: 'error', message: 'Order 12 not found', stack: chromeStack, time: 1 }]);
    const second = errorSignature([{ level: 'error', message: 'Order 9931 not found', stack: chromeStack.replace(/3f9a1c2b/g, 'aa11bb22'), time: 5 }]);
    const other = errorSignature([{ level: 'error', message: 'Payment declined', stack: chromeStack, time: 1 }]);
    expect(first).toMatch(/^[0-9a-f]{20}$/);
    expect(second).toBe(first);
    expect(other).not.toBe(first);
  });

  it('prefer an uncaught error over a console.error call, and ignore warnings', () => {
    const entries = [
      { level: 'warn' as const, message: 'deprecated', time: 0 },
      { level: 'error' as const, message: 'logged noise', time: 1, source: 'console' as const },
      { level: 'error' as const, message: 'Real crash', time: 2, source: 'uncaught' as const },
    ];
    expect(errorSignature(entries)).toBe(errorSignature([{ level: 'error', message: 'Real crash', time: 9 }]));
    expect(errorSignature([{ level: 'warn', message: 'x', time: 0 }])).toBeNull();
  });

  it('derive a request signature from the first failed request, by route and status', () => {
    const failing = (id: number, status: number) => ({ method: 'post', url: `https://api.example.com/orders/${id}/pay?x=1`, status, durationMs: 10, time: id });
    expect(requestSignature([failing(1, 500)])).toBe(requestSignature([failing(2, 500)]));
    expect(requestSignature([failing(1, 500)])).not.toBe(requestSignature([failing(1, 503)]));
    expect(requestSignature([{ ...failing(1, 200) }])).toBeNull();
    expect(requestSignature([{ ...failing(1, 404) }])).toBeNull();
  });
});

describe('scrubbing', () => {
  it('replaces emails, bearer tokens, JWTs, secrets, card numbers and long digit runs', () => {
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U';
    expect(scrubText(`user bob@example.org, Authorization: Bearer abc.def-123456, ${jwt}`)).toBe('user [email], Authorization: Bearer [token], [token]');
    expect(scrubText('key sk_live_abcdefghijklmnop and password=hunter2')).toBe('key [secret] and password=[redacted]');
    expect(scrubText('card 4242 4242 4242 4242 and phone 0612345678')).toBe('card [card] and phone [number]');
    expect(scrubText('order 1234 of 2024')).toBe('order 1234 of 2024');
  });

  it('removes sensitive query values and credentials from URLs', () => {
    expect(scrubUrl('https://u:p@x.example/cb?code=abc&state=ok&email=a@b.co')).toBe('https://x.example/cb?code=[redacted]&state=ok&email=[redacted]');
  });
});

describe('drafts', () => {
  it('draft a title from the first sentence', () => {
    expect(draftTitle('the pay button does nothing. I tried twice!')).toBe('The pay button does nothing');
    expect(draftTitle(`${'word '.repeat(40)}end`)).toMatch(/^Word word .*…$/);
    expect(draftTitle('x'.repeat(200)).length).toBeLessThanOrEqual(81);
  });

  it('draft numbered steps from breadcrumbs, collapsing repeats', () => {
    const steps = draftSteps(
      [
        { kind: 'navigation', time: 1, to: 'https://shop.example.com/cart?x=1' },
        { kind: 'click', time: 2, selector: 'button#pay', text: 'Pay now' },
        { kind: 'click', time: 3, selector: 'button#pay', text: 'Pay now' },
        { kind: 'input', time: 4, selector: 'input#coupon' },
      ],
      'https://shop.example.com/cart',
    );
    expect(steps).toBe('1. Go to /cart\n2. Click “Pay now” (button#pay) (2 times)\n3. Type into input#coupon');
  });

  it('return null without breadcrumbs or page', () => {
    expect(draftSteps([], null)).toBeNull();
  });
});

describe('summarizeDevice', () => {
  it('reads browser, OS and device from the user agent', () => {
    const summary = summarizeDevice('Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1');
    expect(summary).toMatchObject({ browser: { name: 'Mobile Safari' }, os: { name: 'iOS', version: '17.1' }, device: { type: 'mobile', vendor: 'Apple' } });
  });

  it('lets client hints reveal Windows 11 behind a frozen user agent', () => {
    const ua = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';
    expect(summarizeDevice(ua).os).toEqual({ name: 'Windows', version: '10' });
    expect(summarizeDevice(ua, { platform: 'Windows', platformVersion: '15.0.0' }).os).toEqual({ name: 'Windows', version: '11' });
  });
});

describe('enrichReport', () => {
  it('combines route, component, signatures and drafts deterministically', () => {
    const report = {
      id: '7d0c3ad4-3f0e-4a53-9d43-1f1d0c8f4e11',
      description: 'Payment spinner never stops. Very annoying',
      url: 'https://shop.example.com/checkout/payment?session=1',
      console: [{ level: 'error' as const, message: 'Timeout after 3000ms', time: 1 }],
      network: [{ method: 'POST', url: '/api/pay', status: 504, durationMs: 3000, time: 2 }],
    };
    const rules = [{ pattern: '/checkout/**', patternKind: 'glob' as const, component: 'Checkout' }];
    const first = enrichReport(report, rules);
    expect(first).toEqual(enrichReport(report, rules));
    expect(first).toMatchObject({
      route: '/checkout/payment',
      component: 'Checkout',
      details: { title: 'Payment spinner never stops', error: 'Timeout after <n>ms', failedRequest: 'POST /api/pay → 504', consoleErrorCount: 1, failedRequestCount: 1 },
    });
  });
});
