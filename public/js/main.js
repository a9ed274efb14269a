// Wires the panels together; everything else lives in one module per panel.

import { setToken, storedToken } from "./api.js";
import { ClassifyPanel } from "./classify.js";
import { byId, setStatus } from "./dom.js";
import { JobsPanel } from "./jobs.js";
import { ModelStore } from "./model-store.js";
import { ModelsPanel } from "./models.js";
import { Tabs } from "./tabs.js";

const store = new ModelStore();
const tabs = new Tabs(byId("tabs"));
const classify = new ClassifyPanel(store);
new ModelsPanel(store);
const jobs = new JobsPanel(store, async (name) => {
  await store.refresh();
  classify.selectModel(name);
  tabs.select("tab-classify", { focus: true });
});

tabs.onChange((id) => {
  if (id === "tab-jobs") jobs.activate();
});

const token = byId("token");
token.value = storedToken();
const describeToken = () => setStatus(byId("token-status"), token.value ? "A token is set." : "No token set.");
describeToken();
token.addEventListener("input", () => {
  setToken(token.value.trim());
  describeToken();
});
byId("token-clear").addEventListener("click", () => {
  token.value = "";
  setToken("");
  describeToken();
});

store.refresh()
  .catch((error) => setStatus(byId("classify-status"), `Could not list the models: ${error.message}`, "error"))
  .finally(() => (document.body.dataset.ready = "true"));
