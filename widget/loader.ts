/** Bugloop widget loader (placeholder until the widget issue lands): keeps early calls queued. */
type Call = [string, ...unknown[]];
const host = window as unknown as { Bugloop?: { q?: Call[] } };
host.Bugloop = host.Bugloop ?? { q: [] };
export {};
