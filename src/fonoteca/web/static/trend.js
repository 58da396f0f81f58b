// The show page's word-over-history chart: typing redraws it, several words (comma-separated) compare,
// clicking a point opens that episode's mentions.
(function () {
  "use strict";
  const box = document.getElementById("trend");
  if (!box) return;
  const show = box.dataset.show;
  const input = document.getElementById("trend-word");
  const perHour = document.getElementById("trend-per-hour");
  const by = document.getElementById("trend-by");
  const chartEl = document.getElementById("trend-chart");
  const summary = document.getElementById("trend-summary");
  const colors = ["#c2410c", "#2563eb", "#059669", "#7c3aed", "#db2777", "#0891b2", "#ca8a04", "#4b5563"];
  let plot = null, timer = null, current = null;

  function terms() { return input.value.split(",").map(t => t.trim()).filter(Boolean); }

  async function draw() {
    const words = terms();
    const params = new URLSearchParams({ show, by: by.value, per_hour: perHour.checked });
    words.forEach(w => params.append("term", w));
    history.replaceState(null, "", `?word=${encodeURIComponent(input.value)}`);
    if (!words.length) { chartEl.textContent = ""; summary.textContent = "Type a word to see it across the show's history."; window.fonotecaTrend = null; return; }
    const response = await fetch(`/api/trend?${params}`, { credentials: "same-origin" });
    if (!response.ok) { summary.textContent = "Could not load the trend."; return; }
    const points = await response.json();
    const series = {};
    points.forEach(p => (series[p.term] = series[p.term] || []).push(p));
    const first = series[words[0]] || [];
    current = { series, first };
    window.fonotecaTrend = Object.fromEntries(Object.entries(series).map(([t, ps]) => [t, ps.map(p => p.count)]));
    const xs = first.map((_, i) => i);
    const data = [xs, ...Object.values(series).map(ps => ps.map(p => p.value))];
    const totals = Object.entries(series).map(([t, ps]) => `“${t}”: ${ps.reduce((a, p) => a + p.count, 0)}`);
    summary.textContent = `${totals.join(" · ")} mention(s) across ${first.length} ${by.value === "episode" ? "episodes" : by.value + "s"}.`;
    const opts = {
      width: Math.max(320, chartEl.clientWidth || 900), height: 300,
      scales: { x: { time: false } },
      axes: [
        { values: (u, ticks) => ticks.map(i => first[i] ? (first[i].date || first[i].label) : "") , rotate: 0, size: 40 },
        { label: perHour.checked ? "mentions per hour" : "mentions" },
      ],
      series: [{ label: by.value === "episode" ? "episode" : by.value, value: (u, i) => i == null || !first[i] ? "" : (first[i].title || first[i].label) },
        ...Object.keys(series).map((t, i) => ({ label: t, stroke: colors[i % colors.length], width: 2, points: { size: 6 } }))],
      cursor: { focus: { prox: 16 } },
    };
    if (plot) plot.destroy();
    plot = new uPlot(opts, data, chartEl);
    plot.over.addEventListener("click", () => {
      const i = plot.cursor.idx;
      if (i == null || !current) return;
      const p = current.first[i];
      if (!p) return;
      const q = encodeURIComponent(words.map(w => w.includes(" ") ? `"${w}"` : w).join(" OR "));
      const base = `/search?q=${q}&show=${encodeURIComponent(show)}`;
      // A month (2024-02) or a year (2024) goes as both ends: the server reads it as that whole period.
      if (p.episode_id) location.href = `${base}&episode=${p.episode_id}`;
      else location.href = p.key === "unknown" ? base : `${base}&from=${p.key}&to=${p.key}`;
    });
  }

  function later() { clearTimeout(timer); timer = setTimeout(draw, 250); }
  input.addEventListener("input", later);
  perHour.addEventListener("change", draw);
  by.addEventListener("change", draw);
  document.getElementById("trend-form").addEventListener("submit", e => { e.preventDefault(); draw(); });
  draw();
})();
