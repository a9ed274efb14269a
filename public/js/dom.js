// Small DOM helpers shared by the panels.

export const byId = (id) => document.getElementById(id);

/// Creates an element with properties (attributes for data-/aria-) and children.
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key.startsWith("aria-") || key.startsWith("data-") || key === "role" || key === "scope") {
      node.setAttribute(key, value);
    } else {
      node[key] = value;
    }
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

/// Shows a message in a status region; errors get a distinct style so colour is not the only cue.
export function setStatus(node, message, kind = "info") {
  node.textContent = message ? (kind === "error" ? `Error: ${message}` : message) : "";
  node.dataset.kind = kind;
}

export const grouped = (n) => Number(n).toLocaleString("en-US");

export function percent(p, digits = 1) {
  return `${(p * 100).toFixed(digits)}%`;
}

/// Creates an SVG element with attributes.
export function svg(tag, attributes = {}, ...children) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  node.append(...children);
  return node;
}
