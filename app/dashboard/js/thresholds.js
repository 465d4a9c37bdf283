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

/** Why R² is shown but not judged unless a policy sets a minimum (the default policy does not). */
const R_SQUARED_NOT_JUDGED =
  "R² is shown, not judged: over a monitoring window it compares the errors with how much consumption varied in" +
  " that window, so a steady load, or a steady offset after a change, gives a low or negative R² while CV(RMSE)" +
  " stays within its limit. The alerts judge accuracy by CV(RMSE) and NMBE against the policy (ASHRAE Guideline" +
  " 14), and an offset by the level-shift test on the residuals.";

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
      if (!isNumber(value)) return { level: "none" };
      if (!isNumber(policy.minRSquared)) return { level: "none", note: R_SQUARED_NOT_JUDGED };
      const limit = decimal(policy.minRSquared, 2);
      return value < policy.minRSquared
        ? { level: "critical", note: `below the minimum ${limit}` }
        : { level: "ok", note: `at or above the minimum ${limit}` };
    },
    lines: (policy) =>
      isNumber(policy.minRSquared) ? [{ value: policy.minRSquared, level: "critical", label: "min" }] : [],
    explain: (policy) => (isNumber(policy.minRSquared) ? null : R_SQUARED_NOT_JUDGED),
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
    label: "Data drift",
    format: (value) => decimal(value, 3),
    /** Judged by the verdict the alert logic used (`driftVerdict` of the same evaluation), never by the raw PSI. */
    assess: (value, policy, evaluation) => assessDriftVerdict(evaluation?.driftVerdict),
    badge: (value, evaluation) => driftVerdictBadge(evaluation?.driftVerdict, value),
    /** The policy's PSI levels of a material and a large change: reference lines, not alert limits. */
    lines: (policy) => [
      { value: policy.psiWarning, level: "none", label: `PSI ${policy.psiWarning} material` },
      { value: policy.psiCritical, level: "none", label: `PSI ${policy.psiCritical} large` },
    ],
  },
];

const VERDICT_LEVELS = { none: "ok", info: "info", warning: "warning", critical: "critical" };
const VERDICT_WORDS = { none: "no change", info: "info, no alert", warning: "warning", critical: "critical" };

/** A drift verdict's level; none when the evaluation has no verdict (no drift check, or recorded before verdicts). */
export function assessDriftVerdict(verdict) {
  if (!verdict) return { level: "none" };
  return { level: VERDICT_LEVELS[verdict.severity] ?? "none", note: verdict.meaning };
}

/**
 * The data-drift verdict as the alert logic decided it — severity, deciding method, plain words — with
 * the raw PSI secondary. A season the model has seen can lift PSI far past 0.25 and still be
 * information only; colouring the score would contradict the alerts.
 */
export function driftVerdictBadge(verdict, score) {
  const raw = isNumber(score) ? `PSI ${decimal(score, 2)}` : null;
  if (!verdict) {
    return h("span", { class: "drift-verdict", "data-verdict": "unknown" }, levelBadge("none", raw ?? "—"));
  }
  const { level, note } = assessDriftVerdict(verdict);
  const method = verdict.method ? ` · ${verdict.method}` : "";
  return h(
    "span",
    { class: "drift-verdict", "data-verdict": verdict.severity },
    levelBadge(level, `${VERDICT_WORDS[verdict.severity]}${method}`, note),
    h("span", { class: "drift-meaning" }, verdict.meaning),
    raw ? h("span", { class: "muted drift-raw" }, raw) : null,
  );
}

/** What the metrics' badges cannot say on their own under this policy (e.g. why R² is not judged). */
export function metricNotes(policy) {
  return METRICS.map((metric) => metric.explain?.(policy)).filter(Boolean);
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

/** A metric's value judged against policy; `evaluation` is the row it came from (the drift verdict's source). */
export function metricBadge(metric, value, policy, evaluation) {
  if (metric.badge) return metric.badge(value, evaluation);
  const { level, note } = metric.assess(value, policy, evaluation);
  return levelBadge(level, metric.format(value), note);
}
