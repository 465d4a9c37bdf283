/** Drift reports of one series: per-feature data-drift results and the concept-drift check. */

import { h } from "../dom.js";
import { MISSING, dateTimeText, decimal, integer, percent, timeElement } from "../format.js";
import { graphql } from "../graphql.js";
import { emptyView, load, runAction } from "../states.js";
import { driftVerdictBadge, levelBadge } from "../thresholds.js";

const REPORTS_LIMIT = 10;

const REPORTS = `
  query DriftReports($machineId: UUID!, $modelType: ModelType!, $limit: Int!) {
    driftReports(machineId: $machineId, modelType: $modelType, limit: $limit) {
      id checkedAt windowStart windowEnd sampleCount driftDetected driftScore
      verdict { severity method meaning }
      features { feature method statistic pValue threshold drifted severity reference impact explanation }
      concept { detected metric reference current relativeChange }
    }
  }`;

const CHECK = `
  mutation CheckDrift($machineId: UUID!, $modelType: ModelType!) {
    checkDrift(machineId: $machineId, modelType: $modelType) { id driftDetected driftScore }
  }`;

export function createDriftSection({ machineId, modelType }) {
  const reports = h("div", {});
  const feedback = h("div", { class: "feedback", "aria-live": "polite" });
  const check = h("button", { type: "button", class: "secondary", onclick: checkNow }, "Check drift now");
  const element = h("div", {}, h("div", { class: "toolbar" }, check), feedback, reports);

  function reload() {
    const variables = { machineId, modelType, limit: REPORTS_LIMIT };
    load(
      reports,
      "drift reports",
      () => graphql(REPORTS, variables),
      (data) => reportList(data),
    );
  }

  function checkNow() {
    runAction(
      check,
      feedback,
      () => graphql(CHECK, { machineId, modelType }),
      ({ checkDrift: report }) => {
        reload();
        return report.driftDetected ? "Drift detected — see the newest report below." : "Checked: no drift detected.";
      },
    );
  }

  reload();
  return { element, reload };
}

function reportList({ driftReports }) {
  if (driftReports.length === 0) {
    return emptyView(
      "No drift reports yet — checks run on a schedule once the model has a champion, or use Check drift now.",
    );
  }
  return h(
    "div",
    { class: "report-list" },
    driftReports.map((report, index) => reportView(report, index === 0)),
  );
}

function reportView(report, open) {
  return h(
    "details",
    { class: "drift-report", open, "data-report-id": report.id },
    h(
      "summary",
      {},
      h("span", {}, `Data ${dateTimeText(report.windowStart)} – ${dateTimeText(report.windowEnd)}`),
      " · ",
      driftVerdictBadge(report.verdict, report.driftScore),
      h("span", { class: "muted" }, ` · ${integer(report.sampleCount)} samples`),
    ),
    h(
      "p",
      { class: "muted" },
      "Checked ",
      timeElement(report.checkedAt),
      ". The verdict is the one the alerts use: a DRIFT alert from warning on. PSI, beside it, is the largest",
      " population stability index of an input against the same weeks of training (or all of training when those",
      " weeks were not covered) — a trend indicator: a change the model has seen, or that barely moves its",
      " predictions, is information only however large its PSI.",
    ),
    featureTable(report.features),
    conceptView(report.concept),
  );
}

const SEVERITY_BADGES = {
  critical: ["critical", "critical"],
  warning: ["warning", "warning"],
  info: ["info", "info only"],
  none: ["ok", "no change"],
};

function featureTable(features) {
  if (features.length === 0) return h("p", { class: "muted" }, "No per-feature results in this report.");
  return h(
    "div",
    { class: "table-scroll" },
    h(
      "table",
      { class: "feature-table" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "col" }, "Feature"),
          h("th", { scope: "col" }, "Method"),
          h("th", { scope: "col", class: "number" }, "Statistic"),
          h("th", { scope: "col", class: "number" }, "Threshold"),
          h("th", { scope: "col", class: "number" }, "p-value"),
          h("th", { scope: "col" }, "Verdict"),
          h("th", { scope: "col" }, "Why"),
        ),
      ),
      h(
        "tbody",
        {},
        features.map((result) =>
          h(
            "tr",
            {},
            h("th", { scope: "row" }, result.feature),
            h("td", {}, result.method),
            h("td", { class: "number" }, decimal(result.statistic, 4)),
            h("td", { class: "number" }, decimal(result.threshold, 4)),
            h("td", { class: "number" }, decimal(result.pValue, 4)),
            h("td", {}, levelBadge(...(SEVERITY_BADGES[result.severity] ?? SEVERITY_BADGES.none))),
            h("td", { class: "explanation" }, result.explanation ?? ""),
          ),
        ),
      ),
    ),
  );
}

function conceptView(concept) {
  return h(
    "p",
    { class: "concept" },
    h("strong", {}, "Concept drift: "),
    concept.detected
      ? levelBadge("critical", "detected", "the model's errors moved beyond policy")
      : levelBadge("ok", "not detected"),
    ` — ${concept.metric} `,
    concept.reference === null ? MISSING : decimal(concept.reference, 4),
    " at training → ",
    concept.current === null ? MISSING : decimal(concept.current, 4),
    " now",
    concept.relativeChange === null
      ? ""
      : ` (${concept.relativeChange >= 0 ? "+" : ""}${percent(concept.relativeChange)})`,
  );
}
