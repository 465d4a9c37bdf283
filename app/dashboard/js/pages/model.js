/**
 * One model series (machine + model type): summary against policy, trend charts, the machine's
 * savings and interventions, training with live progress, versions with promote/rollback, champion
 * history, drift reports and open alerts.
 *
 * The series query runs first; only when it succeeds are the other sections drawn, so a missing
 * machine or a sign-in problem is reported once, not once per section.
 */

import { fill, h } from "../dom.js";
import { MODEL_TYPES, enumLabel, integer, modelTypeLabel, percent, timeElement } from "../format.js";
import { graphql } from "../graphql.js";
import { emptyView, errorView, loadingView } from "../states.js";
import { METRICS, SEVERITY_LEVELS, levelBadge, metricBadge, metricNotes } from "../thresholds.js";
import { createDriftSection } from "./model-drift.js";
import { HISTORY_FIELDS, historyView } from "./model-history.js";
import { JOB_FIELDS, createTrainingPanel } from "./model-jobs.js";
import { createSavingsPanel } from "./model-savings.js";
import { createTrendSection } from "./model-trend.js";
import { VERSION_FIELDS, versionsView } from "./model-versions.js";

const SERIES = `
  query ModelPage($machineId: UUID!, $modelType: ModelType!) {
    modelSeries(machineId: $machineId, modelType: $modelType) {
      machine {
        id name readingsCount firstReadingAt lastReadingAt
        openAlerts { id severity alertType status message createdAt }
      }
      champion { id version }
      latestPerformance {
        evaluatedAt source sampleCount modelVersion rSquared cvRmse nmbe mape driftScore
        driftVerdict { severity method meaning }
      }
      policy { maxCvRmse maxAbsNmbe minRSquared psiWarning psiCritical autoRetrain retrainCooldownHours isDefault }
      versions { ${VERSION_FIELDS} }
      championHistory { ${HISTORY_FIELDS} }
      trainingJobs { ${JOB_FIELDS} }
      openAlerts { id severity alertType status message createdAt }
      activeAbTest { id modelA { version } modelB { version } }
    }
  }`;

export function renderModel(container, { machineId, modelType }) {
  const heading = h("h1", { id: "model-heading", tabindex: "-1" }, modelTypeLabel(modelType));
  document.title = `${modelTypeLabel(modelType)} · Kilowatch`;
  if (!MODEL_TYPES.includes(modelType)) {
    fill(
      container,
      heading,
      emptyView(`Unknown model type ${modelType}.`, h("a", { href: "#/fleet" }, "Back to the fleet"), "."),
    );
    return null;
  }
  const crumb = h("span", {}, "…");
  const summary = h("div", { class: "summary" });
  const sections = h("div", { class: "model-sections" });
  const refresh = h("button", { type: "button", class: "secondary", onclick: () => reloadAll() }, "Refresh");
  const refreshing = h("div", { class: "refreshing" });
  fill(
    container,
    h("nav", { class: "breadcrumb", "aria-label": "Breadcrumb" }, h("a", { href: "#/fleet" }, "Fleet"), " › ", crumb),
    h("div", { class: "page-heading" }, heading, h("div", { class: "page-actions" }, refreshing, refresh)),
    summary,
    sections,
  );

  const key = { machineId, modelType };
  const versionsBody = h("div", {});
  const versionsFeedback = h("div", { class: "feedback", "aria-live": "polite" });
  const historyBody = h("div", {});
  const alertsBody = h("div", {});
  let training = null;
  let trend = null;
  let drift = null;
  let savings = null;
  let disposed = false;

  async function loadSeries() {
    summary.setAttribute("aria-busy", "true");
    fill(training ? refreshing : summary, loadingView(training ? "the latest state" : "the model"));
    let series = null;
    let failure = null;
    try {
      series = (await graphql(SERIES, key)).modelSeries;
    } catch (error) {
      failure = error;
    }
    summary.removeAttribute("aria-busy");
    fill(refreshing);
    if (disposed) return;
    if (failure) {
      fill(summary, errorView(failure, { retry: loadSeries }));
    } else if (series) {
      drawSeries(series);
    } else {
      fill(crumb, "unknown machine");
      fill(
        summary,
        emptyView(
          "No machine with this id — it may have been removed.",
          h("a", { href: "#/fleet" }, "Back to the fleet"),
          ".",
        ),
      );
    }
  }

  function drawSeries(series) {
    fill(crumb, series.machine.name);
    fill(heading, `${series.machine.name} · ${modelTypeLabel(modelType)}`);
    document.title = `${series.machine.name} ${modelTypeLabel(modelType)} · Kilowatch`;
    fill(summary, summaryView(series));
    fill(versionsBody, versionsView(series, versionsFeedback, reloadAll));
    fill(historyBody, historyView(series.championHistory));
    fill(alertsBody, alertsView(series.openAlerts, series.machine.openAlerts));
    if (!training) drawSections();
    training.setJobs(series.trainingJobs);
  }

  function drawSections() {
    training = createTrainingPanel({ ...key, onJobFinished: reloadAll });
    trend = createTrendSection(key);
    drift = createDriftSection(key);
    savings = createSavingsPanel({ ...key, onRecorded: () => trend?.reload() });
    fill(
      sections,
      section("Performance trend", trend.element),
      section("Savings", savings.element),
      section("Training", training.element),
      section("Versions", versionsFeedback, versionsBody),
      section("Champion history", historyBody),
      section("Drift reports", drift.element),
      section("Open alerts", alertsBody),
    );
  }

  function reloadAll() {
    loadSeries();
    trend?.reload();
    drift?.reload();
    savings?.reload();
  }

  loadSeries();
  return () => {
    disposed = true;
    training?.dispose();
  };
}

function section(title, ...content) {
  const slug = title.toLowerCase().replaceAll(" ", "-");
  return h(
    "section",
    { class: "panel", "aria-labelledby": `section-${slug}`, "data-section": slug },
    h("h2", { id: `section-${slug}` }, title),
    ...content,
  );
}

function summaryView(series) {
  const latest = series.latestPerformance;
  return h(
    "div",
    { class: "summary-grid" },
    h(
      "dl",
      { class: "facts" },
      fact("Champion", series.champion ? `v${series.champion.version}` : "none yet"),
      fact("Readings", `${integer(series.machine.readingsCount)}`),
      fact("Data from", timeElement(series.machine.firstReadingAt)),
      fact("Data to", timeElement(series.machine.lastReadingAt)),
      series.activeAbTest
        ? fact(
            "A/B test",
            h(
              "a",
              { href: "#/abtests" },
              `v${series.activeAbTest.modelA.version} vs v${series.activeAbTest.modelB.version} running`,
            ),
          )
        : null,
    ),
    h(
      "div",
      { class: "latest-metrics" },
      h(
        "dl",
        { class: "facts" },
        METRICS.map((metric) => fact(metric.label, metricBadge(metric, latest?.[metric.key], series.policy, latest))),
        fact(
          "Evaluated",
          latest
            ? [
                timeElement(latest.evaluatedAt),
                h("span", { class: "muted" }, ` (${enumLabel(latest.source)}, ${integer(latest.sampleCount)} samples)`),
              ]
            : "never",
        ),
      ),
      metricNotes(series.policy).map((note) => h("p", { class: "muted metric-note" }, note)),
    ),
    policyView(series.policy),
  );
}

function policyView(policy) {
  return h(
    "div",
    { class: "policy" },
    h("h2", { class: "small-heading" }, policy.isDefault ? "Policy (defaults)" : "Policy"),
    h(
      "dl",
      { class: "facts" },
      fact("Max CV(RMSE)", percent(policy.maxCvRmse, 0)),
      fact("Max |NMBE|", percent(policy.maxAbsNmbe, 0)),
      fact("Min R²", policy.minRSquared ?? "none"),
      fact("PSI of a material / large change", `${policy.psiWarning} / ${policy.psiCritical}`),
      fact("Auto-retrain", policy.autoRetrain ? `on (cooldown ${policy.retrainCooldownHours} h)` : "off"),
    ),
  );
}

function fact(term, ...description) {
  return h("div", { class: "fact" }, h("dt", {}, term), h("dd", {}, ...description));
}

/** The model's alerts, and the machine's own (its readings), which concern every model of the machine. */
function alertsView(alerts, machineAlerts) {
  if (alerts.length === 0 && machineAlerts.length === 0) return emptyView("No open alerts for this model.");
  const item = (alert, scope) =>
    h(
      "li",
      { "data-alert-scope": scope },
      levelBadge(SEVERITY_LEVELS[alert.severity], enumLabel(alert.severity)),
      ` ${enumLabel(alert.alertType)}${scope === "machine" ? " of the machine's readings" : ""} · ${enumLabel(alert.status)} · `,
      alert.message,
      " · ",
      timeElement(alert.createdAt),
    );
  return [
    h(
      "ul",
      { class: "compact-list" },
      machineAlerts.map((alert) => item(alert, "machine")),
      alerts.map((alert) => item(alert, "model")),
    ),
    h("p", {}, h("a", { href: "#/alerts" }, "Acknowledge or resolve them on the Alerts page")),
  ];
}
