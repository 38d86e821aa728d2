import type { Destination } from './destination';
import { emailDestination } from './email';
import { jiraDestination } from './jira';
import { linearDestination } from './linear';
import { slackDestination } from './slack';
import { webhookDestination } from './webhook';

// The registry stores destinations of every config type; callers validate with each one's schema.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyDestination = Destination<any, any>;

const destinations = new Map<string, AnyDestination>();

/** Adds a destination kind. A new tracker is one file plus one line here. */
export function registerDestination(destination: AnyDestination): void {
  if (destinations.has(destination.kind)) throw new Error(`destination kind ${destination.kind} is registered twice`);
  destinations.set(destination.kind, destination);
}

/** The destination implementing `kind`, or undefined for an unknown kind. */
export function findDestination(kind: string): AnyDestination | undefined {
  return destinations.get(kind);
}

/** Every registered kind, in registration order. */
export function destinationKinds(): string[] {
  return [...destinations.keys()];
}

for (const destination of [jiraDestination, linearDestination, slackDestination, webhookDestination, emailDestination]) {
  registerDestination(destination);
}
