/**
 * The metrics shown against a series' monitoring policy, and how each value is judged.
 *
 * Levels: "ok" (within policy), "warning" (between the drift warning and critical thresholds),
 * "critical" (outside policy), "none" (no value, or the policy sets no threshold for it). The level is
 * always rendered with a symbol and the value itself, never with colour alone.
 */

import { h, screenReaderText } from "./dom.js";
import { decimal, isNumber, percent } from "./format.js";

const LEVEL_SYMBOLS = { ok: "✓", warning: "▲", critical: "✕", info: "ℹ", none: "" };
const LEVEL_WORDS = {
  ok: "within policy",
  warning: "warning",
  critical: "outside policy",
  info: "information",
  none: "no threshold",
};

/**
 * Each metric: how to format it, judge it, which threshold lines its trend chart draws, and the
 * largest value it can take (the chart's axis never runs past it).
 */
export const METRICS = [
  {
    key: "rSquared",
    label: "R²",
    upperBound: 1,
    format: (value) => decimal(value, 3),
    assess(value, policy) {
      if (!isNumber(value) || !isNumber(policy.minRSquared)) return { level: "none" };
      const limit = decimal(policy.minRSquared, 2);
      return value < policy.minRSquared
        ? { level: "critical", note: `below the minimum ${limit}` }
        : { level: "ok", note: `at or above the minimum ${limit}` };
    },
    lines: (policy) =>
      isNumber(policy.minRSquared) ? [{ value: policy.minRSquared, level: "critical", label: "min" }] : [],
  },
  {
    key: "cvRmse",
    label: "CV(RMSE)",
    format: (value) => percent(value),
    assess(value, policy) {
      if (!isNumber(value)) return { level: "none" };
      const limit = percent(policy.maxCvRmse, 0);
      return value > policy.maxCvRmse
        ? { level: "critical", note: `above the ${limit} limit` }
        : { level: "ok", note: `within the ${limit} limit` };
    },
    lines: (policy, champion) => {
      const lines = [{ value: policy.maxCvRmse, level: "critical", label: "max" }];
      const validation = champion?.validationMetrics?.cvRmse;
      if (isNumber(validation) && isNumber(policy.cvRmseRelativeIncrease)) {
        const value = validation * (1 + policy.cvRmseRelativeIncrease);
        lines.push({ value, level: "warning", label: `${decimal(1 + policy.cvRmseRelativeIncrease, 2)}× v${champion.version}` });
      }
      return lines;
    },
  },
  {
    key: "nmbe",
    label: "NMBE",
    format: (value) => percent(value),
    assess(value, policy) {
      if (!isNumber(value)) return { level: "none" };
      const limit = `±${percent(policy.maxAbsNmbe, 0)}`;
      return Math.abs(value) > policy.maxAbsNmbe
        ? { level: "critical", note: `outside the ${limit} band` }
        : { level: "ok", note: `within the ${limit} band` };
    },
    lines: (policy) => [
      { value: policy.maxAbsNmbe, level: "critical", label: "max" },
      { value: -policy.maxAbsNmbe, level: "critical", label: "min" },
    ],
  },
  {
    key: "driftScore",
    label: "Drift score",
    format: (value) => decimal(value, 3),
    assess: assessDriftScore,
    lines: (policy) => [
      { value: policy.psiWarning, level: "warning", label: "warning" },
      { value: policy.psiCritical, level: "critical", label: "critical" },
    ],
  },
];

export function assessDriftScore(value, policy) {
  if (!isNumber(value)) return { level: "none" };
  if (value >= policy.psiCritical) return { level: "critical", note: `at or above the critical ${policy.psiCritical}` };
  if (value >= policy.psiWarning) return { level: "warning", note: `at or above the warning ${policy.psiWarning}` };
  return { level: "ok", note: `below the warning ${policy.psiWarning}` };
}

/** The worst severity among open alerts decides the level of an alert count. */
export function assessAlerts(alerts) {
  const severities = new Set(alerts.map((alert) => alert.severity));
  if (severities.has("CRITICAL")) return { level: "critical", note: "a critical alert is open" };
  if (severities.has("WARNING")) return { level: "warning", note: "a warning is open" };
  if (severities.has("INFO")) return { level: "info", note: "only informational alerts are open" };
  return { level: "none", note: "no open alerts" };
}

export const SEVERITY_LEVELS = { CRITICAL: "critical", WARNING: "warning", INFO: "info" };

/** A value with its level: coloured, prefixed with a symbol, and explained for screen readers and on hover. */
export function levelBadge(level, text, note) {
  const explanation = note ?? LEVEL_WORDS[level];
  return h(
    "span",
    { class: `level level-${level}`, "data-level": level, title: level === "none" ? null : explanation },
    LEVEL_SYMBOLS[level] ? h("span", { class: "level-symbol", "aria-hidden": "true" }, LEVEL_SYMBOLS[level]) : null,
    text,
    level === "none" ? null : screenReaderText(` (${explanation})`),
  );
}

export function metricBadge(metric, value, policy) {
  const { level, note } = metric.assess(value, policy);
  return levelBadge(level, metric.format(value), note);
}
