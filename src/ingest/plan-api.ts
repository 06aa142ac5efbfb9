// GET /v1/plan?duration=4h&power=2.4kW&by=2026-12-02T06:00Z: the best start for a job under the
// forecast the daemon holds. The planning itself is injected (the carbon stage sits right of ingest).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson, sendJsonError } from './http-answers.ts';

type PlanQuery = { duration?: string; power?: string; by?: string };
/** An answer to send as JSON, or why the query is invalid (HTTP 400). */
export type Planner = (query: PlanQuery) => { answer: unknown } | { error: string };

const PARAMETERS = new Set(['duration', 'power', 'by']);
/** A query is three short values; anything longer is not a plan request. */
const MAX_QUERY_CHARS = 512;

export function createPlanApi(planner: Planner) {
  return (request: IncomingMessage, response: ServerResponse): void => {
    if (request.method !== 'GET') {
      sendJsonError(response, 405, 'use GET', { Allow: 'GET' });
      return;
    }
    const search = (request.url ?? '').split('?')[1] ?? '';
    if (search.length > MAX_QUERY_CHARS) {
      sendJsonError(response, 400, `query longer than ${MAX_QUERY_CHARS} characters`);
      return;
    }
    const params = new URLSearchParams(search);
    const query: PlanQuery = {};
    for (const [key, value] of params) {
      if (!PARAMETERS.has(key)) {
        sendJsonError(response, 400, `unknown parameter '${key.slice(0, 64)}'; expected duration, power, by`);
        return;
      }
      query[key as keyof PlanQuery] = value;
    }
    const result = planner(query);
    if ('error' in result) sendJsonError(response, 400, result.error);
    else sendJson(response, 200, result.answer);
  };
}
