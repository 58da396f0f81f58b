// The word-over-history chart (front page and show page), drawn with uPlot on a real time axis.
// Every setting lives in the page's form and in its URL, so a copied link draws the same chart. The first points come
// with the page (#trend-data); a changed setting asks /api/trend again. Clicking a point (or Enter on the focused
// chart) lists that episode's or period's mentions from /api/trend/moments, without leaving the page.
(function () {
  "use strict";
  const $ = id => document.getElementById(id);
  const box = $("trend");
  if (!box) return;
  const fixedShow = box.dataset.fixedShow || "";
  const form = $("trend-form"), chartEl = $("trend-chart"), tip = $("trend-tip"), summary = $("trend-summary");
  const errorEl = $("trend-error");
  const palette = JSON.parse($("trend-palette").textContent);
  const UNITS = { raw: "mentions", hour: "mentions per hour", "1000-words": "mentions per 1,000 words" };
  const DAY = 86400;
  let plot = null, model = null, timer = null, active = null, request = 0;

  function settings() {
    const f = new FormData(form);
    const rolling = Math.min(52, Math.max(0, parseInt(f.get("rolling") || "0", 10) || 0));
    return { word: String(f.get("word") || "").trim(), show: fixedShow || String(f.get("show") || ""),
      split: String(f.get("split") || ""), by: String(f.get("by") || "episode"), per: String(f.get("per") || "raw"), rolling,
      speaker: String(f.get("speaker") || "").trim() };
  }

  // The page's own address: only what differs from the defaults (the show page's show is in its path).
  function pageQuery(s) {
    const q = new URLSearchParams();
    if (s.word) q.set("word", s.word);
    if (s.show && !fixedShow) q.set("show", s.show);
    if (s.split) q.set("split", s.split);
    if (s.speaker) q.set("speaker", s.speaker);
    if (s.by !== "episode") q.set("by", s.by);
    if (s.per !== "raw") q.set("per", s.per);
    if (s.rolling) q.set("rolling", String(s.rolling));
    return q;
  }

  function apiQuery(s, extra) {
    const q = new URLSearchParams({ term: s.word, by: s.by, per: s.per });
    if (s.show) q.set("show", s.show);
    if (s.split) q.set("split", s.split);
    if (s.speaker) q.set("speaker", s.speaker);
    Object.entries(extra || {}).forEach(([k, v]) => v != null && q.set(k, v));
    return q;
  }

  // The period after `key`, to tell a run of periods from a gap (a week, month or year without any episode).
  function nextKey(key, by) {
    if (by === "year") return String(+key + 1);
    if (by === "month") { const [y, m] = key.split("-").map(Number); return m === 12 ? `${y + 1}-01` : `${y}-${String(m + 1).padStart(2, "0")}`; }
    return null; // a week is compared by date instead: 7 days apart
  }

  function epoch(date) { return Date.parse(date + "T00:00:00Z") / 1000; }

  // Series (a word, or a show when split), x positions (one per episode or period, in date order; undated points
  // cannot sit on a time axis and are only in the table) and aligned values: undefined where a line has no point
  // (uPlot joins over it), null where the history has a gap (uPlot breaks the line there).
  function build(points, s) {
    const names = [], bySeries = {};
    for (const p of points) {
      const name = p.series || p.term;
      if (!bySeries[name]) { bySeries[name] = []; names.push(name); }
      bySeries[name].push(p);
    }
    const slots = new Map();
    for (const p of points) if (p.date && !slots.has(p.key)) slots.set(p.key, { key: p.key, date: p.date, label: p.label });
    const ordered = [...slots.values()].sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : 0));
    const xs = [], rows = [];
    let last = null;
    for (const slot of ordered) {
      let t = epoch(slot.date);
      if (last && s.by !== "episode") {
        const gap = s.by === "week" ? t - last.t > 7 * DAY : nextKey(last.key, s.by) !== slot.key;
        if (gap) { xs.push((last.t + t) / 2); rows.push(null); }
      }
      if (xs.length && t <= xs[xs.length - 1]) t = xs[xs.length - 1] + 3600; // two episodes of one day side by side
      xs.push(t);
      rows.push(slot);
      last = { t, key: slot.key };
    }
    const index = new Map();
    rows.forEach((slot, i) => slot && index.set(slot.key, i));
    const lines = names.map(name => {
      const pts = bySeries[name];
      const at = new Array(xs.length).fill(undefined);
      rows.forEach((slot, i) => { if (!slot) at[i] = null; });
      const dated = pts.filter(p => p.date);
      dated.forEach((p, j) => {
        let v = p.value;
        if (s.rolling > 1) { // trailing mean over this line's own points
          const from = Math.max(0, j - s.rolling + 1);
          v = dated.slice(from, j + 1).reduce((a, q) => a + q.value, 0) / (j + 1 - from);
        }
        at[index.get(p.key)] = Math.round(v * 1000) / 1000;
      });
      const byKey = new Map(pts.map(p => [p.key, p]));
      return { name, pts, at, byKey, show: pts[0] && pts[0].show, speaker: pts[0] && pts[0].speaker,
        colour: pts[0] && pts[0].colour };
    });
    return { xs, rows, lines, s, undated: points.filter(p => !p.date).length };
  }

  function where(p) { return p.episode_id ? (p.date || p.title || p.key) : p.key; }

  function summarize(line) {
    const said = line.pts.filter(p => p.count);
    const total = line.pts.reduce((a, p) => a + p.count, 0);
    const episodes = line.pts.reduce((a, p) => a + p.episodes, 0);
    if (!said.length) return { total, text: `“${line.name}”: 0 mentions — never said in ${episodes} episodes` };
    const peak = said.reduce((a, p) => (p.value > a.value ? p : a), said[0]);
    const mentioned = line.pts.reduce((a, p) => a + p.mentioned, 0);
    const first = said[0], latest = said[said.length - 1];
    const per = model.s.per === "raw" ? "" : ` (${peak.value} ${UNITS[model.s.per]})`;
    const latestText = latest === first ? "" : `, latest ${where(latest)}`;
    return { total, first, peak, latest,
      text: `“${line.name}”: ${total} mentions — first said ${where(first)}, peak ${where(peak)} with ${peak.count}${per}` +
        `${latestText}, said in ${mentioned} of ${episodes} episodes` };
  }

  // A line with a colour of its own (a speaker's, the same as on the pages: the server says it) keeps it; the others
  // take the chart's palette in turn, dashed once it is used up.
  function colour(i) { return model.lines[i].colour || palette[i % palette.length]; }
  function style(i) {
    return { stroke: colour(i), dash: !model.lines[i].colour && i >= palette.length ? [6, 4] : undefined };
  }

  // ▲ first, ★ peak, ■ latest mention of each line, in its colour.
  function drawMarkers(u) {
    const ctx = u.ctx;
    model.lines.forEach((line, i) => {
      if (!u.series[i + 1].show || !line.summary.first) return;
      const marks = [[line.summary.first, "▲"], [line.summary.latest, "■"], [line.summary.peak, "★"]]; // the peak on top
      ctx.save();
      ctx.fillStyle = colour(i);
      ctx.strokeStyle = "#fff";
      ctx.lineWidth = 3 * devicePixelRatio;
      ctx.font = `${14 * devicePixelRatio}px system-ui, sans-serif`;
      ctx.textAlign = "center";
      ctx.textBaseline = "bottom";
      for (const [p, glyph] of marks) {
        const idx = model.rows.findIndex(r => r && r.key === p.key);
        if (idx < 0 || line.at[idx] == null) continue;
        const x = u.valToPos(model.xs[idx], "x", true), y = u.valToPos(line.at[idx], "y", true) - 4 * devicePixelRatio;
        ctx.strokeText(glyph, x, y);
        ctx.fillText(glyph, x, y);
      }
      ctx.restore();
    });
  }

  function nearestLine(idx, top) {
    const y = plot ? plot.posToVal(top, "y") : 0;
    let best = null;
    model.lines.forEach(line => {
      const v = line.at[idx];
      if (v == null) return;
      if (!best || Math.abs(v - y) < Math.abs(best.at[idx] - y)) best = line;
    });
    return best;
  }

  function showTip(u) {
    const idx = u.cursor.idx;
    const slot = idx == null ? null : model.rows[idx];
    if (!slot) { tip.hidden = true; return; }
    tip.replaceChildren();
    const head = document.createElement("strong");
    head.textContent = slot.date + (slot.label !== slot.key || model.s.by === "episode" ? ` · ${slot.label}` : ` · ${slot.key}`);
    tip.append(head);
    model.lines.forEach((line, i) => {
      const p = line.byKey.get(slot.key);
      if (!p) return;
      const row = document.createElement("div");
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = colour(i);
      const norm = model.s.per === "raw" ? "" : ` · ${p.value} ${UNITS[model.s.per]}`;
      const smooth = model.s.rolling > 1 ? ` · rolling mean ${line.at[idx]}` : "";
      const episodes = p.episode_id ? "" : ` · ${p.mentioned} of ${p.episodes} episodes`;
      row.append(swatch, `${line.name}: ${p.count} mention${p.count === 1 ? "" : "s"}${norm}${smooth} · ${p.words.toLocaleString("en")} words${episodes}`);
      tip.append(row);
    });
    const left = u.valToPos(model.xs[idx], "x");
    tip.style.left = `${Math.min(chartEl.clientWidth - 260, Math.max(0, left + 60))}px`;
    tip.hidden = false;
  }

  function table() {
    const t = document.createElement("table");
    const head = t.createTHead().insertRow();
    ["date", model.s.by === "episode" ? "episode" : model.s.by].forEach(h => { const th = document.createElement("th"); th.textContent = h; head.append(th); });
    model.lines.forEach(line => {
      const th = document.createElement("th");
      th.textContent = model.s.per === "raw" ? line.name : `${line.name} (count · ${UNITS[model.s.per]})`;
      head.append(th);
    });
    const body = t.createTBody();
    const keys = new Map();
    model.lines.forEach(line => line.pts.forEach(p => keys.has(p.key) || keys.set(p.key, p)));
    for (const [key, p] of keys) {
      const tr = body.insertRow();
      tr.insertCell().textContent = p.date || "undated";
      tr.insertCell().textContent = p.label;
      model.lines.forEach(line => {
        const q = line.byKey.get(key);
        tr.insertCell().textContent = !q ? "" : model.s.per === "raw" ? String(q.count) : `${q.count} · ${q.value}`;
      });
    }
    $("trend-table").replaceChildren(t);
  }

  function render(points, s) {
    model = build(points, s);
    model.lines.forEach(line => (line.summary = summarize(line)));
    window.fonotecaTrend = Object.fromEntries(model.lines.map(l => [l.name, l.pts.map(p => p.count)]));
    window.fonotecaTrendValues = Object.fromEntries(model.lines.map(l => [l.name, l.pts.map(p => p.value)]));
    const undated = model.undated ? ` ${model.undated} undated point(s) are in the table only.` : "";
    summary.replaceChildren(...model.lines.map(l => { const d = document.createElement("div"); d.textContent = l.summary.text; return d; }));
    if (undated) summary.append(undated);
    table();
    $("trend-csv").href = `/api/trend.csv?${apiQuery(s)}`;
    const unit = UNITS[s.per] + (s.rolling > 1 ? ` (rolling mean of ${s.rolling})` : "");
    const opts = {
      width: Math.max(320, chartEl.clientWidth || 900), height: 320,
      scales: { x: { time: true } },
      axes: [{}, { label: unit }],
      series: [{ label: "date" }, ...model.lines.map((l, i) => ({ label: l.name, ...style(i), width: 2, spanGaps: false,
        points: { size: model.xs.length > 200 ? 3 : 6 }, value: (u, v) => (v == null ? "—" : v) }))],
      cursor: { focus: { prox: 24 } },
      legend: { live: false },
      hooks: { draw: [drawMarkers], setCursor: [showTip] },
    };
    if (plot) plot.destroy();
    plot = new uPlot(opts, [model.xs, ...model.lines.map(l => l.at)], chartEl);
    window.fonotecaTrendPlot = plot; // for the browser tests, like fonotecaTrend
    plot.over.addEventListener("click", () => open(plot.cursor.idx, plot.cursor.top));
    plot.over.addEventListener("mouseleave", () => (tip.hidden = true));
    active = null;
  }

  async function draw() {
    const s = settings();
    history.replaceState(null, "", `${location.pathname}${pageQuery(s).toString() ? "?" + pageQuery(s) : ""}`);
    errorEl.textContent = "";
    if (!s.word) {
      if (plot) { plot.destroy(); plot = null; }
      model = null;
      window.fonotecaTrend = null;
      summary.textContent = "Type a word (or several, comma-separated) to see it across the history.";
      return;
    }
    const mine = ++request;
    const response = await fetch(`/api/trend?${apiQuery(s)}`, { credentials: "same-origin" });
    if (mine !== request) return; // a newer setting already asked again
    if (!response.ok) {
      const detail = await response.json().catch(() => ({}));
      errorEl.textContent = typeof detail.detail === "string" ? detail.detail : "Could not load the chart: check the settings.";
      return;
    }
    render(await response.json(), s);
  }

  function clock(seconds) {
    const t = Math.floor(seconds), h = Math.floor(t / 3600), m = Math.floor((t % 3600) / 60), sec = String(t % 60).padStart(2, "0");
    return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
  }

  // The mentions behind a point: every line's words for that episode or period (its show's, when split by show; its
  // speaker's, when split by speaker: the line of everyone else lists them all).
  async function open(idx, top) {
    const slot = idx == null || !model ? null : model.rows[idx];
    if (!slot) return;
    const line = nearestLine(idx, top == null ? 0 : top) || model.lines[0];
    const s = model.s;
    const show = s.split === "show" ? line.show : s.show;
    const speaker = s.split === "speaker" ? line.speaker : s.speaker;
    const q = apiQuery({ ...s, split: "", speaker: "" }, { key: slot.key, show, speaker });
    const panel = $("trend-moments"), list = $("trend-moments-list");
    panel.hidden = false;
    $("trend-moments-title").textContent = `Loading the mentions of ${slot.label}…`;
    const response = await fetch(`/api/trend/moments?${q}`, { credentials: "same-origin" });
    if (!response.ok) { $("trend-moments-title").textContent = "Could not load the mentions."; return; }
    const found = await response.json();
    const where = s.by === "episode" ? `“${slot.label}” (${slot.date})` : `${s.by} ${slot.key}`;
    $("trend-moments-title").textContent = `${found.total} moment(s) in ${where}${s.split ? ` · ${line.name}` : ""}` +
      (found.total > found.hits.length ? `, the first ${found.hits.length}` : "");
    list.replaceChildren(...found.hits.map(hit => {
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.href = hit.url;
      a.textContent = `${hit.date || "undated"} · ${hit.title} · ${clock(hit.start)}` + (hit.speaker ? ` · ${hit.speaker}` : "");
      const said = document.createElement("q");
      said.innerHTML = hit.snippet; // escaped by the server, only the matched words in <b>
      li.append(a, " ", said);
      return li;
    }));
  }

  // Keyboard: arrows move between the points, Enter opens the current one.
  chartEl.addEventListener("keydown", e => {
    if (!plot || !model || !model.xs.length) return;
    const step = { ArrowRight: 1, ArrowLeft: -1, Home: -Infinity, End: Infinity }[e.key];
    if (step !== undefined) {
      e.preventDefault();
      let i = active == null ? (step > 0 ? -1 : model.xs.length) : active;
      do { i = Math.max(0, Math.min(model.xs.length - 1, isFinite(step) ? i + step : step > 0 ? model.xs.length - 1 : 0)); }
      while (!model.rows[i] && i > 0 && i < model.xs.length - 1);
      active = i;
      const line = model.lines.find(l => l.at[i] != null) || model.lines[0];
      plot.setCursor({ left: plot.valToPos(model.xs[i], "x"), top: plot.valToPos(line.at[i] || 0, "y") });
    } else if (e.key === "Enter" && active != null) {
      e.preventDefault();
      open(active, plot.cursor.top);
    }
  });

  // The PNG: the chart's canvas on white, with the sentence, the legend and the summary drawn around it.
  $("trend-png").addEventListener("click", () => {
    if (!plot) return;
    const src = plot.ctx.canvas, ratio = devicePixelRatio, pad = 12 * ratio, line = 18 * ratio;
    const said = form.querySelector(".sentence");
    const sentence = `${said.firstChild.textContent.trim()} “${settings().word}” ${said.lastChild.textContent.trim()}`;
    const title = `${sentence} (${UNITS[model.s.per]}, by ${model.s.by})`;
    const texts = model.lines.map(l => l.summary.text);
    const out = document.createElement("canvas");
    const font = `${13 * ratio}px system-ui, sans-serif`;
    const measure = out.getContext("2d");
    measure.font = font;
    const widest = Math.max(...[title, ...texts].map(t => measure.measureText(t).width));
    out.width = Math.ceil(Math.max(src.width, widest)) + 2 * pad; // a long summary line is not cut off
    out.height = src.height + 2 * pad + line * (2 + texts.length);
    const ctx = out.getContext("2d");
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, out.width, out.height);
    ctx.fillStyle = "#1d2430";
    ctx.font = font;
    ctx.fillText(title, pad, pad + line * 0.8);
    ctx.drawImage(src, pad, pad + line);
    texts.forEach((t, i) => {
      ctx.fillStyle = colour(i);
      ctx.fillText(t, pad, pad + line + src.height + line * (i + 1));
    });
    const a = document.createElement("a");
    a.download = "trend.png";
    a.href = out.toDataURL("image/png");
    a.click();
  });

  $("trend-copy").addEventListener("click", async () => {
    const button = $("trend-copy");
    try { await navigator.clipboard.writeText(location.href); button.textContent = "Link copied"; }
    catch { window.prompt("Copy this link:", location.href); }
  });

  function later() { clearTimeout(timer); timer = setTimeout(draw, 300); }
  $("trend-word").addEventListener("input", later);
  form.addEventListener("change", e => { if (e.target.id !== "trend-word") draw(); });
  form.addEventListener("submit", e => { e.preventDefault(); draw(); });
  window.addEventListener("resize", () => plot && plot.setSize({ width: Math.max(320, chartEl.clientWidth), height: 320 }));

  const first = settings();
  const embedded = JSON.parse($("trend-data").textContent);
  if (first.word && embedded.length) render(embedded, first);
  else if (!errorEl.textContent) draw();
})();
