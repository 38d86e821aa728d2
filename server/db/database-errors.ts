/**
 * Errors that mean "the database is not reachable right now" rather than a bug: the HTTP edge
 * answers them with 503 `database_unavailable`, and the job queue does not count them against a
 * job's attempts (an outage is not the job's fault).
 */
const unavailableCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', 'EPIPE', '57P01', '57P02', '57P03', '08000', '08003', '08006', '08001', '08004']);

/** What node-postgres and pg-pool say when a connection is lost, refused or cannot be had in time. */
const driverMessages = /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|the database system is (starting up|shutting down|in recovery mode)|terminating connection/i;

/**
 * True for an error raised by the database driver itself when the server cannot be reached: a
 * PostgreSQL "admin shutdown" / connection-failure SQLSTATE, a driver message, or the socket
 * error of a refused connection. Errors of remote vendors never match: destinations wrap theirs.
 */
export function isDatabaseConnectionError(caught: unknown): boolean {
  const error = caught as { code?: string; message?: string } | undefined;
  if (!error) return false;
  if (error.code && unavailableCodes.has(error.code)) return true;
  return driverMessages.test(error.message ?? '');
}

/** The HTTP edge's test: the driver's errors, or any refused connection seen while serving. */
export function isDatabaseUnavailable(caught: unknown): boolean {
  return isDatabaseConnectionError(caught) || /connect ECONNREFUSED/i.test((caught as { message?: string } | undefined)?.message ?? '');
}
