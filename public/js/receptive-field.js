// Draws the receptive field of the unit at the centre of a layer's output grid over the input.
// Coordinates follow the analysis: pixel centres are integers, so the field of unit i along an
// axis is centred at start + i * jump and covers `size` pixels (it may reach into the padding).

import { svg } from "./dom.js";

/// The centre unit's field and its neighbours' centres along both axes, in input pixels.
export function centreField(layer, input) {
  const [, outH = 1, outW = 1] = layer.output_shape.length === 3 ? layer.output_shape : [0, 1, 1];
  const rf = layer.receptive_field;
  const units = [outH, outW];
  const axes = [0, 1].map((axis) => {
    const unit = Math.floor((units[axis] - 1) / 2);
    const centre = rf.start[axis] + unit * rf.jump[axis];
    return {
      unit,
      units: units[axis],
      centre,
      from: centre - (rf.size[axis] - 1) / 2,
      size: rf.size[axis],
      jump: rf.jump[axis],
      neighbours: [unit - 1, unit + 1].filter((u) => u >= 0 && u < units[axis]).map((u) => rf.start[axis] + u * rf.jump[axis]),
    };
  });
  return { rows: axes[0], cols: axes[1], inputH: input[1], inputW: input[2] };
}

export function drawField(target, layer, input) {
  const f = centreField(layer, input);
  // Leave room for fields that extend into the padding so the overhang stays visible.
  const left = Math.min(0, f.cols.from) - 1, top = Math.min(0, f.rows.from) - 1;
  const right = Math.max(f.inputW, f.cols.from + f.cols.size) + 1;
  const bottom = Math.max(f.inputH, f.rows.from + f.rows.size) + 1;
  const width = right - left, height = bottom - top;
  target.setAttribute("viewBox", `${left} ${top} ${width} ${height}`);
  target.setAttribute("preserveAspectRatio", "xMidYMid meet");
  const stroke = Math.max(width, height) / 150;

  const grid = svg("g", { class: "rf-grid" });
  const step = Math.max(1, Math.ceil(Math.max(f.inputH, f.inputW) / 28)); // at most ~28 grid lines per axis
  for (let x = 0; x <= f.inputW; x += step) grid.append(svg("line", { x1: x, y1: 0, x2: x, y2: f.inputH, "stroke-width": stroke / 3 }));
  for (let y = 0; y <= f.inputH; y += step) grid.append(svg("line", { x1: 0, y1: y, x2: f.inputW, y2: y, "stroke-width": stroke / 3 }));

  const neighbours = svg("g", { class: "rf-neighbours" });
  const dot = stroke * 2.5;
  for (const x of f.cols.neighbours) neighbours.append(svg("circle", { cx: x + 0.5, cy: f.rows.centre + 0.5, r: dot }));
  for (const y of f.rows.neighbours) neighbours.append(svg("circle", { cx: f.cols.centre + 0.5, cy: y + 0.5, r: dot }));

  target.replaceChildren(
    svg("rect", { class: "rf-input", x: 0, y: 0, width: f.inputW, height: f.inputH, "stroke-width": stroke }),
    grid,
    svg("rect", {
      class: "rf-field", x: f.cols.from, y: f.rows.from, width: f.cols.size, height: f.rows.size, "stroke-width": stroke,
    }),
    svg("circle", { class: "rf-centre", cx: f.cols.centre + 0.5, cy: f.rows.centre + 0.5, r: dot }),
    neighbours,
  );
  return describe(layer, f);
}

function describe(layer, f) {
  const span = (a) => `${fmt(a.from)}–${fmt(a.from + a.size - 1)}`;
  const pixels = (n) => `${n} pixel${n === 1 ? "" : "s"}`;
  const spacing = f.rows.jump === f.cols.jump ? pixels(f.rows.jump) : `${pixels(f.rows.jump)} down and ${pixels(f.cols.jump)} across`;
  const clipped = f.rows.from < 0 || f.cols.from < 0 || f.rows.from + f.rows.size > f.inputH || f.cols.from + f.cols.size > f.inputW;
  return `Layer ${layer.name}: unit (${f.rows.unit}, ${f.cols.unit}) of its ${f.rows.units}×${f.cols.units} grid ` +
    `sees input rows ${span(f.rows)} and columns ${span(f.cols)} (${f.rows.size}×${f.cols.size} pixels` +
    `${clipped ? ", partly padding" : ""}); neighbouring units are ${spacing} apart.`;
}

const fmt = (v) => (Number.isInteger(v) ? String(v) : v.toFixed(1));
