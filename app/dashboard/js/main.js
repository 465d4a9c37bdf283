/**
 * Start-up: take a token from the URL, draw the header, and show the page for the current route.
 * Every page is a function (main, params) → cleanup; the cleanup ends its live subscriptions.
 */

import { adoptTokenFromUrl, clearToken, getToken, onTokenChange, onTokenVerdict, tokenAccepted } from "./auth.js";
import { fill, h } from "./dom.js";
import { renderAbTests } from "./pages/abtests.js";
import { renderAlerts } from "./pages/alerts.js";
import { renderFleet } from "./pages/fleet.js";
import { renderModel } from "./pages/model.js";
import { parseRoute, startRouter } from "./router.js";
import { signInForm } from "./signin.js";
import { emptyView } from "./states.js";
import { reconnect } from "./subscriptions.js";

const NAVIGATION = [
  { route: "fleet", href: "#/fleet", label: "Fleet" },
  { route: "alerts", href: "#/alerts", label: "Alerts" },
  { route: "abtests", href: "#/abtests", label: "A/B tests" },
];

const PAGES = {
  fleet: renderFleet,
  model: renderModel,
  alerts: renderAlerts,
  abtests: renderAbTests,
  signin: renderSignIn,
  "not-found": renderNotFound,
};

const main = document.getElementById("main");
const navigation = document.getElementById("navigation");
const account = document.getElementById("account");
let cleanup = () => {};
let currentRoute = null;

adoptTokenFromUrl();
onTokenChange(() => {
  reconnect();
  drawAccount();
  show(currentRoute.name === "signin" ? parseRoute("#/fleet") : currentRoute);
});
onTokenVerdict(drawAccount);
drawAccount();
startRouter(show);

function show(route) {
  cleanup();
  currentRoute = route;
  drawNavigation(route);
  fill(main);
  cleanup = PAGES[route.name](main, route.params) ?? (() => {});
  main.querySelector("h1")?.focus({ preventScroll: true });
}

function drawNavigation(route) {
  const active = route.name === "model" ? "fleet" : route.name;
  fill(
    navigation,
    h(
      "ul",
      {},
      NAVIGATION.map((item) =>
        h("li", {}, h("a", { href: item.href, "aria-current": item.route === active ? "page" : null }, item.label)),
      ),
    ),
  );
}

/** "Signed in" only once the server accepted the token; a refused one is named as such, with a way out. */
function drawAccount() {
  if (!getToken()) {
    fill(account, h("a", { href: "#/signin", class: "account-link" }, "Sign in"));
    return;
  }
  const accepted = tokenAccepted();
  const state =
    accepted === false
      ? h("span", { class: "account-state refused", "data-state": "refused" }, "Token not accepted")
      : h(
          "span",
          { class: "account-state", "data-state": accepted ? "accepted" : "checking" },
          accepted ? "Signed in" : "",
        );
  fill(account, state, h("button", { type: "button", class: "secondary", onclick: clearToken }, "Sign out"));
}

function renderSignIn(container) {
  document.title = "Sign in · Kilowatch";
  fill(
    container,
    h("h1", { tabindex: "-1" }, "Sign in"),
    h(
      "p",
      {},
      "When access control is on, the API needs a token. Paste yours below, or open a link ending in ",
      h("code", {}, "#token=…"),
      ".",
    ),
    signInForm(),
  );
}

function renderNotFound(container) {
  document.title = "Not found · Kilowatch";
  fill(
    container,
    h("h1", { tabindex: "-1" }, "Page not found"),
    emptyView("There is no page at this address.", h("a", { href: "#/fleet" }, "Go to the fleet overview"), "."),
  );
}
