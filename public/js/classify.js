// Classify panel: pick or drop an image, show the top 5, and the saliency map of the chosen class.

import { objectURL, request } from "./api.js";
import { byId, el, percent, setStatus } from "./dom.js";
import { drawLineChart } from "./line-chart.js";
import { fillModelSelect } from "./model-store.js";

export class ClassifyPanel {
  constructor(store) {
    this.store = store;
    this.file = null;
    this.previewURL = null;
    this.mapURL = null; // the shown map, fetched with the token into an object URL
    this.predictions = [];
    this.chosen = null; // the prediction whose map is shown
    this.generation = 0; // drops answers to requests that a newer one superseded
    this.saliencyGeneration = 0;

    this.model = byId("classify-model");
    this.input = byId("image-input");
    this.status = byId("classify-status");
    this.list = byId("predictions");
    this.saliencyStatus = byId("saliency-status");
    this.controls = ["saliency-method", "saliency-colormap", "saliency-reduce", "saliency-overlay", "saliency-alpha",
      "saliency-fidelity"].map(byId);
    this.alpha = byId("saliency-alpha");

    store.subscribe((models) => fillModelSelect(this.model, models));
    this.model.addEventListener("change", () => this.classify());
    this.input.addEventListener("change", () => this.input.files[0] && this.use(this.input.files[0]));
    this.bindDrop(byId("drop-zone"));
    for (const control of this.controls) control.addEventListener("change", () => this.showSaliency());
    this.alpha.addEventListener("input", () => (byId("saliency-alpha-value").value = this.alpha.value));
    byId("saliency-overlay").addEventListener("change", () => (this.alpha.disabled = !byId("saliency-overlay").checked));
    byId("sanity-run").addEventListener("click", () => this.runSanityCheck());
  }

  /// Selects a model by name (used when a job has produced a new one).
  selectModel(name) {
    fillModelSelect(this.model, this.store.models, name);
    this.model.value = name;
    if (this.file) this.classify();
  }

  bindDrop(zone) {
    const over = (on) => (event) => {
      event.preventDefault();
      zone.classList.toggle("dragging", on);
    };
    zone.addEventListener("dragenter", over(true));
    zone.addEventListener("dragover", over(true));
    zone.addEventListener("dragleave", over(false));
    zone.addEventListener("drop", (event) => {
      over(false)(event);
      const file = [...event.dataTransfer.files].find((f) => f.type.startsWith("image/")) || event.dataTransfer.files[0];
      if (file) this.use(file);
    });
  }

  use(file) {
    this.file = file;
    if (this.previewURL) URL.revokeObjectURL(this.previewURL);
    this.previewURL = URL.createObjectURL(file);
    const image = byId("preview-image");
    image.src = this.previewURL;
    image.alt = `The image being classified: ${file.name}`;
    byId("preview-caption").textContent = `${file.name} · ${Math.ceil(file.size / 1024)} KiB`;
    byId("preview").hidden = false;
    this.classify();
  }

  async classify() {
    if (!this.file || !this.model.value) return;
    const generation = ++this.generation;
    const model = this.model.value;
    setStatus(this.status, `Classifying with ${model}…`);
    this.list.setAttribute("aria-busy", "true");
    try {
      const response = await request("POST", `/v1/models/${encodeURIComponent(model)}/classify?top_k=5`, {
        body: this.file,
        contentType: this.file.type || "application/octet-stream",
      });
      const result = await response.json();
      if (generation !== this.generation) return;
      this.predictions = result.predictions || [];
      this.renderPredictions(model);
      this.renderTiming(result.timing_ms || {});
      setStatus(this.status, this.predictions.length
        ? `${model}: ${this.predictions[0].label} (${percent(this.predictions[0].probability)})`
        : `${model} returned no predictions.`);
      if (this.predictions.length) this.choose(this.predictions[0]);
    } catch (error) {
      if (generation !== this.generation) return;
      this.predictions = [];
      this.list.replaceChildren();
      byId("timing").textContent = "";
      setStatus(this.status, error.message, "error");
    } finally {
      if (generation === this.generation) this.list.removeAttribute("aria-busy");
    }
  }

  renderPredictions(model) {
    this.list.replaceChildren(
      ...this.predictions.map((p) => {
        const button = el(
          "button",
          { type: "button", className: "prediction", "aria-pressed": "false",
            "aria-label": `${p.label}, ${percent(p.probability)}. Show its saliency map.` },
          el("span", { className: "prediction-label", textContent: p.label }),
          el("span", { className: "bar", "aria-hidden": "true" },
            el("span", { className: "bar-fill", style: `width: ${Math.max(0.5, p.probability * 100)}%` })),
          el("span", { className: "prediction-value", textContent: percent(p.probability) }),
        );
        button.dataset.index = p.index;
        button.addEventListener("click", () => this.choose(p));
        return el("li", {}, button);
      }),
    );
    this.list.dataset.model = model;
  }

  renderTiming(timing) {
    // Pipeline order, whatever order the JSON keys came in; stages this page does not know go last.
    const order = ["decode", "preprocess", "inference"];
    const rank = (stage) => (order.includes(stage) ? order.indexOf(stage) : order.length);
    const parts = Object.entries(timing)
      .sort(([a], [b]) => rank(a) - rank(b))
      .map(([stage, ms]) => `${stage} ${Number(ms).toFixed(1)} ms`);
    byId("timing").textContent = parts.length ? `Time: ${parts.join(" · ")}` : "";
  }

  choose(prediction) {
    this.chosen = prediction;
    for (const button of this.list.querySelectorAll("button")) {
      button.setAttribute("aria-pressed", String(Number(button.dataset.index) === prediction.index));
    }
    this.showSaliency();
  }

  saliencyQuery() {
    const overlay = byId("saliency-overlay").checked;
    const query = new URLSearchParams({
      method: byId("saliency-method").value,
      class: String(this.chosen.index),
      reduce: byId("saliency-reduce").value,
      colormap: byId("saliency-colormap").value,
      overlay: String(overlay),
      format: "json",
    });
    if (overlay) query.set("alpha", this.alpha.value);
    if (byId("saliency-fidelity").checked) query.set("fidelity", "true");
    return query;
  }

  async showSaliency() {
    if (!this.file || !this.chosen) return;
    const generation = ++this.saliencyGeneration;
    const model = this.model.value;
    const methodName = byId("saliency-method").selectedOptions[0].textContent;
    setStatus(this.saliencyStatus, `Computing the ${methodName} map for ${this.chosen.label}…`);
    try {
      const response = await request("POST", `/v1/models/${encodeURIComponent(model)}/saliency?${this.saliencyQuery()}`, {
        body: this.file,
        contentType: this.file.type || "application/octet-stream",
      });
      const result = await response.json();
      if (generation !== this.saliencyGeneration) return;
      const url = await objectURL(result.png_url, "image/png");
      if (generation !== this.saliencyGeneration) return URL.revokeObjectURL(url);
      await this.renderSaliency(result, url, methodName);
      if (generation !== this.saliencyGeneration) return;
      setStatus(this.saliencyStatus, `${methodName} map for ${result.class.label} ready.`);
    } catch (error) {
      if (generation !== this.saliencyGeneration) return;
      setStatus(this.saliencyStatus, error.message, "error");
    }
  }

  /// Shows the map from `url` (an object URL this panel now owns).
  async renderSaliency(result, url, methodName) {
    const image = byId("saliency-image");
    const colormap = byId("saliency-colormap").value;
    const overlay = byId("saliency-overlay").checked;
    image.alt = `${methodName} saliency map for ${result.class.label} (class ${result.class.index}), ` +
      `${colormap} colormap${overlay ? ", over the image" : ""}`;
    try {
      await new Promise((resolve, reject) => {
        image.onload = resolve;
        image.onerror = () => reject(new Error(`the map ${result.png_url} could not be shown`));
        image.src = url;
      });
    } catch (error) {
      URL.revokeObjectURL(url);
      throw error;
    }
    if (this.mapURL) URL.revokeObjectURL(this.mapURL);
    this.mapURL = url;
    const link = byId("saliency-link");
    link.href = url;
    link.dataset.source = result.png_url;
    const facts = [`${result.class.label}`, `score ${Number(result.score).toFixed(3)}`, `p = ${percent(result.probability)}`];
    if (result.completeness_error !== undefined && result.completeness_error !== null) {
      facts.push(`completeness error ${Number(result.completeness_error).toExponential(2)}`);
    }
    if (result.sanity) {
      facts.push(result.sanity.flagged
        ? `flagged by the sanity check: this method's maps barely change when the model is randomized ` +
          `(mean Spearman ${Number(result.sanity.mean_spearman).toFixed(2)})`
        : `passed the sanity check (mean Spearman ${Number(result.sanity.mean_spearman).toFixed(2)})`);
    }
    const caption = byId("saliency-caption");
    caption.textContent = facts.join(" · ") + ". ";
    caption.classList.toggle("flagged", Boolean(result.sanity && result.sanity.flagged));
    byId("saliency").hidden = false;
    this.renderFidelity(result.fidelity, result.class.label);
  }

  /// Cascading randomization of the chosen model on the chosen image: one row per method, its
  /// correlation with the trained model's map after each layer, flagged methods marked.
  async runSanityCheck() {
    if (!this.file) return setStatus(byId("sanity-status"), "Choose an image first.", "error");
    const model = this.model.value;
    const button = byId("sanity-run");
    button.disabled = true;
    setStatus(byId("sanity-status"), `Randomizing ${model}'s layers one by one and comparing every method's maps…`);
    try {
      const query = new URLSearchParams(this.chosen ? { class: String(this.chosen.index) } : {});
      const response = await request("POST", `/v1/models/${encodeURIComponent(model)}/saliency/sanity?${query}`, {
        body: this.file,
        contentType: this.file.type || "application/octet-stream",
      });
      const check = await response.json();
      this.renderSanity(check);
      setStatus(byId("sanity-status"), check.flagged.length
        ? `Flagged: ${check.flagged.join(", ")}. Their maps barely change when ${model}'s weights are replaced by noise.`
        : "No method flagged: every map changes when the model's weights are replaced by noise.");
      this.showSaliency();
    } catch (error) {
      setStatus(byId("sanity-status"), error.message, "error");
    } finally {
      button.disabled = false;
    }
  }

  renderSanity(check) {
    const number = (v) => (v === null || v === undefined ? "constant map" : Number(v).toFixed(2));
    byId("sanity-caption").textContent = `Spearman correlation of each method's map of ${check.class.label} with the trained ` +
      `model's, after randomizing each layer (top first, cumulative); flagged at a mean of ${check.threshold} or more.`;
    byId("sanity-head").replaceChildren(
      el("th", { scope: "col", textContent: "Method" }),
      ...check.layers.map((layer) => el("th", { scope: "col", textContent: `+ ${layer}` })),
      el("th", { scope: "col", textContent: "Mean" }),
      el("th", { scope: "col", textContent: "Verdict" }));
    byId("sanity-body").replaceChildren(...check.methods.map((m) => el("tr", { className: m.flagged ? "flagged" : "passed",
      "data-method": m.method, "data-flagged": String(m.flagged) },
      el("th", { scope: "row", textContent: m.method }),
      ...m.spearman.map((v) => el("td", { textContent: number(v) })),
      el("td", { textContent: number(m.mean_spearman) }),
      el("td", { textContent: m.flagged ? "flagged" : "passed" }))));
    byId("sanity-table").hidden = false;
  }

  /// The four areas (lower deletion and higher insertion than chance are better) and the curves.
  renderFidelity(fidelity, label) {
    const section = byId("fidelity");
    section.hidden = !fidelity;
    if (!fidelity) return;
    const area = (v) => Number(v).toFixed(3);
    const rows = [
      ["Deletion AUC", fidelity.deletion_auc, fidelity.random_deletion_auc, fidelity.deletion_auc < fidelity.random_deletion_auc],
      ["Insertion AUC", fidelity.insertion_auc, fidelity.random_insertion_auc, fidelity.insertion_auc > fidelity.random_insertion_auc],
    ];
    byId("fidelity-scores").replaceChildren(...rows.flatMap(([name, ours, random, better]) => [
      el("dt", { textContent: name }),
      el("dd", { className: better ? "better" : "worse", "data-auc": String(ours), "data-random": String(random),
                 textContent: `${area(ours)} (random order ${area(random)}: ${better ? "better" : "not better"} than chance)` }),
    ]));
    const curves = fidelity.curves;
    const steps = fidelity.steps;
    drawLineChart(byId("fidelity-chart"), [
      { name: "deletion", className: "deletion", values: curves.deletion },
      { name: "insertion", className: "insertion", values: curves.insertion },
      { name: "deletion, random order", className: "deletion random", values: curves.random_deletion },
      { name: "insertion, random order", className: "insertion random", values: curves.random_insertion },
    ], {
      yMax: 1,
      yLabel: `p(${label})`,
      xLabel: "fraction of pixels changed",
      xTick: (i) => String(Number((i / steps).toFixed(2))),
      dots: false,
      summary: `Fidelity of the map for ${label}: deletion AUC ${area(fidelity.deletion_auc)} against ` +
        `${area(fidelity.random_deletion_auc)} for a random order; insertion AUC ${area(fidelity.insertion_auc)} against ` +
        `${area(fidelity.random_insertion_auc)}.`,
    });
  }
}
