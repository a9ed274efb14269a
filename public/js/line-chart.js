// A small SVG line chart: axes with a few ticks, one polyline and dots per series, a legend.

import { svg } from "./dom.js";

const margins = { height: 260, left: 48, right: 16, top: 16, bottom: 56 };

/// series: [{ name, className, values: [number|null] }] indexed by epoch (1-based on the axis), or
/// by whatever `xTick(i)` labels and `xLabel` names; `dots` false leaves long curves as lines.
export function drawLineChart(target, series, { yMax, yLabel, summary, xLabel = "epoch", xTick = (i) => String(i + 1), dots = true }) {
  // Draw at the rendered width so the labels keep their size on a phone; hidden charts get a default.
  const rendered = Math.round(target.getBoundingClientRect().width);
  const size = { ...margins, width: rendered > 0 ? Math.max(300, rendered) : 480 };
  const count = Math.max(1, ...series.map((s) => s.values.length));
  const finite = series.flatMap((s) => s.values.filter(Number.isFinite));
  const top = yMax ?? niceCeiling(Math.max(0, ...finite));
  const plotW = size.width - size.left - size.right, plotH = size.height - size.top - size.bottom;
  const x = (i) => size.left + (count === 1 ? plotW / 2 : (i / (count - 1)) * plotW);
  const y = (v) => size.top + plotH - (Math.min(v, top) / (top || 1)) * plotH;

  target.setAttribute("viewBox", `0 0 ${size.width} ${size.height}`);
  const axes = svg("g", { class: "axes" },
    svg("line", { x1: size.left, y1: size.top, x2: size.left, y2: size.top + plotH }),
    svg("line", { x1: size.left, y1: size.top + plotH, x2: size.left + plotW, y2: size.top + plotH }));
  for (let t = 0; t <= 4; t++) {
    const value = (top * t) / 4;
    axes.append(
      svg("line", { class: "gridline", x1: size.left, x2: size.left + plotW, y1: y(value), y2: y(value) }),
      svg("text", { x: size.left - 6, y: y(value) + 4, "text-anchor": "end" }, document.createTextNode(trim(value))));
  }
  const every = Math.ceil(count / 10);
  for (let i = 0; i < count; i += every) {
    axes.append(svg("text", { x: x(i), y: size.top + plotH + 16, "text-anchor": "middle" }, document.createTextNode(xTick(i))));
  }
  axes.append(svg("text", { x: size.left + plotW / 2, y: size.top + plotH + 32, "text-anchor": "middle" }, document.createTextNode(xLabel)));
  axes.append(svg("text", { x: 12, y: size.top + plotH / 2, "text-anchor": "middle", transform: `rotate(-90 12 ${size.top + plotH / 2})` },
    document.createTextNode(yLabel)));

  const lines = series.map((s, k) => {
    const points = s.values.map((v, i) => (Number.isFinite(v) ? [x(i), y(v)] : null)).filter(Boolean);
    const group = svg("g", { class: `series ${s.className}` },
      svg("polyline", { points: points.map((p) => p.join(",")).join(" ") }),
      ...(dots ? points.map(([cx, cy]) => svg("circle", { cx, cy, r: 3 })) : []));
    const legendX = size.left + (k % 2) * 170;
    const legendY = size.height - 8 - (series.length > 2 ? 16 * (1 - Math.floor(k / 2)) : 0);
    group.append(
      svg("line", { x1: legendX, x2: legendX + 20, y1: legendY, y2: legendY }),
      svg("text", { x: legendX + 26, y: legendY + 4, class: "legend-text" }, document.createTextNode(s.name)));
    return group;
  });
  // The title is the accessible name: what a sighted reader gets from the curves at a glance.
  target.replaceChildren(svg("title", {}, document.createTextNode(summary)), axes, ...lines);
}

function niceCeiling(v) {
  if (v <= 0) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((c) => c >= v);
}

const trim = (v) => String(Number(v.toPrecision(3)));
