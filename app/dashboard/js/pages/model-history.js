/** Champion history of one series: every change of champion, automatic after training or by hand. */

import { h } from "../dom.js";
import { timeElement } from "../format.js";
import { emptyView } from "../states.js";

export const HISTORY_FIELDS = `
  id changedAt changedBy reason
  fromVersion { version }
  toVersion { version }`;

export function historyView(changes) {
  if (changes.length === 0) return emptyView("No champion yet — the first successfully trained version becomes one.");
  return h(
    "div",
    { class: "table-scroll" },
    h(
      "table",
      { class: "history-table" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["Changed", "From", "To", "Reason", "By"].map((label) => h("th", { scope: "col" }, label)),
        ),
      ),
      h(
        "tbody",
        {},
        changes.map((change) =>
          h(
            "tr",
            { "data-change-id": change.id },
            h("td", {}, timeElement(change.changedAt)),
            h("td", {}, change.fromVersion ? `v${change.fromVersion.version}` : h("span", { class: "muted" }, "none")),
            h("td", {}, h("strong", {}, `v${change.toVersion.version}`)),
            h("td", {}, change.reason),
            h("td", {}, change.changedBy ?? h("span", { class: "muted" }, "system")),
          ),
        ),
      ),
    ),
  );
}
