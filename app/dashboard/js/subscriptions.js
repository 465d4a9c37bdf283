/**
 * A small `graphql-transport-ws` client: one shared WebSocket for every live view.
 *
 * The token travels in the `connection_init` payload (browsers cannot set headers on a WebSocket).
 * When the connection drops, it reconnects with exponential backoff and jitter and subscribes again;
 * `variables` may be a function so a subscription can ask for what it missed (alertRaised `since`).
 * A silent connection is detected with ping/pong and treated like a drop.
 *
 * A refusal (4401 no valid token, 4403 role too low, 4400 bad request) is reported to every
 * subscriber and not retried until `reconnect()`, which sign-in and sign-out call.
 *
 * Each subscriber passes a sink: { next(data), error(apiError), complete(), connection(state) } where
 * state is { name: "connecting" | "live" | "retrying" | "refused", retryInSeconds? }.
 */

import { getToken, reportTokenVerdict } from "./auth.js";
import { ApiError, ENDPOINT } from "./graphql.js";

const PROTOCOL = "graphql-transport-ws";
const BACKOFF_FIRST_MS = 1_000;
const BACKOFF_MAX_MS = 30_000;
const ACK_TIMEOUT_MS = 10_000;
const PING_INTERVAL_MS = 20_000;
const PONG_TIMEOUT_MS = 10_000;
const CLOSE_BY_CLIENT = 4000;
/** Close codes after which trying again with the same token cannot help. */
const REFUSALS = {
  4400: ["BAD_USER_INPUT", "The server refused live updates as a bad request."],
  4401: ["UNAUTHENTICATED", "Live updates need a valid token: sign in."],
  4403: ["FORBIDDEN", "This token's role may not follow live updates."],
};

const subscriptions = new Map();
let socket = null;
let acknowledged = false;
let attempt = 0;
let nextId = 1;
let state = { name: "connecting" };
let retryTimer = null;
let ackTimer = null;
let pingTimer = null;
let pongTimer = null;

/** Start a subscription; returns a function that ends it. */
export function subscribe(query, variables, sink) {
  const id = String(nextId++);
  subscriptions.set(id, { query, variables, sink });
  sink.connection?.(state);
  if (acknowledged) sendSubscribe(id);
  else if (!socket && !retryTimer) connect();
  return () => {
    if (!subscriptions.delete(id)) return;
    if (acknowledged) send({ id, type: "complete" });
    if (subscriptions.size === 0) disconnect();
  };
}

/** Drop the connection and open a fresh one, e.g. after signing in with a different token. */
export function reconnect() {
  disconnect();
  attempt = 0;
  if (subscriptions.size > 0) connect();
}

window.addEventListener("online", () => {
  if (retryTimer) reconnect();
});

function connect() {
  clearTimeout(retryTimer);
  retryTimer = null;
  setState({ name: "connecting" });
  const url = new URL(ENDPOINT);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  const current = new WebSocket(url, PROTOCOL);
  socket = current;
  current.addEventListener("open", () => {
    const token = getToken();
    send({ type: "connection_init", payload: token ? { Authorization: `Bearer ${token}` } : {} });
    ackTimer = setTimeout(() => current.close(CLOSE_BY_CLIENT, "no connection_ack"), ACK_TIMEOUT_MS);
  });
  current.addEventListener("message", (event) => receive(JSON.parse(event.data)));
  current.addEventListener("close", (event) => {
    if (socket === current) closed(event.code, event.reason);
  });
}

function disconnect() {
  stopTimers();
  clearTimeout(retryTimer);
  retryTimer = null;
  const current = socket;
  socket = null;
  acknowledged = false;
  current?.close(1000, "done");
}

function receive(message) {
  switch (message.type) {
    case "connection_ack":
      clearTimeout(ackTimer);
      acknowledged = true;
      attempt = 0;
      setState({ name: "live" });
      for (const id of subscriptions.keys()) sendSubscribe(id);
      pingTimer = setInterval(ping, PING_INTERVAL_MS);
      break;
    case "ping":
      send({ type: "pong" });
      break;
    case "pong":
      clearTimeout(pongTimer);
      break;
    case "next": {
      const entry = subscriptions.get(message.id);
      if (!entry) break;
      if (message.payload.errors?.length) entry.sink.error(ApiError.fromErrors(message.payload.errors));
      if (message.payload.data) entry.sink.next(message.payload.data);
      break;
    }
    case "error":
      ended(message.id)?.error(ApiError.fromErrors(message.payload));
      break;
    case "complete":
      ended(message.id)?.complete?.();
      break;
  }
}

/** The server ended a subscription: forget it, and close the connection once nothing is left on it. */
function ended(id) {
  const entry = subscriptions.get(id);
  subscriptions.delete(id);
  if (subscriptions.size === 0) disconnect();
  return entry?.sink;
}

function closed(code, reason) {
  stopTimers();
  socket = null;
  acknowledged = false;
  if (subscriptions.size === 0) return;
  if (code in REFUSALS) {
    const [errorCode, message] = REFUSALS[code];
    setState({ name: "refused" });
    const token = getToken();
    if (token && errorCode === "UNAUTHENTICATED") reportTokenVerdict(token, false);
    const error = new ApiError(reason ? `${message} (${reason})` : message, errorCode);
    for (const { sink } of subscriptions.values()) sink.error(error);
    return;
  }
  const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** attempt) * (0.5 + Math.random() / 2);
  attempt += 1;
  setState({ name: "retrying", retryInSeconds: Math.ceil(delay / 1000) });
  retryTimer = setTimeout(connect, delay);
}

function sendSubscribe(id) {
  const { query, variables } = subscriptions.get(id);
  send({
    id,
    type: "subscribe",
    payload: { query, variables: typeof variables === "function" ? variables() : variables },
  });
}

function ping() {
  send({ type: "ping" });
  clearTimeout(pongTimer);
  pongTimer = setTimeout(() => socket?.close(CLOSE_BY_CLIENT, "no pong"), PONG_TIMEOUT_MS);
}

function send(message) {
  if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
}

function stopTimers() {
  clearTimeout(ackTimer);
  clearInterval(pingTimer);
  clearTimeout(pongTimer);
}

function setState(next) {
  state = next;
  for (const { sink } of subscriptions.values()) sink.connection?.(state);
}
