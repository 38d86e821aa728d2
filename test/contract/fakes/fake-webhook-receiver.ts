import { FakeServer, type RecordedRequest } from './fake-server';

/**
 * A webhook receiver that records what arrives, answers 204, and behaves as Bugloop asks
 * receivers to: it keeps the `Idempotency-Key`s it has seen and processes each delivery once.
 * `requests` (on the server) are the raw arrivals, repeats included; `processed` is what a
 * receiver's business logic would have seen.
 */
export function createFakeWebhookReceiver() {
  const seenKeys = new Set<string>();
  const processed: RecordedRequest[] = [];
  const server = new FakeServer((request) => {
    const key = request.headers['idempotency-key'];
    if (typeof key === 'string' && seenKeys.has(key)) return { status: 204 };
    if (typeof key === 'string') seenKeys.add(key);
    processed.push(request);
    return { status: 204 };
  });
  return { server, processed };
}
