/** Hash routes: #/fleet, #/model/<machineId>/<MODEL_TYPE>, #/alerts, #/abtests, #/signin. */

const PATTERNS = [
  { name: "fleet", pattern: /^#?\/?(fleet)?$/ },
  { name: "model", pattern: /^#\/model\/([^/]+)\/([A-Z_]+)$/, keys: ["machineId", "modelType"] },
  { name: "alerts", pattern: /^#\/alerts$/ },
  { name: "abtests", pattern: /^#\/abtests$/ },
  { name: "signin", pattern: /^#\/signin$/ },
];

export function parseRoute(hash) {
  for (const { name, pattern, keys = [] } of PATTERNS) {
    const match = pattern.exec(hash);
    if (match)
      return {
        name,
        params: Object.fromEntries(keys.map((key, index) => [key, decodeURIComponent(match[index + 1])])),
      };
  }
  return { name: "not-found", params: {} };
}

export function modelHref(machineId, modelType) {
  return `#/model/${encodeURIComponent(machineId)}/${modelType}`;
}

/** Call `show(route)` now and on every hash change. */
export function startRouter(show) {
  window.addEventListener("hashchange", () => show(parseRoute(window.location.hash)));
  show(parseRoute(window.location.hash));
}
