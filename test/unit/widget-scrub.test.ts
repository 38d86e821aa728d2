import { describe, expect, it } from 'vitest';
import { cleanUrl, scrubText } from '../../widget/scrub';
import { dragRectangle } from '../../widget/dialog/annotations';

describe('widget scrubbing', () => {
  it('replaces email addresses', () => {
    expect(scrubText('Checkout failed for jane.doe@example.com')).toBe('Checkout failed for [email]');
  });

  it('replaces bearer credentials', () => {
    expect(scrubText('Authorization: Bearer eyJhbGciOi.abc.def-ghi')).toBe('Authorization: Bearer [redacted]');
  });

  it('replaces token, key and password values in key=value pairs', () => {
    expect(scrubText('token=abc123secret&page=2 api_key: "k-99" password=hunter2')).toBe('token=[redacted]&page=2 api_key: "[redacted]" password=[redacted]');
  });

  it('replaces long digit runs such as card numbers', () => {
    expect(scrubText('card 4242 4242 4242 4242 and order 1234')).toBe('card [number] and order 1234');
  });

  it('replaces JSON web tokens and long opaque secrets', () => {
    expect(scrubText('jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl')).toBe('jwt [jwt]');
    expect(scrubText(`id ${'a1B2'.repeat(12)}`)).toBe('id [token]');
  });

  it('keeps ordinary text as it is', () => {
    expect(scrubText('Cannot read properties of null (reading "discount") at line 42')).toBe('Cannot read properties of null (reading "discount") at line 42');
  });

  it('drops the query string and fragment of URLs unless allow-listed', () => {
    expect(cleanUrl('https://shop.example/cart?session=s3cret&tab=2#access_token=x')).toBe('https://shop.example/cart');
    expect(cleanUrl('https://shop.example/cart?session=s3cret&tab=2', { allowQueryParameters: ['tab'] })).toBe('https://shop.example/cart?tab=2');
    expect(cleanUrl('https://shop.example/a#section', { keepFragment: true })).toBe('https://shop.example/a#section');
  });

  it('scrubs secrets that sit in the path of a URL', () => {
    expect(cleanUrl('https://shop.example/users/jane@example.com/orders')).toBe('https://shop.example/users/[email]/orders');
  });
});

describe('annotation geometry', () => {
  it('normalises a drag in any direction into a positive rectangle', () => {
    expect(dragRectangle(50, 40, 10, 5)).toEqual({ x: 10, y: 5, width: 40, height: 35 });
  });
});

describe('widget scrubbing inside brackets', () => {
  it('stops a redacted value at a closing bracket (regression: the bracket was eaten)', () => {
    expect(scrubText('failed (token=abc999) [key=k1]')).toBe('failed (token=[redacted]) [key=[redacted]]');
  });
});
