import pino, { type Logger } from 'pino';

/** Structured JSON logs; every request logs through a child carrying its request id. */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'bugloop' },
      redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'password', '*.password'], censor: '[redacted]' },
    },
    destination,
  );
}

export type { Logger };
