import { FakeServer } from './fake-server';

/** A webhook receiver that records what arrives and answers 204. */
export function createFakeWebhookReceiver() {
  const server = new FakeServer(() => ({ status: 204 }));
  return { server };
}
