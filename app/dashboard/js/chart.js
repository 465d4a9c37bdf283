/**
 * A trend chart as inline SVG: one metric over data time (each point at the end of the data window it
 * describes), its policy thresholds as dashed lines, every point marked by its level and shaped by
 * its source — monitoring (circle, joined by the line), training validation (square), external
 * (diamond) — with a legend, and the machine's interventions as vertical markers. The numbers are
 * also offered as a table for screen readers and for anyone who wants the exact values.
 *
 * `bandChart` draws one running total with its uncertainty band (the cumulative savings).
 */

import { h, svg } from "./dom.js";
import { dateTimeText, dateText, enumLabel, timeText } from "./format.js";

const WIDTH = 520;
const HEIGHT = 220;
const MARGIN = { top: 14, right: 84, bottom: 30, left: 62 };
/** Least vertical distance between two threshold labels: their 12px text takes ~13.2 units of height. */
const LABEL_GAP = 14;
const TICK_COUNT = 4;
const SOURCES = {
  MONITORING: { label: "monitoring", shape: "circle" },
  TRAINING_VALIDATION: { label: "training validation", shape: "square" },
  EXTERNAL: { label: "external", shape: "diamond" },
};

/**
 * points: [{ at: ISO string (data time), value: number, level, source, version }],
 * thresholds: [{ value, level, label }], format: value → text, upperBound: the largest value the metric
 * can take (optional), markers: [{ at, kind, description }] interventions in the chosen period; the time
 * axis spans them too, so a change is visible next to the evaluations that came before or after it.
 */
export function trendChart({ title, points, thresholds, format, upperBound = Infinity, markers = [] }) {
  const values = [...points.map((point) => point.value), ...thresholds.map((line) => line.value)];
  const [low, padded] = paddedDomain(values);
  const high = Math.max(Math.min(padded, upperBound), Math.max(...values));
  const times = points.map((point) => Date.parse(point.at));
  const markerTimes = markers.map((marker) => Date.parse(marker.at));
  const [start, end] = [Math.min(...times, ...markerTimes), Math.max(...times, ...markerTimes)];
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (time) => MARGIN.left + (end === start ? plotWidth / 2 : ((time - start) / (end - start)) * plotWidth);
  const y = (value) => MARGIN.top + (1 - (value - low) / (high - low)) * plotHeight;
  const latest = points.at(-1);
  const span = `from ${dateTimeText(points[0].at)} to ${dateTimeText(latest.at)}`;
  const marked = markers.length ? ` ${markers.length} intervention(s) marked.` : "";
  const description = `${points.length} evaluations with data windows ending ${span}; latest ${format(latest.value)}.${marked}`;
  const monitored = points.map((point, index) => [point, times[index]]).filter(([point]) => isMonitoring(point));
  const labelY = spreadLabels(thresholds.map((line) => y(line.value)));

  const chart = svg(
    "svg",
    {
      viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
      class: "trend-chart",
      role: "img",
      "aria-label": `${title} trend: ${description}`,
    },
    axes({ low, high, start, end, x, y, format }),
    markerLines(markers, start, end, x),
    thresholds.map((line, index) => [
      svg("line", {
        class: `threshold threshold-${line.level}`,
        x1: MARGIN.left,
        x2: WIDTH - MARGIN.right,
        y1: y(line.value),
        y2: y(line.value),
      }),
      svg(
        "text",
        {
          class: `threshold-label threshold-${line.level}`,
          x: WIDTH - 2, // right-aligned: a long label reaches into the plot rather than out of the chart
          y: labelY[index],
          "text-anchor": "end",
          "dominant-baseline": "middle",
        },
        `${line.label} ${format(line.value)}`,
      ),
    ]),
    svg("polyline", {
      class: "series",
      points: monitored.map(([point, time]) => `${x(time)},${y(point.value)}`).join(" "),
    }),
    points.map((point, index) =>
      marker(point, x(times[index]), y(point.value), svg("title", {}, `${pointText(point)}: ${format(point.value)}`)),
    ),
  );

  return h(
    "figure",
    { class: "chart" },
    h(
      "figcaption",
      {},
      h("span", { class: "chart-title" }, title),
      " ",
      h("span", { class: "chart-latest" }, `latest ${format(latest.value)}`),
    ),
    chart,
    legend(points),
    h(
      "details",
      { class: "chart-data" },
      h("summary", {}, `${title} values`),
      h(
        "table",
        {},
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            h("th", { scope: "col" }, "Data window end"),
            h("th", { scope: "col" }, "Source"),
            h("th", { scope: "col" }, title),
          ),
        ),
        h(
          "tbody",
          {},
          points.map((point) =>
            h(
              "tr",
              {},
              h("td", {}, dateTimeText(point.at)),
              h("td", {}, sourceText(point)),
              h("td", { class: "number" }, format(point.value)),
            ),
          ),
        ),
      ),
    ),
  );
}

/**
 * points: [{ at, value, lower, upper }] a running total and its bounds; zero is drawn as a reference
 * line, so a band that crosses it reads as "not significant" at a glance.
 */
export function bandChart({ title, points, format, tickFormat = format, latestText, markers = [] }) {
  const values = [0, ...points.flatMap((point) => [point.lower, point.upper, point.value])];
  const [low, high] = paddedDomain(values);
  const times = points.map((point) => Date.parse(point.at));
  const [start, end] = [Math.min(...times), Math.max(...times)];
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (time) => MARGIN.left + (end === start ? plotWidth / 2 : ((time - start) / (end - start)) * plotWidth);
  const y = (value) => MARGIN.top + (1 - (value - low) / (high - low)) * plotHeight;
  const upper = points.map((point, index) => `${x(times[index])},${y(point.upper)}`);
  const lower = points.map((point, index) => `${x(times[index])},${y(point.lower)}`).reverse();
  const latest = points.at(-1);
  const chart = svg(
    "svg",
    {
      viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
      class: "trend-chart band-chart",
      role: "img",
      "aria-label": `${title}: ${latestText} on ${dateTimeText(latest.at)}, between ${format(latest.lower)} and ${format(latest.upper)}.`,
    },
    axes({ low, high, start, end, x, y, format: tickFormat }),
    svg("polygon", { class: "band", points: [...upper, ...lower].join(" ") }),
    svg("line", { class: "zero", x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: y(0), y2: y(0) }),
    markerLines(markers, start, end, x),
    svg("polyline", {
      class: "series",
      points: points.map((point, index) => `${x(times[index])},${y(point.value)}`).join(" "),
    }),
  );
  return h(
    "figure",
    { class: "chart" },
    h(
      "figcaption",
      {},
      h("span", { class: "chart-title" }, title),
      " ",
      h("span", { class: "chart-latest" }, latestText),
    ),
    chart,
    h(
      "details",
      { class: "chart-data" },
      h("summary", {}, `${title} values`),
      h(
        "table",
        {},
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["Until", title, "Lower", "Upper"].map((name) => h("th", { scope: "col" }, name)),
          ),
        ),
        h(
          "tbody",
          {},
          points.map((point) =>
            h(
              "tr",
              {},
              h("td", {}, dateTimeText(point.at)),
              [point.value, point.lower, point.upper].map((value) => h("td", { class: "number" }, format(value))),
            ),
          ),
        ),
      ),
    ),
  );
}

function axes({ low, high, start, end, x, y, format }) {
  return [
    yTicks(low, high).map((tick) => [
      svg("line", { class: "grid", x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: y(tick), y2: y(tick) }),
      svg(
        "text",
        { class: "tick", x: MARGIN.left - 6, y: y(tick), "text-anchor": "end", "dominant-baseline": "middle" },
        format(tick),
      ),
    ]),
    xLabels(start, end).map(({ time, anchor }) =>
      svg("text", { class: "tick", x: x(time), y: HEIGHT - 8, "text-anchor": anchor }, axisTime(time, start, end)),
    ),
  ];
}

/** A dashed vertical line per intervention inside [start, end], named in its tooltip. */
function markerLines(markers, start, end, x) {
  return markers
    .filter((marker) => {
      const time = Date.parse(marker.at);
      return start < end && time >= start && time <= end;
    })
    .map((marker) => {
      const at = x(Date.parse(marker.at));
      const text = `${enumLabel(marker.kind)} on ${dateTimeText(marker.at)}: ${marker.description}`;
      return svg(
        "g",
        { class: "marker", "data-intervention": marker.id ?? "" },
        svg("title", {}, text),
        svg("line", { x1: at, x2: at, y1: MARGIN.top, y2: HEIGHT - MARGIN.bottom }),
        svg("path", { d: `M${at - 5},${MARGIN.top - 8} L${at + 5},${MARGIN.top - 8} L${at},${MARGIN.top - 1} Z` }),
      );
    });
}

function paddedDomain(values) {
  let low = Math.min(...values);
  let high = Math.max(...values);
  if (low === high) {
    const spread = Math.abs(low) * 0.1 || 0.1;
    return [low - spread, high + spread];
  }
  const padding = (high - low) * 0.08;
  low -= padding;
  high += padding;
  return [low, high];
}

/** Round tick values (1, 2 or 5 × a power of ten) inside the domain. */
function yTicks(low, high) {
  const rough = (high - low) / TICK_COUNT;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((factor) => factor * magnitude).find((candidate) => candidate >= rough);
  const ticks = [];
  for (let tick = Math.ceil(low / step) * step; tick <= high; tick += step) ticks.push(Number(tick.toPrecision(12)));
  return ticks;
}

function xLabels(start, end) {
  if (start === end) return [{ time: start, anchor: "middle" }];
  return [
    { time: start, anchor: "start" },
    { time: end, anchor: "end" },
  ];
}

/** Dates for spans of days, clock times when the whole trend falls within one day. */
function axisTime(time, start, end) {
  const iso = new Date(time).toISOString();
  return end - start < 86_400_000 ? timeText(iso) : dateText(iso);
}

function isMonitoring(point) {
  return (point.source ?? "MONITORING") === "MONITORING";
}

function sourceText(point) {
  const source = SOURCES[point.source]?.label ?? "monitoring";
  return point.version ? `${source}, version ${point.version}` : source;
}

function pointText(point) {
  return `window ending ${dateTimeText(point.at)} (${sourceText(point)})`;
}

/** A point's marker: its shape says where the number comes from, its class the level. */
function marker(point, cx, cy, title) {
  const shape = SOURCES[point.source]?.shape ?? "circle";
  const common = {
    class: `point point-${point.level} point-${shape}`,
    "data-at": point.at,
    "data-source": point.source ?? "MONITORING",
  };
  if (shape === "square") return svg("rect", { ...common, x: cx - 4.5, y: cy - 4.5, width: 9, height: 9 }, title);
  if (shape === "diamond") {
    const corners = [`${cx},${cy - 6}`, `${cx + 6},${cy}`, `${cx},${cy + 6}`, `${cx - 6},${cy}`];
    return svg("polygon", { ...common, points: corners.join(" ") }, title);
  }
  return svg("circle", { ...common, cx, cy, r: 5 }, title);
}

/** Which marker is which source, for the sources this chart shows. */
function legend(points) {
  const shown = Object.keys(SOURCES).filter((source) => points.some((point) => (point.source ?? "MONITORING") === source));
  return h(
    "ul",
    { class: "chart-legend" },
    shown.map((source) =>
      h(
        "li",
        { "data-source": source },
        svg(
          "svg",
          { viewBox: "0 0 14 14", width: 14, height: 14, "aria-hidden": "true" },
          marker({ source, level: "none", at: "" }, 7, 7, null),
        ),
        ` ${SOURCES[source].label}`,
      ),
    ),
  );
}

/**
 * Heights for labels wanted at `wanted` (one per threshold line): each at its line, moved apart by at
 * least LABEL_GAP where lines are closer than that (warning and critical bands of a drift score often
 * are), and kept within the plot's height.
 */
function spreadLabels(wanted) {
  const order = wanted.map((at, index) => ({ at, index })).sort((a, b) => a.at - b.at);
  for (let i = 1; i < order.length; i += 1) order[i].at = Math.max(order[i].at, order[i - 1].at + LABEL_GAP);
  const bottom = HEIGHT - MARGIN.bottom;
  for (let i = order.length - 1; i >= 0; i -= 1) {
    const limit = i === order.length - 1 ? bottom : order[i + 1].at - LABEL_GAP;
    order[i].at = Math.min(order[i].at, limit);
  }
  const spread = [];
  for (const { at, index } of order) spread[index] = at;
  return spread;
}
