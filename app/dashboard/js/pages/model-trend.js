/**
 * Performance trend of one series on data time: one chart per metric, each point at the end of the
 * data window it describes and shaped by its source, with the limits the alerts use drawn in and the
 * machine's interventions marked.
 */

import { trendChart } from "../chart.js";
import { h } from "../dom.js";
import { isNumber } from "../format.js";
import { graphql } from "../graphql.js";
import { emptyView, load } from "../states.js";
import { METRICS } from "../thresholds.js";

const TREND = `
  query Trend($machineId: UUID!, $modelType: ModelType!, $days: Int!) {
    modelSeries(machineId: $machineId, modelType: $modelType) {
      machine { interventions { id at kind description } }
      policy { maxCvRmse maxAbsNmbe minRSquared psiWarning psiCritical cvRmseRelativeIncrease }
      champion { version validationMetrics { cvRmse } }
      performanceTrend(days: $days) {
        source modelVersion windowEnd evaluatedAt sampleCount rSquared cvRmse nmbe driftScore
        driftVerdict { severity meaning }
      }
    }
  }`;

const PERIODS = [7, 30, 90, 365];
const DEFAULT_DAYS = 30;

export function createTrendSection({ machineId, modelType }) {
  const charts = h("div", {});
  const selectId = `trend-days-${modelType}`;
  const period = h(
    "select",
    { id: selectId, onchange: reload },
    PERIODS.map((days) => h("option", { value: days, selected: days === DEFAULT_DAYS }, `Last ${days} days`)),
  );
  const element = h("div", {}, h("div", { class: "toolbar" }, h("label", { for: selectId }, "Period"), period), charts);

  function reload() {
    const variables = { machineId, modelType, days: Number(period.value) };
    load(
      charts,
      "the performance trend",
      () => graphql(TREND, variables),
      (data) => trendCharts(data.modelSeries, variables.days),
    );
  }
  reload();
  return { element, reload };
}

function trendCharts(series, days) {
  if (!series) return emptyView("This machine no longer exists.");
  const measured = METRICS.map((metric) => ({ metric, points: pointsOf(series, metric) })).filter(
    ({ points }) => points.length,
  );
  if (measured.length === 0) {
    return emptyView(
      `No evaluations in the last ${days} days — retrain this model, record external evaluations with the `,
      h("code", {}, "recordMetrics"),
      " mutation, or choose a longer period.",
    );
  }
  return h(
    "div",
    { class: "chart-grid" },
    measured.map(({ metric, points }) =>
      trendChart({
        title: metric.label,
        points,
        thresholds: metric.lines(series.policy, series.champion),
        format: metric.format,
        upperBound: metric.upperBound,
        markers: series.machine.interventions.filter((item) => Date.parse(item.at) >= Date.now() - days * 86_400_000),
      }),
    ),
  );
}

function pointsOf(series, metric) {
  return series.performanceTrend
    .filter((evaluation) => isNumber(evaluation[metric.key]))
    .map((evaluation) => {
      const value = evaluation[metric.key];
      return {
        at: evaluation.windowEnd ?? evaluation.evaluatedAt,
        value,
        level: metric.assess(value, series.policy, evaluation).level,
        source: evaluation.source,
        version: evaluation.modelVersion,
      };
    });
}
