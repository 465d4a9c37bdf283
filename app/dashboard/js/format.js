/** How numbers, fractions, instants and enum values are written everywhere on the dashboard. */

import { h } from "./dom.js";

export const MISSING = "—";

export const MODEL_TYPES = ["BASELINE", "ANOMALY", "FORECAST_ARIMA", "FORECAST_PROPHET"];

const MODEL_TYPE_LABELS = {
  BASELINE: "Baseline",
  ANOMALY: "Anomaly detector",
  FORECAST_ARIMA: "Forecast (ARIMA)",
  FORECAST_PROPHET: "Forecast (Prophet)",
};

const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });
const timeFormat = new Intl.DateTimeFormat(undefined, { timeStyle: "medium" });
const integerFormat = new Intl.NumberFormat();

export function modelTypeLabel(modelType) {
  return MODEL_TYPE_LABELS[modelType] ?? enumLabel(modelType);
}

/** `TRAINING_VALIDATION` → `Training validation`. */
export function enumLabel(value) {
  if (!value) return MISSING;
  const words = value.toLowerCase().replaceAll("_", " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** The API sends error metrics as fractions (0.12); people read them as percentages. */
export function percent(fraction, digits = 1) {
  return isNumber(fraction) ? `${(fraction * 100).toFixed(digits)} %` : MISSING;
}

export function decimal(value, digits = 3) {
  return isNumber(value) ? value.toFixed(digits) : MISSING;
}

export function integer(value) {
  return isNumber(value) ? integerFormat.format(value) : MISSING;
}

export function seconds(value) {
  if (!isNumber(value)) return MISSING;
  if (value < 90) return `${value.toFixed(1)} s`;
  if (value < 5400) return `${(value / 60).toFixed(1)} min`;
  return `${(value / 3600).toFixed(1)} h`;
}

export function dateTimeText(iso) {
  return iso ? dateTimeFormat.format(new Date(iso)) : MISSING;
}

export function dateText(iso) {
  return iso ? dateFormat.format(new Date(iso)) : MISSING;
}

export function timeText(iso) {
  return iso ? timeFormat.format(new Date(iso)) : MISSING;
}

/** A `<time>` element, so the exact instant stays machine-readable and visible on hover. */
export function timeElement(iso) {
  if (!iso) return MISSING;
  return h("time", { datetime: iso, title: iso }, dateTimeText(iso));
}

export function isNumber(value) {
  return typeof value === "number" && Number.isFinite(value);
}
