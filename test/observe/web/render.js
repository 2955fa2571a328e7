// Lays out a Grafana dashboard model (24-column grid, 30 px grid rows) and
// draws its timeseries and stat panels with uPlot from Prometheus queries.
// URL parameters: end (unix seconds), range (seconds), step (seconds),
// rate ($__rate_interval), ns (the $namespace variable).
"use strict";
(async function () {
  const q = new URLSearchParams(location.search);
  const end = Number(q.get("end")) || Math.floor(Date.now() / 1000);
  const range = Number(q.get("range")) || 900;
  const step = Number(q.get("step")) || 5;
  const vars = { __rate_interval: q.get("rate") || "1m", __interval: step + "s", __range: range + "s", namespace: q.get("ns") || ".*" };
  const start = end - range;
  const width = document.documentElement.clientWidth - 16;
  const col = width / 24, rowH = 30;
  const colors = ["#73bf69", "#f2cc0c", "#5794f2", "#ff9830", "#f2495c", "#b877d9", "#8ab8ff", "#fade2a", "#96d98d", "#ffa6b0"];

  const expand = (e) => Object.keys(vars).sort((a, b) => b.length - a.length)
    .reduce((s, k) => s.split("${" + k + "}").join(vars[k]).split("$" + k).join(vars[k]), e);
  const legend = (fmt, metric) => fmt.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, k) => metric[k] ?? "");
  async function prom(path, params) {
    const r = await fetch(path + "?" + new URLSearchParams(params));
    const j = await r.json();
    if (j.status !== "success") throw new Error(j.error || r.statusText);
    return j.data;
  }
  function fmt(unit, v) {
    if (v == null || isNaN(v)) return "–";
    const si = (x, suf) => {
      const a = Math.abs(x);
      if (a >= 1e6) return +(x / 1e6).toPrecision(3) + " M" + suf;
      if (a >= 1e3) return +(x / 1e3).toPrecision(3) + " k" + suf;
      if (a > 0 && a < 0.01) return +(x * 1e3).toPrecision(3) + " m" + suf;
      return +x.toPrecision(3) + (suf ? " " + suf : "");
    };
    switch (unit) {
      case "reqps": return si(v, "req/s");
      case "ops": return si(v, "ops/s");
      case "percentunit": return +(v * 100).toPrecision(3) + "%";
      case "bytes": {
        const u = ["B", "KiB", "MiB", "GiB"]; let i = 0;
        while (Math.abs(v) >= 1024 && i < u.length - 1) { v /= 1024; i++; }
        return +v.toPrecision(3) + " " + u[i];
      }
      case "s":
        if (v === 0) return "0 s";
        if (v < 1e-3) return +(v * 1e6).toPrecision(3) + " µs";
        if (v < 1) return +(v * 1e3).toPrecision(3) + " ms";
        return +v.toPrecision(3) + " s";
      default: return si(v, "");
    }
  }

  const dash = await (await fetch("/dashboard.json")).json();
  document.getElementById("title").textContent = dash.title;
  document.getElementById("sub").textContent = "last " + Math.round(range / 60) + " minutes, step " + step + "s, to " +
    new Date(end * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC · drawn from the dashboard JSON by test/observe/web";
  const grid = document.getElementById("grid");
  let bottom = 0;
  const jobs = [];
  for (const p of dash.panels) {
    const g = p.gridPos;
    bottom = Math.max(bottom, (g.y + g.h) * rowH);
    const el = document.createElement("div");
    Object.assign(el.style, { left: g.x * col + "px", top: g.y * rowH + "px", width: g.w * col - 6 + "px", height: g.h * rowH - 6 + "px" });
    if (p.type === "row") { el.className = "row"; el.textContent = p.title; grid.appendChild(el); continue; }
    el.className = "panel";
    const h2 = document.createElement("h2"); h2.textContent = p.title; el.appendChild(h2);
    grid.appendChild(el);
    const unit = p.fieldConfig?.defaults?.unit || "short";
    if (p.type === "stat") {
      jobs.push((async () => {
        const d = await prom("/api/v1/query", { query: expand(p.targets[0].expr), time: end });
        const v = d.result.length ? Number(d.result[0].value[1]) : NaN;
        const s = document.createElement("div"); s.className = "stat"; s.textContent = fmt(unit, Math.round(v * 100) / 100);
        el.appendChild(s);
      })());
      continue;
    }
    jobs.push((async () => {
      const xs = []; for (let t = start; t <= end; t += step) xs.push(t);
      const series = [{}], data = [xs];
      for (const t of p.targets) {
        const d = await prom("/api/v1/query_range", { query: expand(t.expr), start, end, step });
        for (const r of d.result) {
          const byT = new Map(r.values.map(([ts, v]) => [Math.round(ts), Number(v)]));
          data.push(xs.map((x) => { const v = byT.get(x); return v === undefined || isNaN(v) ? null : v; }));
          const c = colors[(series.length - 1) % colors.length];
          series.push({ label: legend(t.legendFormat, r.metric), stroke: c, fill: c + "1a", width: 1.5, spanGaps: true, value: (u, v) => fmt(unit, v) });
        }
      }
      if (series.length === 1) { const n = document.createElement("div"); n.className = "nodata"; n.textContent = "No data"; el.appendChild(n); return; }
      const axis = { stroke: "#8e8ea0", grid: { stroke: "#2c3235", width: 1 }, ticks: { stroke: "#2c3235" } };
      // Legend lines: about 7 px a character, wrapped at the panel's width.
      const chars = series.slice(1).reduce((n, s) => n + s.label.length + 4, 0);
      const legendRows = Math.max(1, Math.ceil((chars * 7) / (g.w * col - 20)));
      new uPlot({
        width: g.w * col - 10, height: g.h * rowH - 40 - 16 * legendRows,
        series, legend: { live: false },
        scales: { y: { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] } },
        axes: [{ ...axis, values: (u, ts) => ts.map((t) => new Date(t * 1000).toISOString().slice(11, range < 1800 ? 19 : 16)) },
          { ...axis, size: 70, values: (u, vs) => vs.map((v) => fmt(unit, v)) }],
      }, data, el);
    })());
  }
  grid.style.height = bottom + "px";
  const results = await Promise.allSettled(jobs);
  const failed = results.filter((r) => r.status === "rejected");
  // The alerts Prometheus evaluates from the chart's PrometheusRule.
  try {
    const a = await prom("/api/v1/alerts", {});
    const div = document.getElementById("alerts");
    div.innerHTML = "<h2>Alerts of the chart's PrometheusRule, evaluated by this Prometheus</h2>";
    const tb = document.createElement("table");
    for (const al of a.alerts) {
      const tr = tb.insertRow();
      tr.insertCell().innerHTML = '<span class="' + al.state + '">' + al.state + "</span>";
      tr.insertCell().textContent = al.labels.alertname;
      tr.insertCell().textContent = Object.entries(al.labels).filter(([k]) => k !== "alertname").map(([k, v]) => k + "=" + v).join(" ");
    }
    if (!a.alerts.length) tb.insertRow().insertCell().textContent = "none pending or firing";
    div.appendChild(tb);
  } catch (e) { failed.push({ reason: e }); }
  document.body.dataset.ready = failed.length ? "errors: " + failed.map((f) => f.reason).join("; ") : "ok";
})().catch((e) => { document.body.dataset.ready = "error: " + e; document.body.append("error: " + e); });
