// Jobs panel: upload a dataset, start a fine-tuning job, follow it live over Server-Sent Events
// (read through fetch, with the token).

import { getJSON, request, sendJSON } from "./api.js";
import { byId, el, percent, setStatus } from "./dom.js";
import { followEvents } from "./event-stream.js";
import { drawLineChart } from "./line-chart.js";
import { fillModelSelect } from "./model-store.js";

const finalStates = new Set(["succeeded", "failed", "cancelled"]);

export class JobsPanel {
  /// onUseModel(name) is called when the user wants to classify with a job's new model.
  constructor(store, onUseModel) {
    this.store = store;
    this.onUseModel = onUseModel;
    this.job = null;
    this.events = null;
    store.subscribe((models) => fillModelSelect(byId("job-base"), models));
    byId("dataset-form").addEventListener("submit", (event) => this.uploadDataset(event));
    byId("job-form").addEventListener("submit", (event) => this.startJob(event));
    byId("job-lr-auto").addEventListener("change", (event) => { byId("job-lr").disabled = event.target.checked; });
    byId("job-regularization").addEventListener("change", () => this.showRegularization());
    this.showRegularization();
    byId("jobs-refresh").addEventListener("click", () => this.refreshJobs());
    byId("job-cancel").addEventListener("click", () => this.cancel());
    byId("job-use").addEventListener("click", () => this.job && this.onUseModel(this.job.output_model));
    // The curves are drawn at their rendered width, so a rotated phone gets them redrawn.
    let pending = null;
    window.addEventListener("resize", () => {
      clearTimeout(pending);
      pending = setTimeout(() => this.job && this.renderCurves(this.job.metrics), 150);
    });
  }

  /// Only the chosen regularization's settings show; the others are disabled too, so that the
  /// form neither validates nor sends them.
  showRegularization() {
    const chosen = byId("job-regularization").value;
    for (const field of document.querySelectorAll("#job-form [data-regularization]")) {
      const shown = field.dataset.regularization === chosen;
      field.hidden = !shown;
      for (const input of field.querySelectorAll("input")) input.disabled = !shown;
    }
  }

  async activate() {
    if (this.job) this.renderCurves(this.job.metrics); // drawn while hidden, they had no width to fit
    await Promise.all([this.refreshDatasets(), this.refreshJobs()]);
  }

  async refreshDatasets(preferred) {
    const select = byId("job-dataset");
    try {
      const { datasets = [] } = await getJSON("/v1/datasets");
      const keep = preferred || select.value;
      select.replaceChildren(...datasets.map((d) =>
        new Option(`${d.id} (${d.classes.length} classes, ${Object.values(d.counts).reduce((a, b) => a + b, 0)} images)`, d.id)));
      if (datasets.some((d) => d.id === keep)) select.value = keep;
    } catch (error) {
      setStatus(byId("job-form-status"), error.message, "error");
    }
  }

  async uploadDataset(event) {
    event.preventDefault();
    const file = byId("dataset-file").files[0];
    const status = byId("dataset-status");
    if (!file) return setStatus(status, "Choose a zip archive first.", "error");
    const type = file.type || (/\.zip$/i.test(file.name) ? "application/zip" : "application/gzip");
    setStatus(status, `Uploading ${file.name}…`);
    try {
      const dataset = await (await request("POST", "/v1/datasets", { body: file, contentType: type })).json();
      const counts = dataset.classes.map((c) => `${c} ${dataset.counts[c] ?? 0}`).join(", ");
      setStatus(status, `Dataset ${dataset.id}: ${dataset.classes.length} classes (${counts})` +
        (dataset.skipped ? `, ${dataset.skipped} files skipped.` : "."));
      await this.refreshDatasets(dataset.id);
    } catch (error) {
      setStatus(status, error.message, "error");
    }
  }

  jobRequest() {
    const regularization = byId("job-regularization").value;
    return {
      base_model: byId("job-base").value,
      dataset: byId("job-dataset").value,
      output_model: byId("job-output").value.trim(),
      epochs: Number(byId("job-epochs").value),
      batch_size: Number(byId("job-batch").value),
      learning_rate: byId("job-lr-auto").checked ? "auto" : Number(byId("job-lr").value),
      head: byId("job-head").value,
      head_hidden_units: Number(byId("job-hidden").value),
      head_dropout: Number(byId("job-dropout").value),
      frozen_batchnorm: byId("job-batchnorm").value,
      optimizer: byId("job-optimizer").value,
      schedule: byId("job-schedule").value,
      freeze: byId("job-freeze").value,
      augment: byId("job-augment").checked,
      horizontal_flip: byId("job-flip").checked,
      validation_split: Number(byId("job-validation").value),
      discriminative_factor: Number(byId("job-factor").value),
      regularization,
      ...(regularization === "l2_sp"
        ? { l2_sp_alpha: Number(byId("job-l2sp-alpha").value), l2_sp_beta: Number(byId("job-l2sp-beta").value) }
        : { weight_decay: Number(byId("job-decay").value) }),
      label_smoothing: Number(byId("job-smoothing").value),
      mixup: Number(byId("job-mixup").value),
      early_stopping_patience: Number(byId("job-patience").value),
      seed: Number(byId("job-seed").value),
    };
  }

  async startJob(event) {
    event.preventDefault();
    const status = byId("job-form-status");
    const body = this.jobRequest();
    if (!body.dataset) return setStatus(status, "Upload a dataset first.", "error");
    setStatus(status, "Starting…");
    try {
      const job = await sendJSON("POST", "/v1/jobs", body);
      setStatus(status, `Started job ${job.id}; follow it below.`);
      this.watch(job);
      await this.refreshJobs();
    } catch (error) {
      setStatus(status, error.message, "error");
    }
  }

  async refreshJobs() {
    try {
      const { jobs = [] } = await getJSON("/v1/jobs");
      byId("job-list").replaceChildren(...jobs.map((job) => {
        const button = el("button", { type: "button", className: "link-button",
          textContent: `${job.output_model || job.id}: ${job.state}` });
        button.addEventListener("click", () => this.watch(job));
        return el("li", {}, button, el("span", { className: "hint", textContent: ` ${job.id}` }));
      }));
    } catch (error) {
      setStatus(byId("job-form-status"), error.message, "error");
    }
  }

  watch(job) {
    if (this.events) this.events.close();
    this.events = null;
    this.job = { ...job, metrics: [...(job.metrics || [])] };
    byId("job-view").hidden = false;
    this.render();
    if (finalStates.has(job.state)) return;
    const stream = followEvents(`/v1/jobs/${encodeURIComponent(job.id)}/events`, {
      onEvent: (name, data) => {
        if (this.events !== stream) return;
        const value = JSON.parse(data);
        if (name === "progress") this.update({ progress: value });
        else if (name === "epoch") this.addMetrics(value);
        else if (name === "plan") this.update({ transfer: value });
        else if (name === "state") {
          this.update(value);
          if (finalStates.has(value.state)) this.finish(stream);
        }
      },
      onError: (error, retrying) => {
        if (this.events !== stream) return;
        // The stream ends after a final state; a job that already ended has nothing more to say.
        if (finalStates.has(this.job.state)) return this.finish(stream);
        if (retrying) {
          setStatus(byId("job-state"), `Job ${this.job.id} is ${this.job.state}; reconnecting to its event stream…`);
        } else {
          this.events = null; // refused: tokenChanged() follows it again
          setStatus(byId("job-state"), `Could not follow job ${this.job.id}: ${error.message}`, "error");
        }
      },
    });
    this.events = stream;
  }

  /// A new token may open what was refused: the lists, and the events of a job still running.
  tokenChanged() {
    if (this.job && !this.events && !finalStates.has(this.job.state)) this.watch(this.job);
    if (!byId("panel-jobs").hidden) this.activate();
  }

  finish(stream) {
    stream.close();
    if (this.events === stream) this.events = null;
    if (this.job.state === "succeeded") this.store.refresh().catch(() => {});
    this.refreshJobs();
  }

  update(fields) {
    if (!this.job) return;
    const metrics = fields.metrics ? mergeMetrics(this.job.metrics, fields.metrics) : this.job.metrics;
    this.job = { ...this.job, ...fields, metrics };
    this.render();
  }

  addMetrics(entry) {
    this.job.metrics = mergeMetrics(this.job.metrics, [entry]);
    this.render();
  }

  async cancel() {
    if (!this.job) return;
    try {
      this.update(await sendJSON("POST", `/v1/jobs/${encodeURIComponent(this.job.id)}/cancel`));
    } catch (error) {
      setStatus(byId("job-state"), error.message, "error");
    }
  }

  render() {
    const job = this.job;
    byId("job-title").textContent = `Job ${job.id}${job.output_model ? ` → ${job.output_model}` : ""}`;
    const p = job.progress || {};
    const progress = byId("job-progress");
    if (job.state === "succeeded") progress.value = 1;
    else if (p.epochs) progress.value = Math.min(1, (Math.max(0, (p.epoch || 1) - 1) + (p.steps ? (p.step || 0) / p.steps : 0)) / p.epochs);
    const where = p.stage === 0 ? ` Learning-rate range test, step ${p.step ?? 0} of ${p.steps}.` :
      p.epochs ? ` Stage ${p.stage ?? 1}, epoch ${p.epoch ?? 0} of ${p.epochs}` +
      (p.steps ? `, step ${p.step ?? 0} of ${p.steps}.` : ".") : "";
    const failure = job.error ? ` ${typeof job.error === "string" ? job.error : job.error.message || JSON.stringify(job.error)}` : "";
    setStatus(byId("job-state"), `State: ${job.state}.${where}${failure}`, job.state === "failed" ? "error" : "info");
    byId("job-cancel").hidden = finalStates.has(job.state);
    byId("job-use").hidden = job.state !== "succeeded" || !job.output_model;
    this.renderCurves(job.metrics);
    this.renderPlan(job.transfer, job.request);
    this.renderConfusion(job);
  }

  /// `request` (the job's settings as the service read them) adds how the training was regularized.
  renderPlan(plan, request) {
    const items = [];
    const list = (names) => (names && names.length ? names.join(", ") : "none");
    if (plan) {
      items.push(plan.cut_at
        ? `New classifier head at ${plan.cut_at} (replacing ${list(plan.replaced)}): ${list(plan.new_head)}.`
        : `Last layer ${list(plan.new_head)} replaced.`);
      items.push(`Layer groups, earliest first: ${(plan.layer_groups || []).map((g) => `[${g.join(", ")}]`).join(" ") || "none"}.`);
      if (plan.learning_rate_finder) {
        const f = plan.learning_rate_finder;
        items.push(`Learning rate ${f.suggestion.toPrecision(2)} from the range test (${f.method === "steepest" ? "steepest descent" : "a tenth of the minimum"}, ${f.learning_rates.length} steps).`);
      } else if (plan.learning_rate) {
        items.push(`Learning rate ${plan.learning_rate}.`);
      }
      for (const stage of plan.stages || []) {
        const rates = Object.entries(stage.learning_rates || {}).map(([g, r]) => `${g} ${r.toPrecision(2)}`).join(", ");
        items.push(`Stage ${stage.stage}: frozen ${list(stage.frozen)}; trained ${list(stage.trained)} (peak rates ${rates || "none"})` +
          (stage.frozen_batchnorm ? `; frozen BatchNorm: ${stage.frozen_batchnorm}.` : "."));
      }
      if (request) items.push(regularizationText(request));
      if (plan.best) items.push(`Kept stage ${plan.best.stage}, epoch ${plan.best.epoch} (validation accuracy ${percent(plan.best.validation_accuracy)}).`);
    }
    byId("job-plan").replaceChildren(...(items.length ? items : ["Available when the job starts."]).map((t) => el("li", { textContent: t })));
  }

  renderCurves(metrics) {
    const last = metrics[metrics.length - 1];
    drawLineChart(byId("loss-chart"), [
      { name: "training loss", className: "train", values: metrics.map((m) => m.train_loss) },
      { name: "validation loss", className: "validation", values: metrics.map((m) => m.validation_loss) },
    ], {
      yLabel: "loss",
      summary: last ? `Loss over ${metrics.length} epochs; last: training ${fixed(last.train_loss)}, validation ${fixed(last.validation_loss)}.` : "No epochs yet.",
    });
    drawLineChart(byId("accuracy-chart"), [
      { name: "validation accuracy", className: "validation", values: metrics.map((m) => m.validation_accuracy) },
    ], {
      yMax: 1,
      yLabel: "accuracy",
      summary: last ? `Validation accuracy over ${metrics.length} epochs; last: ${percent(last.validation_accuracy ?? 0)}.` : "No epochs yet.",
    });
  }

  renderConfusion(job) {
    const table = byId("confusion");
    const matrix = job.confusion_matrix;
    const labels = job.labels || [];
    if (!Array.isArray(matrix) || !matrix.length) {
      table.replaceChildren(el("tbody", {}, el("tr", {}, el("td", { textContent: "Available when the job has finished." }))));
      return;
    }
    const perClass = new Map((job.per_class || []).map((c) => [c.label, c]));
    const name = (i) => labels[i] ?? String(i);
    const head = el("tr", {}, el("td", {}),
      ...matrix.map((_, j) => el("th", { scope: "col", textContent: name(j) })),
      el("th", { scope: "col", textContent: "Precision" }), el("th", { scope: "col", textContent: "Recall" }));
    const rows = matrix.map((row, i) => {
      const total = row.reduce((a, b) => a + b, 0) || 1;
      const stats = perClass.get(name(i)) || {};
      return el("tr", {},
        el("th", { scope: "row", textContent: name(i) }),
        ...row.map((count, j) => {
          const share = count / total;
          const cell = el("td", { className: `cell${i === j ? " diagonal" : ""}`, textContent: String(count) });
          cell.style.setProperty("--share", share.toFixed(3));
          return cell;
        }),
        el("td", { className: "num", textContent: stats.precision === undefined ? "—" : percent(stats.precision) }),
        el("td", { className: "num", textContent: stats.recall === undefined ? "—" : percent(stats.recall) }));
    });
    table.replaceChildren(el("thead", {}, head), el("tbody", {}, ...rows));
  }
}

/// The regularization a job trains with, in words.
function regularizationText(request) {
  const parts = [request.regularization === "l2_sp"
    ? `L2-SP, α ${request.l2_sp_alpha} toward the base's weights, β ${request.l2_sp_beta} on the new head`
    : `weight decay ${request.weight_decay} toward zero`];
  if (request.label_smoothing > 0) parts.push(`label smoothing ${request.label_smoothing}`);
  if (request.mixup > 0) parts.push(`mixup α ${request.mixup}`);
  return `Regularization: ${parts.join("; ")}.`;
}

function mergeMetrics(existing, incoming) {
  const key = (m) => `${m.stage ?? 1}:${m.epoch}`;
  const byKey = new Map(existing.map((m) => [key(m), m]));
  for (const m of incoming) byKey.set(key(m), m);
  return [...byKey.values()].sort((a, b) => (a.stage ?? 1) - (b.stage ?? 1) || a.epoch - b.epoch);
}

const fixed = (v) => (Number.isFinite(v) ? v.toFixed(3) : "—");
