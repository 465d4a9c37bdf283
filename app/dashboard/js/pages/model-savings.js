/**
 * Savings of the machine: its interventions, the avoided energy since the chosen one against the
 * baseline frozen before it (totals with their interval, cumulative curve with its band), and a form
 * to record a new intervention. Everything shown names the frozen baseline version it rests on.
 */

import { fill, h } from "../dom.js";
import { MISSING, enumLabel, integer, isNumber, percent, timeElement } from "../format.js";
import { bandChart } from "../chart.js";
import { graphql } from "../graphql.js";
import { emptyView, load, runAction } from "../states.js";
import { levelBadge } from "../thresholds.js";

const INTERVENTIONS = `
  query Interventions($machineId: UUID!) {
    machine(id: $machineId) {
      interventions { id at kind description baselineVersionId baselineJobId createdBy baselineVersion { version } }
    }
  }`;

const SAVINGS = `
  query Savings($machineId: UUID!, $interventionId: UUID, $confidence: Float) {
    savings(machineId: $machineId, interventionId: $interventionId, confidence: $confidence) {
      periodStart periodEnd sampleCount observedKwh expectedKwh savingsKwh savingsFraction confidence
      uncertaintyKwh significant excludedBaselineAnomalies excludedReportingAnomalies unpredictableReadings
      baselineCvRmse baselineAutocorrelation method
      baselineVersion { version trainedFrom trainedTo }
      cumulative(maxPoints: 300) { at cumulativeSavingsKwh lower upper }
    }
  }`;

const RECORD = `
  mutation RecordIntervention($input: InterventionInput!) {
    recordIntervention(input: $input) { id baselineVersionId baselineJobId }
  }`;

const KINDS = ["EFFICIENCY_MEASURE", "EQUIPMENT_CHANGE", "OPERATIONAL_CHANGE", "NON_ROUTINE_EVENT"];
const CONFIDENCES = [0.68, 0.9, 0.95];
const kwhFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const compactFormat = new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 1 });

export function kwh(value) {
  return isNumber(value) ? `${kwhFormat.format(value)} kWh` : MISSING;
}

export function createSavingsPanel({ machineId, modelType, onRecorded }) {
  const list = h("div", {});
  const report = h("div", { class: "savings-report", "aria-live": "polite" });
  const choiceId = `savings-intervention-${modelType}`;
  const confidenceId = `savings-confidence-${modelType}`;
  const choice = h("select", { id: choiceId, onchange: reloadReport });
  const confidence = h(
    "select",
    { id: confidenceId, onchange: reloadReport },
    CONFIDENCES.map((value) => h("option", { value, selected: value === 0.9 }, percent(value, 0))),
  );
  const toolbar = h(
    "div",
    { class: "toolbar" },
    h("label", { for: choiceId }, "Intervention"),
    choice,
    h("label", { for: confidenceId }, "Confidence"),
    confidence,
  );
  const recorded = () => {
    reload();
    onRecorded?.();
  };
  const element = h("div", {}, toolbar, report, list, recordForm(machineId, modelType, recorded));
  let interventions = [];

  function reload() {
    load(
      list,
      "the interventions",
      () => graphql(INTERVENTIONS, { machineId }),
      (data) => {
        interventions = data.machine?.interventions ?? [];
        const selected = choice.value;
        fill(
          choice,
          interventions.map((item) =>
            h("option", { value: item.id, selected: item.id === selected }, `${enumLabel(item.kind)} · ${item.at.slice(0, 10)}`),
          ),
        );
        toolbar.hidden = interventions.length === 0;
        reloadReport();
        return interventionsView(interventions);
      },
    );
  }

  function reloadReport() {
    if (interventions.length === 0) {
      fill(report, emptyView("No interventions recorded — record one below to measure its savings."));
      return;
    }
    const variables = { machineId, interventionId: choice.value || null, confidence: Number(confidence.value) };
    load(report, "the savings", () => graphql(SAVINGS, variables), (data) => savingsView(data.savings));
  }

  reload();
  return { element, reload };
}

function savingsView(savings) {
  const level = savings.significant ? "ok" : "none";
  const verdict = savings.significant ? "significant" : "not significant";
  const confidence = percent(savings.confidence, 0);
  const latestText = `${kwh(savings.savingsKwh)} ± ${kwh(savings.uncertaintyKwh)} at ${confidence}`;
  const version = savings.baselineVersion;
  return [
    h(
      "p",
      { class: "savings-totals", "data-savings": "totals" },
      h("strong", {}, `Saved ${kwh(savings.savingsKwh)} ± ${kwh(savings.uncertaintyKwh)}`),
      ` (${percent(savings.savingsFraction)} ± ${percent(savings.uncertaintyKwh / savings.expectedKwh)}) at ${confidence} confidence `,
      levelBadge(level, verdict),
    ),
    h(
      "dl",
      { class: "facts" },
      fact("Expected (frozen baseline)", kwh(savings.expectedKwh)),
      fact("Observed", kwh(savings.observedKwh)),
      fact("Reporting period", timeElement(savings.periodStart), " – ", timeElement(savings.periodEnd)),
      fact("Readings", integer(savings.sampleCount)),
      fact(
        "Frozen baseline",
        h("span", { "data-baseline-version": version.version }, `v${version.version}`),
        h("span", { class: "muted" }, " trained on "),
        timeElement(version.trainedFrom),
        " – ",
        timeElement(version.trainedTo),
      ),
      fact("Baseline CV(RMSE), ρ", `${percent(savings.baselineCvRmse)}, ${savings.baselineAutocorrelation.toFixed(2)}`),
      fact(
        "Left out",
        `${integer(savings.excludedBaselineAnomalies)} baseline and ${integer(savings.excludedReportingAnomalies)} ` +
          `reporting anomalies, ${integer(savings.unpredictableReadings)} readings missing a driver`,
      ),
    ),
    savings.cumulative.length > 1
      ? h(
          "div",
          { class: "savings-chart" },
          bandChart({
            title: "Cumulative savings",
            points: savings.cumulative.map((point) => ({ ...point, value: point.cumulativeSavingsKwh })),
            format: kwh,
            tickFormat: (value) => `${compactFormat.format(value)} kWh`,
            latestText,
          }),
        )
      : null,
    h("p", { class: "muted" }, savings.method),
  ];
}

function interventionsView(interventions) {
  if (interventions.length === 0) return null;
  return h(
    "table",
    { "data-list": "interventions" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ["At", "Kind", "Description", "Frozen baseline", "By"].map((name) => h("th", { scope: "col" }, name)),
      ),
    ),
    h(
      "tbody",
      {},
      interventions.map((item) =>
        h(
          "tr",
          {},
          h("td", {}, timeElement(item.at)),
          h("td", {}, enumLabel(item.kind)),
          h("td", {}, item.description),
          h("td", {}, baselineText(item)),
          h("td", {}, item.createdBy ?? MISSING),
        ),
      ),
    ),
  );
}

function baselineText(item) {
  if (item.baselineVersion) return `v${item.baselineVersion.version}`;
  if (item.baselineJobId) return "training on the data before it…";
  return "none (too little data before it)";
}

function recordForm(machineId, modelType, onDone) {
  const ids = Object.fromEntries(["at", "kind", "description"].map((name) => [name, `intervention-${name}-${modelType}`]));
  const at = h("input", { id: ids.at, name: "at", type: "datetime-local", required: true });
  const kind = h(
    "select",
    { id: ids.kind, name: "kind" },
    KINDS.map((value) => h("option", { value }, enumLabel(value))),
  );
  const description = h("input", {
    id: ids.description,
    name: "description",
    type: "text",
    required: true,
    maxlength: 2000,
    placeholder: "e.g. LED retrofit in hall 2",
  });
  const submit = h("button", { type: "submit" }, "Record intervention");
  const feedback = h("div", { class: "feedback", "aria-live": "polite" });
  function record(event) {
    event.preventDefault();
    const input = {
      machineId,
      at: `${at.value}:00Z`,
      kind: kind.value,
      description: description.value.trim(),
    };
    runAction(submit, feedback, () => graphql(RECORD, { input }), ({ recordIntervention: result }) => {
      description.value = "";
      onDone();
      return result.baselineVersionId
        ? "Intervention recorded; the baseline champion is frozen for its savings."
        : result.baselineJobId
          ? "Intervention recorded; a baseline is being fitted on the data before it."
          : "Intervention recorded; there is too little data before it to fit a baseline.";
    });
  }
  return h(
    "form",
    { class: "inline-form", onsubmit: record, "aria-label": "Record an intervention" },
    h("label", { for: ids.at }, "At (UTC)"),
    at,
    h("label", { for: ids.kind }, "Kind"),
    kind,
    h("label", { for: ids.description }, "Description"),
    description,
    submit,
    feedback,
  );
}

function fact(term, ...description) {
  return h("div", { class: "fact" }, h("dt", {}, term), h("dd", {}, ...description));
}
