// A small stacked bar chart of sightings per platform per day, drawn as inline SVG (no library).
// Colours have a 3:1 contrast or more against white; platforms beyond the first five are summed
// as "other". The SVG carries a text summary for screen readers; the page also has the table.

const SVG = "http://www.w3.org/2000/svg";
const COLOURS = ["#1f5fa8", "#b3470b", "#1d7a3a", "#7a3aa8", "#a3123a", "#555555"];
const TOP = 5;

function element(name, attributes, text) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** The UTC days from `since` (YYYY-MM-DD), `count` of them. */
function daysFrom(since, count) {
  const start = Date.parse(`${since}T00:00:00Z`);
  return Array.from({ length: count }, (_, i) => new Date(start + i * 86_400_000).toISOString().slice(0, 10));
}

/**
 * Draw `activity` ({days, since, counts: [{day, platform, sightings}]}) into `container`.
 * @param {{other: string, summary: (total: number, days: number) => string, empty: string}} words
 */
export function drawChart(container, activity, words) {
  const totals = new Map();
  for (const c of activity.counts) totals.set(c.platform, (totals.get(c.platform) ?? 0) + c.sightings);
  const ranked = [...totals.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const shown = ranked.slice(0, TOP).map(([name]) => name);
  const series = ranked.length > TOP ? [...shown, words.other] : shown;
  const seriesTotal = new Map(ranked.slice(0, TOP));
  if (ranked.length > TOP) seriesTotal.set(words.other, ranked.slice(TOP).reduce((sum, [, n]) => sum + n, 0));
  const days = daysFrom(activity.since, activity.days);
  const stacks = new Map(days.map((day) => [day, new Map()]));
  for (const c of activity.counts) {
    const name = shown.includes(c.platform) ? c.platform : words.other;
    const stack = stacks.get(c.day);
    if (stack) stack.set(name, (stack.get(name) ?? 0) + c.sightings);
  }
  const peak = Math.max(1, ...[...stacks.values()].map((s) => [...s.values()].reduce((a, b) => a + b, 0)));
  const total = [...totals.values()].reduce((a, b) => a + b, 0);

  const width = 640;
  const height = 220;
  const left = 36;
  const bottom = 24;
  const plotHeight = height - bottom - 10;
  const step = (width - left - 4) / days.length;
  const svg = element("svg", {
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": total ? words.summary(total, activity.days) : words.empty,
    class: "chart-svg",
  });
  svg.append(element("line", { x1: left, y1: 10 + plotHeight, x2: width, y2: 10 + plotHeight, class: "axis" }));
  svg.append(element("text", { x: left - 6, y: 14, "text-anchor": "end", class: "tick" }, String(peak)));
  svg.append(element("text", { x: left - 6, y: 10 + plotHeight, "text-anchor": "end", class: "tick" }, "0"));
  days.forEach((day, index) => {
    let y = 10 + plotHeight;
    const stack = stacks.get(day);
    series.forEach((name, colour) => {
      const count = stack.get(name) ?? 0;
      if (!count) return;
      const barHeight = (count / peak) * plotHeight;
      y -= barHeight;
      const bar = element("rect", {
        x: left + index * step + 1,
        y,
        width: Math.max(1, step - 2),
        height: barHeight,
        fill: COLOURS[colour],
      });
      bar.append(element("title", {}, `${day} · ${name}: ${count}`));
      svg.append(bar);
    });
    const last = days.length - 1;
    if (index === 0 || index === last || (index % 7 === 0 && last - index >= 4)) {
      svg.append(element("text", { x: left + index * step + step / 2, y: height - 6, "text-anchor": "middle", class: "tick" }, day.slice(5)));
    }
  });
  const legend = document.createElement("ul");
  legend.className = "legend";
  series.forEach((name, colour) => {
    const item = document.createElement("li");
    const swatch = element("svg", { viewBox: "0 0 10 10", width: 12, height: 12, "aria-hidden": "true" });
    swatch.append(element("rect", { width: 10, height: 10, fill: COLOURS[colour] }));
    item.append(swatch, document.createTextNode(` ${name} (${seriesTotal.get(name)})`));
    legend.append(item);
  });
  container.replaceChildren(svg, legend);
}
