/** GraphQL over HTTP: one POST per operation, errors surfaced with the API's message and extensions.code. */

import { getToken, reportTokenVerdict } from "./auth.js";

export const ENDPOINT = new URL("graphql", document.baseURI);

const STATUS_CODES = { 401: "UNAUTHENTICATED", 403: "FORBIDDEN", 429: "RATE_LIMITED", 503: "SERVICE_UNAVAILABLE" };

/** An error as the API reported it; `code` is its extensions.code when it gave one. */
export class ApiError extends Error {
  constructor(message, code = null, errors = []) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.errors = errors;
  }

  /** Build from a GraphQL `errors` array: the first error speaks for all, the rest stay available. */
  static fromErrors(errors, fallbackCode = null) {
    const first = errors[0] ?? {};
    return new ApiError(first.message ?? "The API reported an error", first.extensions?.code ?? fallbackCode, errors);
  }
}

/** Run one operation; resolves with `data`, rejects with an `ApiError` when the API reports any error. */
export async function graphql(query, variables = {}) {
  const headers = { "Content-Type": "application/json", Accept: "application/json" };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(ENDPOINT, { method: "POST", headers, body: JSON.stringify({ query, variables }) });
  } catch (error) {
    throw new ApiError(`Cannot reach the Kilowatch API (${error.message}).`, "NETWORK");
  }
  const body = await readJson(response);
  const statusCode = STATUS_CODES[response.status] ?? null;
  if (token && (body?.errors?.length || body?.data)) {
    const codes = [statusCode, ...(body.errors ?? []).map((error) => error.extensions?.code)];
    reportTokenVerdict(token, !codes.includes("UNAUTHENTICATED"));
  }
  if (body?.errors?.length) throw ApiError.fromErrors(body.errors, statusCode);
  if (!response.ok || !body?.data) {
    throw new ApiError(`The API answered HTTP ${response.status} ${response.statusText}`.trim(), statusCode);
  }
  return body.data;
}

async function readJson(response) {
  try {
    return await response.json();
  } catch {
    return null; // not JSON (a proxy error page, an empty body): the HTTP status speaks instead
  }
}
