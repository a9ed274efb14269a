// Models panel: the list, one model's card, its layer table and the receptive-field drawing.

import { getJSON, objectURL, request } from "./api.js";
import { byId, el, grouped, setStatus } from "./dom.js";
import { drawField } from "./receptive-field.js";

export class ModelsPanel {
  constructor(store) {
    this.store = store;
    this.detail = null;
    this.selected = null;
    this.list = byId("model-list");
    this.status = byId("models-status");
    this.layerSelect = byId("rf-layer");
    store.subscribe((models) => this.renderList(models));
    this.layerSelect.addEventListener("change", () => this.drawLayer(this.layerSelect.value));
    byId("model-upload").addEventListener("submit", (event) => this.upload(event));
    byId("model-delete").addEventListener("click", () => this.remove());
    for (const link of [byId("export-onnx"), byId("export-safetensors")]) {
      link.addEventListener("click", (event) => this.download(event, link));
    }
  }

  /// The export links go through fetch, with the token, which a plain link would not send.
  async download(event, link) {
    event.preventDefault();
    const path = link.getAttribute("href");
    const name = `${this.detail.card.name}.${new URL(path, location.href).searchParams.get("format")}`;
    setStatus(this.status, `Downloading ${name}…`);
    try {
      const url = await objectURL(path);
      const save = el("a", { href: url, download: name, hidden: true });
      document.body.append(save);
      save.click();
      save.remove();
      // The download has started from the URL; it is let go once the browser has taken it.
      setTimeout(() => URL.revokeObjectURL(url), 60000);
      setStatus(this.status, `Downloaded ${name}.`);
    } catch (error) {
      setStatus(this.status, error.message, "error");
    }
  }

  async upload(event) {
    event.preventDefault();
    const status = byId("upload-status");
    const name = byId("upload-name").value.trim();
    const form = new FormData();
    form.append("name", name);
    form.append("labels", byId("upload-labels").value);
    form.append("preprocessing", byId("upload-preprocessing").value);
    form.append("file", byId("upload-file").files[0]);
    setStatus(status, `Adding ${name}…`);
    try {
      const model = await (await request("POST", "/v1/models", { body: form })).json();
      setStatus(status, `Added ${model.name}: ${model.classes} classes, input ${model.input.join("×")}.`);
      this.selected = model.name;
      await this.store.refresh();
    } catch (error) {
      setStatus(status, error.message, "error");
    }
  }

  async remove() {
    const name = this.selected;
    if (!name || !window.confirm(`Delete the model ${name}? This cannot be undone.`)) return;
    try {
      await request("DELETE", `/v1/models/${encodeURIComponent(name)}`);
      setStatus(this.status, `Deleted ${name}.`);
      this.selected = null;
      await this.store.refresh();
    } catch (error) {
      setStatus(this.status, error.message, "error");
    }
  }

  renderList(models) {
    this.list.replaceChildren(
      ...models.map((m) => {
        const button = el("button", { type: "button", className: "model-button", "aria-pressed": "false" },
          el("span", { className: "model-name", textContent: m.name }),
          el("span", { className: "hint", textContent: `${m.classes} classes · input ${m.input.join("×")} · ${m.format}${m.default ? " · default" : ""}` }));
        button.dataset.name = m.name;
        button.addEventListener("click", () => this.show(m.name));
        return el("li", {}, button);
      }),
    );
    if (!models.length) setStatus(this.status, "No models are registered.");
    const keep = models.some((m) => m.name === this.selected) ? this.selected : this.store.defaultName;
    if (keep) this.show(keep);
  }

  async show(name) {
    this.selected = name;
    for (const button of this.list.querySelectorAll("button")) {
      button.setAttribute("aria-pressed", String(button.dataset.name === name));
    }
    setStatus(this.status, `Loading ${name}…`);
    try {
      const detail = await getJSON(`/v1/models/${encodeURIComponent(name)}`);
      if (this.selected !== name) return;
      this.detail = detail;
      this.renderCard(detail);
      this.renderLayers(detail.analysis);
      setStatus(this.status, `${name}: ${detail.analysis.layers.length} layers.`);
    } catch (error) {
      if (this.selected === name) setStatus(this.status, error.message, "error");
    }
  }

  renderCard({ card, input }) {
    byId("model-title").textContent = `Model card: ${card.name}`;
    const path = `/v1/models/${encodeURIComponent(card.name)}/export`;
    byId("export-onnx").href = `${path}?format=onnx`;
    byId("export-safetensors").href = `${path}?format=safetensors`;
    byId("model-delete").hidden = card.name === this.store.defaultName;
    const entries = [
      ["Input", input.join(" × ")],
      ["Classes", `${card.labels.length}: ${card.labels.slice(0, 12).join(", ")}${card.labels.length > 12 ? ", …" : ""}`],
      ["Preprocessing", describeObject(card.preprocessing)],
      ["Provenance", describeObject(card.provenance)],
      ["Metrics", describeObject(card.metrics)],
      ["Weights SHA-256", card.weights_sha256 || "—"],
    ];
    byId("model-card").replaceChildren(
      ...entries.flatMap(([term, value]) => [el("dt", { textContent: term }), el("dd", { textContent: value })]),
    );
  }

  renderLayers(analysis) {
    const body = byId("layer-table").tBodies[0];
    const pair = (v) => v.map(fmt).join(" × ");
    body.replaceChildren(
      ...analysis.layers.map((layer) => {
        const rf = layer.receptive_field;
        const name = el("button", { type: "button", className: "link-button", textContent: layer.name,
          "aria-label": `${layer.name}: draw its receptive field` });
        name.addEventListener("click", () => {
          this.layerSelect.value = layer.name;
          this.drawLayer(layer.name);
        });
        return el("tr", {},
          el("th", { scope: "row" }, name),
          el("td", { textContent: layer.type }),
          el("td", { textContent: layer.output_shape.join("×") }),
          el("td", { className: "num", textContent: grouped(layer.params) }),
          el("td", { className: "num", textContent: grouped(layer.macs) }),
          el("td", { textContent: pair(rf.size) }),
          el("td", { textContent: pair(rf.jump) }),
          el("td", { textContent: `(${rf.start.map(fmt).join(", ")})` }));
      }),
    );
    byId("layer-table").tFoot.replaceChildren(
      el("tr", {},
        el("th", { scope: "row", colSpan: 3, textContent: "Total" }),
        el("td", { className: "num", textContent: grouped(analysis.total_params) }),
        el("td", { className: "num", textContent: grouped(analysis.total_macs) }),
        el("td", { colSpan: 3, textContent: `${grouped(analysis.trainable_params)} trainable parameters` })),
    );
    // Spatial layers are the interesting ones to draw; the last of them is the widest field.
    const spatial = analysis.layers.filter((l) => l.output_shape.length === 3);
    this.layerSelect.replaceChildren(...analysis.layers.map((l) => new Option(`${l.name} (${l.type})`, l.name)));
    const initial = spatial[spatial.length - 1] || analysis.layers[0];
    if (initial) {
      this.layerSelect.value = initial.name;
      this.drawLayer(initial.name);
    }
  }

  drawLayer(name) {
    const layer = this.detail && this.detail.analysis.layers.find((l) => l.name === name);
    if (!layer) return;
    byId("rf-description").textContent = drawField(byId("rf-drawing"), layer, this.detail.input);
  }
}

function describeObject(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value !== "object") return String(value);
  const parts = Object.entries(value).map(([k, v]) =>
    `${k.replaceAll("_", " ")}: ${typeof v === "number" ? fmt(v) : Array.isArray(v) ? v.map(fmt).join(", ") : typeof v === "object" && v ? JSON.stringify(v) : v}`);
  return parts.length ? parts.join("; ") : "—";
}

const fmt = (v) => (typeof v !== "number" || Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4))));
