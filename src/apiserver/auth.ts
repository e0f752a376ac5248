import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/**
 * Bearer-token authentication against the cluster token, in constant time.
 * Shared by the API server and the agent's log/exec server (kept free of
 * express so a standalone agent does not load it).
 */
export function tokenChecker(token: string): (req: IncomingMessage) => boolean {
  const expected = Buffer.from(`Bearer ${token}`);
  return (req) => {
    const given = Buffer.from(req.headers.authorization ?? '');
    return given.length === expected.length && timingSafeEqual(given, expected);
  };
}
