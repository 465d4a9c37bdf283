/** The versions of one series with their stage, and promoting a candidate or rolling back to an archived one. */

import { h } from "../dom.js";
import { dateText, enumLabel, integer, timeElement } from "../format.js";
import { graphql } from "../graphql.js";
import { emptyView, runAction } from "../states.js";
import { METRICS, metricBadge } from "../thresholds.js";

export const VERSION_FIELDS = `
  id version stage createdAt trainedFrom trainedTo trainingRows
  validationMetrics { rSquared cvRmse nmbe }`;

const PROMOTE = `
  mutation Promote($id: UUID!) {
    promoteModelVersion(id: $id) { id version stage }
  }`;

const VALIDATION_METRICS = METRICS.filter((metric) => metric.key !== "driftScore");

/** `feedback` lives outside the table so a result stays visible after the table is redrawn. */
export function versionsView(series, feedback, onChanged) {
  if (series.versions.length === 0) {
    return emptyView("No versions yet — start a retrain above to train the first one.");
  }
  return h(
    "div",
    { class: "table-scroll" },
    h(
      "table",
      { class: "versions-table" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "col" }, "Version"),
          h("th", { scope: "col" }, "Stage"),
          h("th", { scope: "col" }, "Created"),
          h("th", { scope: "col" }, "Trained on"),
          VALIDATION_METRICS.map((metric) => h("th", { scope: "col", class: "number" }, `Validation ${metric.label}`)),
          h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Action")),
        ),
      ),
      h(
        "tbody",
        {},
        series.versions.map((version) =>
          h(
            "tr",
            { "data-stage": version.stage },
            h("th", { scope: "row" }, `v${version.version}`),
            h("td", {}, h("span", { class: `stage stage-${version.stage.toLowerCase()}` }, enumLabel(version.stage))),
            h("td", {}, timeElement(version.createdAt)),
            h(
              "td",
              {},
              `${dateText(version.trainedFrom)} – ${dateText(version.trainedTo)}`,
              h("span", { class: "muted" }, ` (${integer(version.trainingRows)} rows)`),
            ),
            VALIDATION_METRICS.map((metric) =>
              h("td", { class: "number" }, metricBadge(metric, version.validationMetrics?.[metric.key], series.policy)),
            ),
            h("td", {}, stageAction(version, series.champion, feedback, onChanged)),
          ),
        ),
      ),
    ),
  );
}

/** Any other version can be made champion; going back to an older one is a rollback. */
function stageAction(version, champion, feedback, onChanged) {
  if (version.stage === "CHAMPION") return h("span", { class: "muted" }, "Serving");
  const rollback = champion && version.version < champion.version;
  const label = rollback ? `Roll back to v${version.version}` : `Promote v${version.version}`;
  const button = h(
    "button",
    {
      type: "button",
      class: "secondary",
      onclick: () =>
        runAction(
          button,
          feedback,
          () => graphql(PROMOTE, { id: version.id }),
          (data) => {
            onChanged();
            return `v${data.promoteModelVersion.version} is now the champion.`;
          },
        ),
    },
    label,
  );
  return button;
}
