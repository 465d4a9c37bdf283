/** A/B tests: running and finished tests with per-arm samples and errors, the decision method and its result. */

import { fill, h } from "../dom.js";
import { MISSING, decimal, enumLabel, integer, modelTypeLabel, timeElement } from "../format.js";
import { graphql } from "../graphql.js";
import { modelHref } from "../router.js";
import { emptyView, load } from "../states.js";
import { levelBadge } from "../thresholds.js";

const TESTS = `
  query AbTests {
    machines { id name }
    abTests {
      id machineId modelType trafficSplit status startedAt endsAt minSamples significance
      modelA { id version stage }
      modelB { id version stage }
      results { samplesA samplesB maeA maeB rmseA rmseB method pValue decided winner sampleRatioMismatch }
    }
  }`;

/** The API names each statistical method by an identifier; people read its name. */
const METHODS = {
  welch_t_test: "Welch's t-test on absolute errors",
  mann_whitney_u: "Mann–Whitney U test on absolute errors",
  asymptotic_confidence_sequence: "Asymptotic confidence sequence (anytime-valid)",
  diebold_mariano_hln: "Diebold–Mariano test (Harvey–Leybourne–Newbold correction)",
  wilcoxon_signed_rank: "Wilcoxon signed-rank test",
};

export function methodLabel(method) {
  return METHODS[method] ?? enumLabel(method);
}

export function renderAbTests(container) {
  document.title = "A/B tests · Kilowatch";
  const body = h("div", {});
  const refresh = h("button", { type: "button", class: "secondary", onclick: reload }, "Refresh");
  fill(
    container,
    h(
      "div",
      { class: "page-heading" },
      h("h1", { tabindex: "-1" }, "A/B tests"),
      h("div", { class: "page-actions" }, refresh),
    ),
    h(
      "p",
      { class: "lead" },
      "Two versions of a model serve side by side; their errors against actual readings decide which is better.",
    ),
    body,
  );

  function reload() {
    load(body, "A/B tests", () => graphql(TESTS), testSections);
  }
  reload();
}

function testSections({ machines, abTests }) {
  if (abTests.length === 0) {
    return emptyView(
      "No A/B tests yet — once a model has a champion and a newer candidate, start one with the ",
      h("code", {}, "startAbTest"),
      " mutation.",
    );
  }
  const names = new Map(machines.map((machine) => [machine.id, machine.name]));
  const running = abTests.filter((test) => test.status === "RUNNING");
  const finished = abTests.filter((test) => test.status !== "RUNNING");
  return [
    h(
      "section",
      { "aria-labelledby": "running-tests" },
      h("h2", { id: "running-tests" }, `Running (${running.length})`),
      running.length ? running.map((test) => testCard(test, names)) : emptyView("No test is running."),
    ),
    h(
      "section",
      { "aria-labelledby": "finished-tests" },
      h("h2", { id: "finished-tests" }, `Finished (${finished.length})`),
      finished.length ? finished.map((test) => testCard(test, names)) : emptyView("No test has finished yet."),
    ),
  ];
}

function testCard(test, names) {
  const { results } = test;
  const split = Math.round(test.trafficSplit * 100);
  return h(
    "article",
    { class: "panel ab-test", "data-test-id": test.id, "data-status": test.status },
    h(
      "h3",
      {},
      h(
        "a",
        { href: modelHref(test.machineId, test.modelType) },
        `${names.get(test.machineId) ?? test.machineId} · ${modelTypeLabel(test.modelType)}`,
      ),
      ` — v${test.modelA.version} (A) vs v${test.modelB.version} (B)`,
    ),
    h(
      "p",
      { class: "muted" },
      `${enumLabel(test.status)} · traffic ${100 - split} % A / ${split} % B · started `,
      timeElement(test.startedAt),
      test.status === "RUNNING" ? " · ends " : " · planned end ",
      timeElement(test.endsAt),
      ` · at least ${integer(test.minSamples)} samples per arm · α = ${test.significance}`,
    ),
    h("div", { class: "table-scroll" }, armsTable(test)),
    decisionView(test),
    results.sampleRatioMismatch
      ? h(
          "p",
          { class: "state state-error" },
          "Sample ratio mismatch: the arms' sample counts do not fit the traffic split, so routing may be biased and the result should not be trusted.",
        )
      : null,
  );
}

function armsTable(test) {
  const { results } = test;
  const arms = [
    { arm: "A", version: test.modelA, samples: results.samplesA, mae: results.maeA, rmse: results.rmseA },
    { arm: "B", version: test.modelB, samples: results.samplesB, mae: results.maeB, rmse: results.rmseB },
  ];
  return h(
    "table",
    { class: "arms-table" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ["Arm", "Version", "Samples", "MAE (kWh)", "RMSE (kWh)"].map((label, index) =>
          h("th", { scope: "col", class: index > 1 ? "number" : null }, label),
        ),
      ),
    ),
    h(
      "tbody",
      {},
      arms.map((row) =>
        h(
          "tr",
          { class: results.winner === row.arm ? "winner" : null },
          h(
            "th",
            { scope: "row" },
            row.arm,
            results.winner === row.arm ? h("span", { class: "winner-mark" }, " ★ winner") : null,
          ),
          h("td", {}, `v${row.version.version} (${enumLabel(row.version.stage)})`),
          h(
            "td",
            { class: "number" },
            `${integer(row.samples)}`,
            row.samples < test.minSamples ? h("span", { class: "muted" }, ` of ${integer(test.minSamples)}`) : null,
          ),
          h("td", { class: "number" }, decimal(row.mae, 3)),
          h("td", { class: "number" }, decimal(row.rmse, 3)),
        ),
      ),
    ),
  );
}

function decisionView(test) {
  const { results } = test;
  let verdict;
  if (!results.decided)
    verdict = levelBadge("info", test.status === "RUNNING" ? "Undecided — collecting samples" : "Ended undecided");
  else if (results.winner)
    verdict = levelBadge("ok", `Version ${results.winner} wins`, `significant at α = ${test.significance}`);
  else verdict = levelBadge("none", "No significant difference");
  return h(
    "dl",
    { class: "facts decision" },
    h("div", { class: "fact" }, h("dt", {}, "Decision"), h("dd", {}, verdict)),
    h("div", { class: "fact" }, h("dt", {}, "Method"), h("dd", { "data-method": results.method }, methodLabel(results.method))),
    h("div", { class: "fact" }, h("dt", {}, "p-value"), h("dd", {}, pValueText(results.pValue, test.significance))),
  );
}

/** The p-value with what it means; 1 − p is no probability that a version is better, so it is not shown. */
function pValueText(pValue, significance) {
  if (pValue === null) return "not yet computed (too few samples)";
  return [
    h("strong", {}, pValue < 0.0001 ? "< 0.0001" : decimal(pValue, 4)),
    h(
      "span",
      { class: "muted" },
      ` — how likely errors this different would be if both versions were equally accurate; a difference counts as significant below α = ${significance}.`,
    ),
  ];
}
