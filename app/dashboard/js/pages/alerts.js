/**
 * Alerts: the stored list under the chosen filters, kept current by the `alertRaised` subscription,
 * with acknowledge and resolve (with a note).
 *
 * Alerts are kept by id, so a live alert that the list already holds (or one replayed after a
 * reconnect) updates its row instead of adding a second one. Every (re)subscription asks for what
 * was created after the newest alert seen so far, so nothing raised during a disconnection is lost.
 */

import { fill, h, select } from "../dom.js";
import { MODEL_TYPES, enumLabel, modelTypeLabel, timeElement } from "../format.js";
import { graphql } from "../graphql.js";
import { modelHref } from "../router.js";
import { emptyView, errorView, liveStatusView, loadingView, runAction } from "../states.js";
import { subscribe } from "../subscriptions.js";
import { SEVERITY_LEVELS, levelBadge } from "../thresholds.js";

const ALERT_FIELDS = `
  id machineId modelType alertType severity status message details createdAt lastSeenAt occurrences
  acknowledgedAt acknowledgedBy resolvedAt resolvedBy resolutionNote autoAction trainingJobId`;

const LIST_LIMIT = 200;

const LIST = `
  query Alerts($status: [AlertStatus!], $machineId: UUID, $modelType: ModelType, $minSeverity: Severity, $limit: Int!) {
    machines { id name }
    alerts(status: $status, machineId: $machineId, modelType: $modelType, minSeverity: $minSeverity, limit: $limit) {
      ${ALERT_FIELDS}
    }
  }`;

const RAISED = `
  subscription AlertRaised($since: DateTime) {
    alertRaised(since: $since) { ${ALERT_FIELDS} }
  }`;

const ACKNOWLEDGE = `mutation Acknowledge($id: UUID!) { acknowledgeAlert(id: $id) { ${ALERT_FIELDS} } }`;
const RESOLVE = `
  mutation Resolve($id: UUID!, $note: String) {
    resolveAlert(id: $id, note: $note) { ${ALERT_FIELDS} }
  }`;

const STATUS_CHOICES = {
  UNRESOLVED: { label: "Unresolved", statuses: ["OPEN", "ACKNOWLEDGED"] },
  OPEN: { label: "Open", statuses: ["OPEN"] },
  ACKNOWLEDGED: { label: "Acknowledged", statuses: ["ACKNOWLEDGED"] },
  RESOLVED: { label: "Resolved", statuses: ["RESOLVED"] },
  ALL: { label: "All", statuses: null },
};
const SEVERITY_RANK = { INFO: 0, WARNING: 1, CRITICAL: 2 };

export function renderAlerts(container) {
  document.title = "Alerts · Kilowatch";
  const alerts = new Map();
  let machines = new Map();
  let newestCreatedAt = null;
  let loaded = false;
  let latestRequest = 0;

  const status = select(
    "alert-status",
    "Status",
    Object.entries(STATUS_CHOICES).map(([value, choice]) => [value, choice.label]),
  );
  const severity = select("alert-severity", "Severity", [
    ["", "Any"],
    ["WARNING", "Warning or worse"],
    ["CRITICAL", "Critical"],
  ]);
  const machine = select("alert-machine", "Machine", [["", "All machines"]]);
  const modelType = select("alert-model-type", "Model", [
    ["", "All models"],
    ...MODEL_TYPES.map((type) => [type, modelTypeLabel(type)]),
  ]);
  const filters = h(
    "form",
    { class: "filters", onchange: reload, onsubmit: (event) => event.preventDefault() },
    status.field,
    severity.field,
    machine.field,
    modelType.field,
  );
  const live = h("div", { class: "live-line" });
  const announcer = h("p", { class: "page-feedback", role: "status" });
  const list = h("div", { "aria-live": "off" });
  const refresh = h("button", { type: "button", class: "secondary", onclick: () => reload() }, "Refresh");
  fill(
    container,
    h(
      "div",
      { class: "page-heading" },
      h("h1", { tabindex: "-1" }, "Alerts"),
      h("div", { class: "page-actions" }, refresh),
    ),
    filters,
    live,
    announcer,
    list,
  );

  const unsubscribe = subscribe(RAISED, () => ({ since: newestCreatedAt }), {
    next: ({ alertRaised: alert }) => {
      remember(alert);
      if (loaded) draw();
    },
    error: (error) => fill(live, liveStatusView(null, error)),
    complete: () => fill(live, liveStatusView({ name: "ended" })),
    connection: (state) => fill(live, liveStatusView(state)),
  });

  async function reload() {
    const current = currentFilters();
    const request = ++latestRequest;
    fill(announcer);
    alerts.clear();
    loaded = false;
    list.setAttribute("aria-busy", "true");
    fill(list, loadingView("alerts"));
    let data = null;
    let failure = null;
    try {
      data = await graphql(LIST, {
        status: STATUS_CHOICES[current.status].statuses,
        machineId: current.machineId || null,
        modelType: current.modelType || null,
        minSeverity: current.minSeverity || null,
        limit: LIST_LIMIT,
      });
    } catch (error) {
      failure = error;
    }
    if (request !== latestRequest) return; // the filters changed while this was in flight
    list.removeAttribute("aria-busy");
    if (failure) {
      fill(list, errorView(failure, { retry: reload }));
      return;
    }
    machines = new Map(data.machines.map((item) => [item.id, item.name]));
    fillMachineChoices(data.machines);
    // An alert that arrived live while this request was in flight is at least as fresh as the list's copy.
    for (const alert of data.alerts) if (!alerts.has(alert.id)) remember(alert);
    loaded = true;
    draw();
  }

  function remember(alert) {
    alerts.set(alert.id, alert);
    if (!newestCreatedAt || Date.parse(alert.createdAt) > Date.parse(newestCreatedAt))
      newestCreatedAt = alert.createdAt;
  }

  function currentFilters() {
    return {
      status: status.control.value,
      minSeverity: severity.control.value,
      machineId: machine.control.value,
      modelType: modelType.control.value,
    };
  }

  function fillMachineChoices(items) {
    const chosen = machine.control.value;
    fill(
      machine.control,
      h("option", { value: "" }, "All machines"),
      items.map((item) => h("option", { value: item.id, selected: item.id === chosen }, item.name)),
    );
  }

  function draw() {
    const shown = [...alerts.values()].filter((alert) => matches(alert, currentFilters())).sort(mostUrgentFirst);
    if (shown.length === 0) {
      const all =
        status.control.value === "UNRESOLVED" &&
        !severity.control.value &&
        !machine.control.value &&
        !modelType.control.value;
      fill(
        list,
        emptyView(
          all
            ? "No unresolved alerts — every model is within policy."
            : "No alerts match these filters — widen them to see more.",
        ),
      );
      return;
    }
    fill(list, h("ul", { class: "alert-list" }, shown.map(alertCard)));
  }

  function alertCard(alert) {
    const feedback = h("div", { class: "feedback" });
    const machineName = machines.get(alert.machineId) ?? alert.machineId;
    return h(
      "li",
      {
        class: `alert-card alert-${alert.severity.toLowerCase()}`,
        "data-alert-id": alert.id,
        "data-status": alert.status,
      },
      h(
        "div",
        { class: "alert-head" },
        levelBadge(SEVERITY_LEVELS[alert.severity], enumLabel(alert.severity)),
        h("span", { class: "alert-status" }, enumLabel(alert.status)),
        h("span", { class: "alert-type" }, enumLabel(alert.alertType)),
        h(
          "a",
          { href: modelHref(alert.machineId, alert.modelType) },
          `${machineName} · ${modelTypeLabel(alert.modelType)}`,
        ),
        h("span", { class: "muted" }, "raised ", timeElement(alert.createdAt)),
        alert.occurrences > 1
          ? h("span", { class: "muted" }, `seen ${alert.occurrences}×, last `, timeElement(alert.lastSeenAt))
          : null,
      ),
      h("p", { class: "alert-message" }, alert.message),
      alert.details?.window_start && alert.details?.window_end
        ? h(
            "p",
            { class: "muted alert-window" },
            "Data ",
            timeElement(alert.details.window_start),
            " to ",
            timeElement(alert.details.window_end),
          )
        : null,
      alert.autoAction ? h("p", { class: "muted" }, `Automatic action: ${alert.autoAction}`) : null,
      alert.acknowledgedAt
        ? h(
            "p",
            { class: "muted" },
            "Acknowledged ",
            timeElement(alert.acknowledgedAt),
            alert.acknowledgedBy ? ` by ${alert.acknowledgedBy}` : "",
          )
        : null,
      alert.resolvedAt
        ? h(
            "p",
            { class: "muted" },
            "Resolved ",
            timeElement(alert.resolvedAt),
            alert.resolvedBy ? ` by ${alert.resolvedBy}` : "",
            alert.resolutionNote ? [": ", h("q", { class: "resolution-note" }, alert.resolutionNote)] : "",
          )
        : null,
      alert.status === "RESOLVED" ? null : actions(alert, feedback),
      feedback,
    );
  }

  function actions(alert, feedback) {
    const noteId = `note-${alert.id}`;
    const note = h("input", { id: noteId, name: "note", type: "text", maxlength: 2000, placeholder: "What was done?" });
    const resolve = h("button", { type: "submit" }, "Resolve");
    const acknowledge = h(
      "button",
      {
        type: "button",
        class: "secondary",
        onclick: () =>
          runAction(
            acknowledge,
            feedback,
            () => graphql(ACKNOWLEDGE, { id: alert.id }),
            (data) => updated(data.acknowledgeAlert, "acknowledged"),
          ),
      },
      "Acknowledge",
    );
    return h(
      "div",
      { class: "alert-actions" },
      alert.status === "OPEN" ? acknowledge : null,
      h(
        "form",
        {
          class: "inline-form",
          onsubmit(event) {
            event.preventDefault();
            const variables = { id: alert.id, note: note.value.trim() || null };
            runAction(
              resolve,
              feedback,
              () => graphql(RESOLVE, variables),
              (data) => updated(data.resolveAlert, "resolved"),
            );
          },
        },
        h("label", { for: noteId }, "Resolution note"),
        note,
        resolve,
      ),
    );
  }

  /** Redraw with the alert's new state and say what happened (the card may leave the filtered list). */
  function updated(alert, verb) {
    remember(alert);
    fill(announcer, `Alert ${verb}.`);
    draw();
  }

  reload();
  return unsubscribe;
}

function matches(alert, filters) {
  const statuses = STATUS_CHOICES[filters.status].statuses;
  return (
    (!statuses || statuses.includes(alert.status)) &&
    (!filters.minSeverity || SEVERITY_RANK[alert.severity] >= SEVERITY_RANK[filters.minSeverity]) &&
    (!filters.machineId || alert.machineId === filters.machineId) &&
    (!filters.modelType || alert.modelType === filters.modelType)
  );
}

/** The server's order: most severe first, then most recently seen. */
function mostUrgentFirst(a, b) {
  return SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity] || Date.parse(b.lastSeenAt) - Date.parse(a.lastSeenAt);
}
