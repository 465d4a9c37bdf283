/**
 * Honest states: a loading line exactly while a request is in flight, errors with the API's own
 * message and code, "not available yet" for capabilities the server has not shipped, and empty
 * states that say what to do next.
 */

import { h, fill } from "./dom.js";
import { signInForm } from "./signin.js";

const AUTH_CODES = new Set(["UNAUTHENTICATED", "FORBIDDEN"]);
/** The newest request per container: an older answer that arrives late must not overwrite it. */
const latestRequests = new WeakMap();

export function loadingView(what) {
  return h(
    "p",
    { class: "state state-loading", role: "status" },
    h("span", { class: "spinner", "aria-hidden": "true" }),
    `Loading ${what}…`,
  );
}

/** An empty state: what is missing, then what to do about it (strings or nodes such as <code>). */
export function emptyView(message, ...next) {
  return h("div", { class: "state state-empty" }, h("p", {}, message), next.length ? h("p", {}, ...next) : null);
}

/** Render an ApiError as an alert with its message and code, with sign-in help for auth errors. */
export function errorView(error, { retry } = {}) {
  const code = error.code ?? null;
  const messages = [
    ...new Set((error.errors?.length ? error.errors.map((e) => e.message) : [error.message]).filter(Boolean)),
  ];
  return h(
    "div",
    { class: "state state-error", role: "alert", "data-code": code ?? "" },
    h("p", {}, h("strong", {}, headline(code)), code ? h("code", { class: "error-code" }, code) : null),
    h(
      "ul",
      { class: "error-messages" },
      messages.map((message) => h("li", {}, message)),
    ),
    code === "UNAUTHENTICATED" ? signInForm() : null,
    code === "FORBIDDEN"
      ? h(
          "p",
          {},
          "Your token's role does not allow this. Ask an administrator for a token with a higher role, or sign in with another one.",
        )
      : null,
    retry && !AUTH_CODES.has(code)
      ? h("button", { type: "button", class: "secondary", onclick: retry }, "Try again")
      : null,
  );
}

function headline(code) {
  switch (code) {
    case "UNAUTHENTICATED":
      return "Sign-in required. ";
    case "FORBIDDEN":
      return "Not allowed. ";
    case "NETWORK":
      return "The API is unreachable. ";
    default:
      return "The API reported an error. ";
  }
}

/**
 * Fill `container` from `request()`: loading line while in flight, then `render(data)` or the API's
 * error. Only request failures become error views; a failing `render` is a bug and surfaces as one.
 */
export async function load(container, what, request, render) {
  const token = {};
  latestRequests.set(container, token);
  container.setAttribute("aria-busy", "true");
  fill(container, loadingView(what));
  let data = null;
  let failure = null;
  try {
    data = await request();
  } catch (error) {
    failure = error;
  }
  if (latestRequests.get(container) !== token) return;
  fill(container, failure ? errorView(failure, { retry: () => load(container, what, request, render) }) : render(data));
  container.removeAttribute("aria-busy");
}

/**
 * Run a mutation from a button: the button is disabled and `feedback` says "Working…" while the
 * request is in flight; afterwards `feedback` shows `onSuccess(data)`'s text or the error.
 */
export async function runAction(button, feedback, request, onSuccess) {
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  fill(
    feedback,
    h(
      "span",
      { class: "state-loading", role: "status" },
      h("span", { class: "spinner", "aria-hidden": "true" }),
      "Working…",
    ),
  );
  let data = null;
  let failure = null;
  try {
    data = await request();
  } catch (error) {
    failure = error;
  }
  button.disabled = false;
  button.removeAttribute("aria-busy");
  fill(feedback, failure ? errorView(failure) : h("span", { class: "action-done", role: "status" }, onSuccess(data)));
}

/**
 * The state of a live subscription, as a short line next to the data it updates. An error here only
 * means the view is not updating by itself; the data around it is still correct, so it stays a line.
 */
export function liveStatusView(state, error) {
  if (error) {
    const kind = error.code ? "error" : "off";
    return h(
      "span",
      { class: `live-status live-${kind}`, role: "status", "data-code": error.code ?? "" },
      h("span", { class: "live-dot", "aria-hidden": "true" }),
      `Live updates unavailable: ${error.message}`,
      error.code ? h("code", { class: "error-code" }, error.code) : null,
      " — use Refresh to see changes.",
    );
  }
  const texts = {
    connecting: ["pending", "Connecting to live updates…"],
    live: ["live", "Live"],
    retrying: ["pending", `Connection lost — retrying in ${state.retryInSeconds ?? "a few"} s`],
    refused: ["off", "Live updates refused"],
    ended: ["off", "Live updates ended"],
  };
  const [kind, text] = texts[state.name] ?? ["off", state.name];
  return h(
    "span",
    { class: `live-status live-${kind}`, role: "status" },
    h("span", { class: "live-dot", "aria-hidden": "true" }),
    text,
  );
}
