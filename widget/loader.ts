/** Bugloop widget loader (placeholder until the widget issue lands): keeps early calls queued. */
type Call = [string, ...unknown[]];
const global = window as unknown as { Bugloop?: { q?: Call[] } };
global.Bugloop = global.Bugloop ?? { q: [] };
