/**
 * Training for one series: start a retrain (with an optional reason), follow every job's progress
 * live through `trainingJobUpdates`, and cancel an active job.
 *
 * The panel lives as long as the page and keeps its subscription across refreshes of the rest of the
 * page. Jobs are kept by id, so a snapshot from the server list and one from the live stream update
 * the same row; snapshots can arrive out of order (a list fetched before a live event may return
 * after it), so a row never steps back to an earlier status or lower progress.
 */

import { fill, h } from "../dom.js";
import { MISSING, enumLabel, percent, seconds, timeElement } from "../format.js";
import { graphql } from "../graphql.js";
import { emptyView, liveStatusView, runAction } from "../states.js";
import { subscribe } from "../subscriptions.js";

export const JOB_FIELDS = `
  id triggerType reason status progress progressStep createdAt startedAt finishedAt
  durationSeconds errorMessage improvement requestedBy
  modelVersion { id version }`;

const TRIGGER = `
  mutation Retrain($machineId: UUID!, $modelType: ModelType!, $reason: String) {
    triggerRetrain(machineId: $machineId, modelType: $modelType, reason: $reason) {
      triggered
      reason
      job { ${JOB_FIELDS} }
    }
  }`;

const CANCEL = `
  mutation Cancel($id: UUID!) {
    cancelTrainingJob(id: $id) { ${JOB_FIELDS} }
  }`;

const UPDATES = `
  subscription JobUpdates($machineId: UUID!, $modelType: ModelType!) {
    trainingJobUpdates(machineId: $machineId, modelType: $modelType) { ${JOB_FIELDS} }
  }`;

const ACTIVE = new Set(["PENDING", "RUNNING"]);
const STATUS_ORDER = { PENDING: 0, RUNNING: 1, COMPLETED: 2, FAILED: 2, CANCELLED: 2 };
const TERMINAL_LEVELS = { COMPLETED: "ok", FAILED: "critical", CANCELLED: "none" };

/** `onJobFinished` runs when a job of this series completes (new version, new metrics). */
export function createTrainingPanel({ machineId, modelType, onJobFinished }) {
  const jobs = new Map();
  const table = h("div", {});
  const live = h("div", { class: "live-line" });
  const feedback = h("div", { class: "feedback", "aria-live": "polite" });
  const reasonId = `retrain-reason-${modelType}`;
  const reason = h("input", {
    id: reasonId,
    name: "reason",
    type: "text",
    maxlength: 500,
    placeholder: "e.g. new chiller installed",
  });
  const retrain = h("button", { type: "submit" }, "Retrain");
  const form = h(
    "form",
    { class: "inline-form", onsubmit: startRetrain },
    h("label", { for: reasonId }, "Reason (optional)"),
    reason,
    retrain,
  );
  const element = h("div", {}, form, feedback, live, table);

  const unsubscribe = subscribe(
    UPDATES,
    { machineId, modelType },
    {
      next: (data) => upsert(data.trainingJobUpdates),
      error: (error) => fill(live, liveStatusView(null, error)),
      complete: () => fill(live, liveStatusView({ name: "ended" })),
      connection: (state) => fill(live, liveStatusView(state)),
    },
  );

  function startRetrain(event) {
    event.preventDefault();
    const variables = { machineId, modelType, reason: reason.value.trim() || null };
    runAction(
      retrain,
      feedback,
      () => graphql(TRIGGER, variables),
      ({ triggerRetrain: result }) => {
        if (result.job) upsert(result.job);
        if (!result.triggered) return `Not started: ${result.reason ?? "a job for this model is already in progress"}.`;
        reason.value = "";
        return "Retraining queued.";
      },
    );
  }

  function upsert(job) {
    const previous = jobs.get(job.id);
    const current = later(previous, job);
    jobs.set(job.id, current);
    draw();
    if (current.status === "COMPLETED" && previous?.status !== "COMPLETED") onJobFinished();
  }

  function draw() {
    const ordered = [...jobs.values()].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    fill(table, ordered.length ? jobsTable(ordered) : emptyView("No training jobs yet — start one with Retrain."));
  }

  return {
    element,
    /** Merge the server's list (the record) with what arrived live. */
    setJobs(list) {
      for (const job of list) jobs.set(job.id, later(jobs.get(job.id), job));
      draw();
    },
    dispose: unsubscribe,
  };

  function jobsTable(list) {
    return h(
      "div",
      { class: "table-scroll" },
      h(
        "table",
        { class: "jobs-table" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["Requested", "Trigger", "Status", "Progress", "Duration", "Outcome"].map((label) =>
              h("th", { scope: "col" }, label),
            ),
            h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Action")),
          ),
        ),
        h("tbody", {}, list.map(jobRow)),
      ),
    );
  }

  function jobRow(job) {
    return h(
      "tr",
      { "data-job-id": job.id, "data-status": job.status },
      h(
        "td",
        {},
        timeElement(job.createdAt),
        job.requestedBy ? h("span", { class: "muted" }, ` by ${job.requestedBy}`) : null,
      ),
      h("td", {}, enumLabel(job.triggerType), job.reason ? h("span", { class: "job-reason" }, job.reason) : null),
      h(
        "td",
        {},
        h(
          "span",
          { class: `job-status job-${job.status.toLowerCase()}`, "data-level": TERMINAL_LEVELS[job.status] ?? "info" },
          enumLabel(job.status),
        ),
      ),
      h("td", {}, progressView(job)),
      h("td", { class: "number" }, seconds(job.durationSeconds)),
      h("td", {}, outcome(job)),
      h("td", {}, ACTIVE.has(job.status) ? cancelButton(job) : null),
    );
  }

  function cancelButton(job) {
    const button = h(
      "button",
      {
        type: "button",
        class: "secondary danger",
        onclick: () =>
          runAction(
            button,
            feedback,
            () => graphql(CANCEL, { id: job.id }),
            (data) => {
              upsert(data.cancelTrainingJob);
              return "Job cancelled.";
            },
          ),
      },
      "Cancel",
    );
    return button;
  }
}

function later(current, candidate) {
  if (!current) return candidate;
  const step = STATUS_ORDER[candidate.status] - STATUS_ORDER[current.status];
  if (step !== 0) return step > 0 ? candidate : current;
  return candidate.progress >= current.progress ? candidate : current;
}

function progressView(job) {
  if (!ACTIVE.has(job.status)) return job.status === "COMPLETED" ? "100 %" : MISSING;
  const label = `${percent(job.progress, 0)}${job.progressStep ? ` · ${job.progressStep}` : ""}`;
  return h(
    "div",
    { class: "progress" },
    h("progress", { max: 1, value: job.progress, "aria-label": `Training progress ${label}` }),
    h("span", { class: "progress-text" }, label),
  );
}

function outcome(job) {
  if (job.status === "FAILED") return h("span", { class: "error-text" }, job.errorMessage ?? "failed");
  if (!job.modelVersion) return MISSING;
  const change = job.improvement;
  return [
    `v${job.modelVersion.version}`,
    typeof change === "number"
      ? h(
          "span",
          { class: change <= 0 ? "better" : "worse" },
          ` (${change <= 0 ? "" : "+"}${percent(change)} error vs champion)`,
        )
      : null,
  ];
}
