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

// The model list is what the page shows first; it is loaded again whenever the token changes,
// since a service with a read token lists nothing without it.
let listRefused = false;
const loadModels = () => store.refresh()
  .then(() => {
    if (listRefused) setStatus(byId("classify-status"), "");
    listRefused = false;
  })
  .catch((error) => {
    listRefused = true;
    setStatus(byId("classify-status"), `Could not list the models: ${error.message}`, "error");
  });

const token = byId("token");
token.value = storedToken();
const describeToken = () => setStatus(byId("token-status"), token.value ? "A token is set." : "No token set.");
describeToken();
let pending = null;
const useToken = (value) => {
  setToken(value);
  describeToken();
  // Once typing pauses, not at every key.
  clearTimeout(pending);
  pending = setTimeout(() => {
    loadModels();
    jobs.tokenChanged();
  }, 300);
};
token.addEventListener("input", () => useToken(token.value.trim()));
byId("token-clear").addEventListener("click", () => {
  token.value = "";
  useToken("");
});

loadModels().finally(() => (document.body.dataset.ready = "true"));
