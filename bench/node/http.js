// What every Node peer answers outside GraphQL, the same way on each.
import { statementCount } from './database.js';

export const UNAUTHENTICATED = JSON.stringify({ errors: [{ message: 'unauthenticated' }] });

/** GET /healthz: ready, and how many SQL statements this process has sent so far. */
export function health() {
  return JSON.stringify({ status: 'ok', statements: statementCount() });
}
