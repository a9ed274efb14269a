// WAI-ARIA tabs: one tab stop for the list, arrow keys move between tabs, Home/End jump.

export class Tabs {
  constructor(list) {
    this.tabs = [...list.querySelectorAll('[role="tab"]')];
    this.listeners = [];
    for (const tab of this.tabs) {
      tab.addEventListener("click", () => this.select(tab.id));
      tab.addEventListener("keydown", (event) => this.onKey(event, tab));
    }
  }

  onChange(listener) {
    this.listeners.push(listener);
  }

  select(id, { focus = false } = {}) {
    for (const tab of this.tabs) {
      const selected = tab.id === id;
      tab.setAttribute("aria-selected", String(selected));
      tab.tabIndex = selected ? 0 : -1;
      document.getElementById(tab.getAttribute("aria-controls")).hidden = !selected;
      if (selected && focus) tab.focus();
    }
    for (const listener of this.listeners) listener(id);
  }

  onKey(event, tab) {
    const index = this.tabs.indexOf(tab);
    const last = this.tabs.length - 1;
    const target = {
      ArrowRight: index === last ? 0 : index + 1,
      ArrowLeft: index === 0 ? last : index - 1,
      Home: 0,
      End: last,
    }[event.key];
    if (target === undefined) return;
    event.preventDefault();
    this.select(this.tabs[target].id, { focus: true });
  }
}
