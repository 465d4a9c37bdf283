/** Fleet: every machine × model type with its champion, latest metrics against policy, and open alerts. */

import { fill, h } from "../dom.js";
import { MISSING, enumLabel, integer, modelTypeLabel, timeElement } from "../format.js";
import { graphql } from "../graphql.js";
import { modelHref } from "../router.js";
import { emptyView, load } from "../states.js";
import { METRICS, SEVERITY_LEVELS, assessAlerts, levelBadge, metricBadge, metricNotes } from "../thresholds.js";

/** One query for the whole fleet; the server batches the nested per-series fields. */
const FLEET_QUERY = `
  query Fleet {
    machines {
      id
      name
      readingsCount
      lastReadingAt
      openAlerts { id severity alertType message }
      models {
        modelType
        champion { id version }
        latestPerformance {
          evaluatedAt windowEnd source modelVersion sampleCount rSquared cvRmse nmbe driftScore
          driftVerdict { severity method meaning }
        }
        openAlerts { id severity }
        policy { maxCvRmse maxAbsNmbe minRSquared psiWarning psiCritical }
      }
    }
  }`;

export function renderFleet(container) {
  document.title = "Fleet · Kilowatch";
  const body = h("section", { "aria-labelledby": "fleet-heading" });
  const refresh = h("button", { type: "button", class: "secondary", onclick: reload }, "Refresh");
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
      "Latest evaluation of every model against its series' monitoring policy. Select a model for its trends, versions, training and drift.",
    ),
    body,
  );

  function reload() {
    load(
      body,
      "the fleet",
      () => graphql(FLEET_QUERY),
      (data) => fleetTable(data.machines),
    );
  }
  reload();
}

function fleetTable(machines) {
  if (machines.length === 0) {
    return emptyView(
      "No machines yet — import readings with ",
      h("code", {}, "kilowatch import FILE --machine NAME"),
      " or run ",
      h("code", {}, "kilowatch demo"),
      ".",
    );
  }
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
