/** Fleet: every machine × model type with its champion, latest metrics against policy, and open alerts. */

import { fill, h, select } from "../dom.js";
import { MISSING, enumLabel, integer, modelTypeLabel, timeElement } from "../format.js";
import { graphql } from "../graphql.js";
import { modelHref } from "../router.js";
import { emptyView, load } from "../states.js";
import { METRICS, SEVERITY_LEVELS, assessAlerts, levelBadge, metricBadge, metricNotes } from "../thresholds.js";

/**
 * One query per page of the fleet: the server judges every series' health, orders the machines (worst
 * first, or by name), filters them and returns one page with its nested per-series fields, plus the
 * health counts of the whole fleet for the filter's labels.
 */
const FLEET_QUERY = `
  query Fleet($health: [Health!], $nameContains: String, $order: FleetOrder, $offset: Int = 0, $first: Int = 25) {
    fleet(health: $health, nameContains: $nameContains, order: $order, offset: $offset, first: $first) {
      total
      offset
      healthCounts { health machines }
      machines {
        id
        name
        health
        readingsCount
        lastReadingAt
        openAlerts { id severity alertType message }
        models {
          modelType
          champion { version }
          latestPerformance {
            evaluatedAt windowEnd source modelVersion rSquared cvRmse nmbe driftScore
            driftVerdict { severity method meaning }
          }
          openAlerts { id severity }
          policy { maxCvRmse maxAbsNmbe minRSquared psiWarning psiCritical }
        }
      }
    }
  }`;

const PAGE_SIZE = 25;
const HEALTHS = [
  ["CRITICAL", "Critical", "critical"],
  ["WARNING", "Warning", "warning"],
  ["NO_DATA", "No data yet", "none"],
  ["OK", "OK", "ok"],
];
const HEALTH_NOTES = {
  CRITICAL: "a critical alert is open or the latest evaluation is outside policy",
  WARNING: "a warning is open",
  NO_DATA: "no evaluation yet",
  OK: "within policy, no warning open",
};

export function renderFleet(container) {
  document.title = "Fleet · Kilowatch";
  const body = h("section", { "aria-labelledby": "fleet-heading" });
  const refresh = h("button", { type: "button", class: "secondary", onclick: () => reload() }, "Refresh");
  const health = select("fleet-health", "Show", [["", "All machines"], ...HEALTHS.map(([value, label]) => [value, label])]);
  const order = select("fleet-order", "Order", [
    ["WORST_FIRST", "Worst first"],
    ["NAME", "By name"],
  ]);
  const search = h("input", { id: "fleet-search", name: "fleet-search", type: "search", autocomplete: "off" });
  const filters = h(
    "form",
    {
      class: "filters",
      role: "search",
      onchange: () => reload(0),
      onsubmit: (event) => {
        event.preventDefault();
        reload(0);
      },
    },
    health.field,
    order.field,
    h("div", { class: "field" }, h("label", { for: "fleet-search" }, "Machine name"), search),
  );
  fill(
    container,
    h(
      "div",
      { class: "page-heading" },
      h("h1", { id: "fleet-heading", tabindex: "-1" }, "Fleet"),
      h("div", { class: "page-actions" }, refresh),
    ),
    h(
      "p",
      { class: "lead" },
      "Latest evaluation of every model against its series' monitoring policy, machines in most need of attention first. Select a model for its trends, versions, training and drift.",
    ),
    filters,
    body,
  );

  let offset = 0;
  function reload(from = offset) {
    offset = from;
    const variables = {
      health: health.control.value ? [health.control.value] : null,
      nameContains: search.value.trim() || null,
      order: order.control.value,
      offset,
      first: PAGE_SIZE,
    };
    load(
      body,
      "the fleet",
      () => graphql(FLEET_QUERY, variables),
      ({ fleet }) => {
        fillHealthChoices(health.control, fleet.healthCounts);
        return fleetView(fleet, reload);
      },
    );
  }
  reload();
}

/** The filter's choices say how many machines each would show. */
function fillHealthChoices(control, counts) {
  const machines = new Map(counts.map((count) => [count.health, count.machines]));
  const total = counts.reduce((sum, count) => sum + count.machines, 0);
  for (const option of control.options) {
    const [, label] = HEALTHS.find(([value]) => value === option.value) ?? [null, "All machines"];
    option.textContent = `${label} (${integer(option.value ? (machines.get(option.value) ?? 0) : total)})`;
  }
}

function fleetView(fleet, reload) {
  if (fleet.total === 0) {
    const anyMachine = fleet.healthCounts.some((count) => count.machines > 0);
    return anyMachine
      ? emptyView("No machine matches these filters.")
      : emptyView(
          "No machines yet — import readings with ",
          h("code", {}, "kilowatch import FILE --machine NAME"),
          " or run ",
          h("code", {}, "kilowatch demo"),
          ".",
        );
  }
  return h("div", {}, pager(fleet, reload), fleetTable(fleet.machines), pager(fleet, reload));
}

function pager(fleet, reload) {
  const first = fleet.offset + 1;
  const last = fleet.offset + fleet.machines.length;
  return h(
    "nav",
    { class: "toolbar pager", "aria-label": "Fleet pages" },
    h("span", { class: "muted" }, `Machines ${integer(first)}–${integer(last)} of ${integer(fleet.total)}`),
    h(
      "button",
      {
        type: "button",
        class: "secondary",
        disabled: fleet.offset === 0,
        onclick: () => reload(Math.max(0, fleet.offset - PAGE_SIZE)),
      },
      "Previous",
    ),
    h(
      "button",
      { type: "button", class: "secondary", disabled: last >= fleet.total, onclick: () => reload(last) },
      "Next",
    ),
  );
}

function fleetTable(machines) {
  return h(
    "div",
    { class: "table-scroll" },
    h(
      "table",
      { class: "fleet-table" },
      h("caption", { class: "visually-hidden" }, "Models per machine with their latest metrics"),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "col" }, "Machine"),
          h("th", { scope: "col" }, "Model"),
          h("th", { scope: "col" }, "Champion"),
          METRICS.map((metric) => h("th", { scope: "col", class: "number" }, metric.label)),
          h("th", { scope: "col", class: "number" }, "Open alerts"),
          h("th", { scope: "col" }, "Latest data"),
        ),
      ),
      machines.map(machineRows),
    ),
    fleetNotes(machines),
  );
}

/** Explanations the badges need under the policies shown (each once), e.g. why R² is not judged. */
function fleetNotes(machines) {
  const notes = new Set(machines.flatMap((machine) => machine.models.flatMap((series) => metricNotes(series.policy))));
  return [...notes].map((note) => h("p", { class: "muted metric-note" }, note));
}

function machineRows(machine) {
  return h(
    "tbody",
    { "data-machine": machine.name },
    machine.models.map((series, index) =>
      h(
        "tr",
        { "data-model-type": series.modelType },
        index === 0
          ? h(
              "th",
              { scope: "rowgroup", rowspan: machine.models.length, class: "machine-cell" },
              h("span", { class: "machine-name" }, machine.name),
              h("span", { class: "machine-meta", "data-health": machine.health }, healthBadge(machine.health)),
              h("span", { class: "machine-meta" }, `${integer(machine.readingsCount)} readings`),
              machine.lastReadingAt
                ? h("span", { class: "machine-meta" }, "last ", timeElement(machine.lastReadingAt))
                : null,
              readingsAlert(machine.openAlerts),
            )
          : null,
        h("td", {}, h("a", { href: modelHref(machine.id, series.modelType) }, modelTypeLabel(series.modelType))),
        h("td", {}, series.champion ? `v${series.champion.version}` : h("span", { class: "muted" }, "none")),
        METRICS.map((metric) =>
          h(
            "td",
            { class: "number", "data-metric": metric.key },
            metricBadge(metric, series.latestPerformance?.[metric.key], series.policy, series.latestPerformance),
          ),
        ),
        h("td", { class: "number", "data-metric": "openAlerts" }, alertCount(series.openAlerts)),
        h(
          "td",
          {},
          series.latestPerformance
            ? latestText(series.latestPerformance)
            : h("span", { class: "muted" }, MISSING),
        ),
      ),
    ),
  );
}

function healthBadge(health) {
  const [, label, level] = HEALTHS.find(([value]) => value === health) ?? [health, health, "none"];
  return levelBadge(level, label, HEALTH_NOTES[health]);
}

function alertCount(alerts) {
  const { level, note } = assessAlerts(alerts);
  const badge = levelBadge(level, String(alerts.length), note);
  return alerts.length ? h("a", { href: "#/alerts", class: "plain-link" }, badge) : badge;
}

/** An alert about the machine's readings (a silent or stuck meter): once per machine, beside its name. */
function readingsAlert(alerts) {
  if (alerts.length === 0) return null;
  const worst = alerts[0]; // most severe first
  return h(
    "a",
    { href: "#/alerts", class: "plain-link machine-meta", "data-machine-alerts": String(alerts.length) },
    levelBadge(SEVERITY_LEVELS[worst.severity], enumLabel(worst.alertType), worst.message),
  );
}

/** The data the shown numbers describe: up to when, from which source, of which version (the champion's). */
function latestText(latest) {
  const source = latest.source === "TRAINING_VALIDATION" ? "validation" : enumLabel(latest.source).toLowerCase();
  const version = latest.modelVersion ? ` v${latest.modelVersion}` : "";
  return h(
    "span",
    { "data-source": latest.source },
    "data to ",
    timeElement(latest.windowEnd ?? latest.evaluatedAt),
    h("span", { class: "muted" }, ` · ${source}${version}`),
  );
}
