// The list of registered models, fetched once and shared by every panel that offers a choice.

import { getJSON } from "./api.js";

export class ModelStore {
  constructor() {
    this.models = [];
    this.listeners = [];
    this.generation = 0;
  }

  subscribe(listener) {
    this.listeners.push(listener);
  }

  get defaultName() {
    return (this.models.find((m) => m.default) || this.models[0] || {}).name;
  }

  async refresh() {
    // An older request answering last (the token changed meanwhile) does not overwrite a newer one.
    const generation = ++this.generation;
    const payload = await getJSON("/v1/models");
    if (generation !== this.generation) return this.models;
    this.models = payload.models || [];
    for (const listener of this.listeners) listener(this.models);
    return this.models;
  }
}

/// Refills a <select> with the models, keeping the current choice when it still exists.
export function fillModelSelect(select, models, preferred) {
  const keep = preferred || select.value;
  select.replaceChildren(
    ...models.map((m) => {
      const option = new Option(m.default ? `${m.name} (default)` : m.name, m.name);
      option.selected = m.name === keep;
      return option;
    }),
  );
  if (!models.some((m) => m.name === keep)) {
    const fallback = models.find((m) => m.default) || models[0];
    if (fallback) select.value = fallback.name;
  }
}
