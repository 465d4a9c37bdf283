/**
 * The API token: read once from a `#token=…` link (then removed from the address bar so it does not
 * end up in bookmarks, history or screenshots), typed into the sign-in box, or remembered in
 * localStorage. With access control off the server ignores it. The link carries the token in the
 * fragment because browsers never send a fragment to the server: it appears in no request line,
 * proxy or access log. Older `?token=…` links are still adopted (the server redacts them in its log).
 */

const STORAGE_KEY = "kilowatch.token";
const listeners = new Set();
let memoryToken = null;

const FRAGMENT_PREFIX = "#token=";

/** Move a token given in the URL into storage and rewrite the URL without it. */
export function adoptTokenFromUrl() {
  const url = new URL(window.location.href);
  const inFragment = url.hash.startsWith(FRAGMENT_PREFIX);
  const token = inFragment ? decodeURIComponent(url.hash.slice(FRAGMENT_PREFIX.length)) : url.searchParams.get("token");
  if (token === null) return;
  url.searchParams.delete("token");
  const hash = inFragment ? "" : url.hash;
  window.history.replaceState(window.history.state, "", `${url.pathname}${url.search}${hash}`);
  if (token.trim()) setToken(token);
}

export function getToken() {
  try {
    return window.localStorage.getItem(STORAGE_KEY) ?? memoryToken;
  } catch {
    return memoryToken; // storage disabled (private mode, policy): keep the token for this page only
  }
}

export function setToken(token) {
  memoryToken = token.trim();
  try {
    window.localStorage.setItem(STORAGE_KEY, memoryToken);
  } catch {
    // memoryToken already holds it
  }
  notify();
}

export function clearToken() {
  memoryToken = null;
  try {
    window.localStorage.removeItem(STORAGE_KEY);
  } catch {
    // nothing stored
  }
  notify();
}

/** Called after every sign-in or sign-out, including one made in another tab. */
export function onTokenChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

window.addEventListener("storage", (event) => {
  if (event.key === STORAGE_KEY) notify();
});

function notify() {
  for (const listener of listeners) listener(getToken());
}

/**
 * What the server said of the stored token: true (it authenticated a request), false (it answered
 * UNAUTHENTICATED) or null (not asked yet, or the token changed since). The header shows "Signed in"
 * only once the server has accepted the token, so it never contradicts a page asking to sign in.
 */
let verdict = { token: null, accepted: null };
const verdictListeners = new Set();

export function tokenAccepted() {
  const token = getToken();
  return token !== null && verdict.token === token ? verdict.accepted : null;
}

/** Record the server's answer to a request made with `token`; listeners hear of changes only. */
export function reportTokenVerdict(token, accepted) {
  if (verdict.token === token && verdict.accepted === accepted) return;
  verdict = { token, accepted };
  for (const listener of verdictListeners) listener(accepted);
}

export function onTokenVerdict(listener) {
  verdictListeners.add(listener);
  return () => verdictListeners.delete(listener);
}
