/* The pages: overview, host, services, service, alerts, capacity, regressions. */
"use strict";

Toka.range = localStorage.getItem("toka.range") || "1h";

function setPage(html) {
  disposeCharts();
  document.getElementById("page").innerHTML = html;
}

function rangeBar() {
  const ranges = ["15m", "1h", "6h", "24h", "7d"];
  return `<div class="toolbar"><span class="muted small">Range</span><div class="seg">${ranges.map((r) =>
    `<button data-range="${r}" class="${r === Toka.range ? "on" : ""}">${r}</button>`).join("")}</div></div>`;
}

function bindRange() {
  for (const button of document.querySelectorAll("[data-range]")) {
    button.addEventListener("click", () => {
      Toka.range = button.dataset.range;
      localStorage.setItem("toka.range", Toka.range);
      render();
    });
  }
}

function series(params) {
  return api("/api/v1/series?" + new URLSearchParams(Object.assign({ range: Toka.range }, params)));
}

function alertRows(alerts, now, withHost = true) {
  if (!alerts.length) return emptyRow(withHost ? 6 : 5, "No active alerts");
  return alerts.map((a) => `<tr data-alert="${esc(a.fingerprint)}"><td>${badge(a.severity)}</td>
    <td><strong>${esc(a.alertname)}</strong><div class="muted small">${esc(a.annotations.summary || "")}</div></td>
    ${withHost ? `<td><a href="#/host/${encodeURIComponent(a.host)}">${esc(a.host)}</a></td>` : ""}
    <td class="num">${fmt(a.value)} <span class="muted">/ ${fmt(a.threshold)}</span></td>
    <td class="num">${age(now - alertStart(a))}</td>
    <td>${a.labels.toka_group ? `<span class="muted small">group ${esc(a.labels.toka_group)}</span>` : ""}
        ${a.labels.escalated ? badge("escalated") : ""}${a.labels.flapping ? badge("flapping") : ""}</td></tr>`).join("");
}

const ALERT_HEAD = `<thead><tr><th>Severity</th><th>Alert</th><th>Host</th><th class="num">Value / threshold</th>
  <th class="num">Age</th><th></th></tr></thead>`;

Toka.pages.overview = {
  title: () => "Overview",
  async render() {
    const data = await api("/api/v1/overview");
    const t = Toka.config.thresholds;
    const bySeverity = {};
    for (const a of data.alerts) bySeverity[a.severity] = (bySeverity[a.severity] || 0) + 1;
    const hostAlerts = {};
    for (const a of data.alerts) hostAlerts[a.host] = (hostAlerts[a.host] || 0) + 1;
    const kpis = `<div class="grid kpis">
      <div class="card kpi"><div class="label">Hosts reporting</div><div class="value">${data.hosts.length}</div></div>
      <div class="card kpi critical"><div class="label">Critical alerts</div><div class="value" id="kpi-critical">${bySeverity.critical || 0}</div></div>
      <div class="card kpi warning"><div class="label">Warning alerts</div><div class="value">${(bySeverity.warning || 0) + (bySeverity.high || 0)}</div></div>
      <div class="card kpi"><div class="label">Recent findings</div><div class="value">${data.findings.length}</div></div></div>`;
    const hosts = data.hosts.map((h) => `<tr><td><a href="#/host/${encodeURIComponent(h.host)}"><strong>${esc(h.host)}</strong></a>
        ${hostAlerts[h.host] ? ` ${badge("firing")}` : ""}</td>
      <td>${meter(h.cpu, t.cpu_warning_percent, t.cpu_critical_percent)}</td>
      <td>${meter(h.memory, t.memory_warning_percent, t.memory_critical_percent)}</td>
      <td>${meter(h.disk, 80, 90)}</td>
      <td class="num">${bytesRate(h.network_rx)}</td><td class="num">${bytesRate(h.network_tx)}</td>
      <td class="num muted">${age(data.now - h.last_seen)} ago</td></tr>`).join("") || emptyRow(7, "No host has reported yet");
    const findings = data.findings.map((f) => `<tr><td>${badge(f.severity)}</td>
      <td>${esc(f.finding === "regressions" ? "regression" : f.kind)}</td>
      <td class="mono">${esc(f.subject || f.series)}</td>
      <td class="num">${f.change_percent !== undefined ? fmt(f.change_percent) + "%" : fmt(f.observed)}</td>
      <td class="num muted">${age(data.now - f.ts)} ago</td></tr>`).join("") || emptyRow(5, "No regressions or anomalies");
    setPage(kpis + `<div class="grid">`
      + card("Active alerts", `<table id="active-alerts">${ALERT_HEAD}<tbody>${alertRows(data.alerts, data.now)}</tbody></table>`,
        `<a href="#/alerts">all alerts →</a>`)
      + card(`Hosts (${data.hosts.length})`, `<table id="hosts"><thead><tr><th>Host</th><th>CPU</th><th>Memory</th>
          <th>Disk (fullest)</th><th class="num">Net in</th><th class="num">Net out</th><th class="num">Last seen</th></tr></thead>
          <tbody>${hosts}</tbody></table>`)
      + card("Recent findings", `<table><thead><tr><th>Severity</th><th>Kind</th><th>Subject</th>
          <th class="num">Change / value</th><th class="num">When</th></tr></thead><tbody>${findings}</tbody></table>`,
        `<a href="#/regressions">regressions →</a>`) + `</div>`);
  },
};

Toka.pages.host = {
  title: (host) => "Host · " + host, nav: "overview",
  async render(host) {
    const info = await api("/api/v1/hosts/" + encodeURIComponent(host));
    const t = Toka.config.thresholds;
    const latest = {};
    for (const s of info.series) if (!Object.keys(s.labels).length) latest[s.name] = s;
    const fact = (label, value) => `<div class="fact"><div class="label">${label}</div><div class="value">${value}</div></div>`;
    const others = info.series.map((s, i) => `<tr class="pick" data-series="${i}" title="chart this series"><td class="mono">${esc(s.name)}${esc(labelText(s.labels))}</td>
      <td>${esc(s.type)}</td><td class="num">${fmt(s.type === "counter" ? s.rate : s.mean, 2)}${s.type === "counter" ? "/s" : ""}</td>
      <td class="num">${fmt(s.max, 2)}</td></tr>`).join("");
    const forecasts = info.capacity.map((f) => `<tr><td class="mono">${esc(f.name)}</td><td>${esc(f.model)}</td>
      <td class="num">${f.time_to_critical_seconds ? age(f.time_to_critical_seconds) : "beyond horizon"}</td>
      <td>${badge(f.recommendation)}</td></tr>`).join("") || emptyRow(4, "No forecast for this host yet");
    const chosen = info.series.find((x) => x.series === Toka.picked) || info.series[0];
    const pickedOf = (x) => series({ name: x.name, series: x.series, field: x.type === "counter" ? "rate" : "mean" });
    // Everything is fetched before the page is replaced: a refresh never shows empty charts.
    const [cpu, memory, disk, rx, tx, picked] = await Promise.all([
      series({ name: "system_cpu_percent", host }), series({ name: "system_memory_percent", host }),
      series({ name: "system_disk_used_percent", host, field: "max" }),
      series({ name: "system_network_receive_bytes_total", host, field: "rate" }),
      series({ name: "system_network_transmit_bytes_total", host, field: "rate" }),
      chosen ? pickedOf(chosen) : null]);
    setPage(rangeBar() + `<div class="grid">`
      + card("Now", `<div class="facts">${fact("CPU", fmt(latest.system_cpu_percent?.mean) + "%")}
          ${fact("Memory", fmt(latest.system_memory_percent?.mean) + "%")}
          ${fact("Swap", fmt(latest.system_swap_percent?.mean) + "%")}
          ${fact("Series", info.series.length)}${fact("Active alerts", info.alerts.length)}</div>`)
      + `<div class="grid two">`
      + card("CPU %", `<div class="chart" id="chart-cpu"></div>`)
      + card("Memory %", `<div class="chart" id="chart-memory"></div>`)
      + card("Disk used %", `<div class="chart" id="chart-disk"></div>`)
      + card("Network", `<div class="chart" id="chart-network"></div>`) + `</div>`
      + card("Active alerts", `<table>${ALERT_HEAD.replace("<th>Host</th>", "")}<tbody>${alertRows(info.alerts, Date.now() / 1000, false)}</tbody></table>`)
      + card("Capacity forecasts", `<table><thead><tr><th>Series</th><th>Model</th><th class="num">Time to critical</th>
          <th>Recommendation</th></tr></thead><tbody>${forecasts}</tbody></table>`, `<a href="#/capacity">capacity →</a>`)
      + card("Series", `<div class="chart" id="chart-picked"></div><p class="muted small" id="picked-hint">Pick a series below to chart it.</p>`)
      + card("All series", `<table><thead><tr><th>Series</th><th>Type</th><th class="num">Latest</th><th class="num">Max</th></tr></thead>
          <tbody>${others}</tbody></table>`) + `</div>`);
    bindRange();
    const draw = (x, data) => {
      const node = document.getElementById("chart-picked");
      const old = echarts.getInstanceByDom(node);
      if (old) { Toka.charts.delete(old); old.dispose(); }
      lineChart(node, data, { area: true, label: () => x.name + labelText(x.labels) });
      document.getElementById("picked-hint").textContent = x.name + labelText(x.labels);
      Toka.picked = x.series;
    };
    for (const row of document.querySelectorAll("tr.pick")) {
      const x = info.series[Number(row.dataset.series)];
      row.addEventListener("click", async () => draw(x, await pickedOf(x)));
    }
    if (chosen) draw(chosen, picked);
    const only = (s) => labelText(s.labels).trim() || s.host;
    lineChart(document.getElementById("chart-cpu"), cpu, { unit: "%", max: 100, area: true,
      warning: t.cpu_warning_percent, critical: t.cpu_critical_percent, label: () => "cpu" });
    lineChart(document.getElementById("chart-memory"), memory, { unit: "%", max: 100, area: true,
      warning: t.memory_warning_percent, critical: t.memory_critical_percent, label: () => "memory" });
    lineChart(document.getElementById("chart-disk"), disk, { unit: "%", max: 100, label: only });
    rx.series.forEach((s) => { s.labels = Object.assign({ dir: "in" }, s.labels); });
    tx.series.forEach((s) => { s.labels = Object.assign({ dir: "out" }, s.labels); });
    lineChart(document.getElementById("chart-network"), { series: rx.series.concat(tx.series), start: rx.start, end: rx.end },
      { unit: "B/s", label: only });
  },
};

Toka.pages.services = {
  title: () => "Services",
  async render() {
    const services = await api("/api/v1/services");
    const rows = services.map((s) => `<tr><td><a href="#/service/${encodeURIComponent(s.service)}"><strong>${esc(s.service)}</strong></a></td>
      <td class="num">${fmt(s.calls_per_second, 2)}</td><td class="num">${fmt((s.error_ratio || 0) * 100, 2)}%</td>
      <td class="num">${fmt((s.p95_seconds || 0) * 1000, 1)} ms</td></tr>`).join("") || emptyRow(4, "No spans received yet");
    setPage(card("Services (RED from spans)", `<table><thead><tr><th>Service</th><th class="num">Calls/s</th>
      <th class="num">Errors</th><th class="num">p95</th></tr></thead><tbody>${rows}</tbody></table>`));
  },
};

Toka.pages.service = {
  title: (name) => "Service · " + name, nav: "services",
  async render(name) {
    const labels = "service=" + name;
    const [calls, errors, p50, p95, p99] = await Promise.all([
      series({ name: "toka_span_calls", labels, field: "sum" }),
      series({ name: "toka_span_errors", labels, field: "mean" }),
      ...["p50", "p95", "p99"].map((field) => series({ name: "toka_span_duration_seconds", labels, field }))]);
    setPage(rangeBar() + `<div class="grid two">` + card("Calls per second", `<div class="chart" id="chart-calls"></div>`)
      + card("Error ratio %", `<div class="chart" id="chart-errors"></div>`)
      + card("Duration p50 / p95 / p99 (ms)", `<div class="chart" id="chart-duration"></div>`) + `</div>`);
    bindRange();
    const op = (s) => s.labels.operation || s.series;
    lineChart(document.getElementById("chart-calls"), calls, { scale: 1 / calls.step, label: op });
    lineChart(document.getElementById("chart-errors"), errors, { scale: 100, unit: "%", label: op });
    const tagged = [[p50, "p50"], [p95, "p95"], [p99, "p99"]].flatMap(([r, q]) =>
      r.series.map((s) => Object.assign({}, s, { labels: { q, op: op(s) } })));
    lineChart(document.getElementById("chart-duration"), { series: tagged, start: p50.start, end: p50.end }, { scale: 1000,
      label: (s) => `${s.labels.q} ${s.labels.op}` });
  },
};

Toka.pages.alerts = {
  title: () => "Alerts",
  async render() {
    const severity = Toka.alertSeverity || "";
    const query = new URLSearchParams({ state: "all", limit: "300" });
    if (severity) query.set("severity", severity);
    const [active, history] = await Promise.all([
      api("/api/v1/alerts" + (severity ? "?severity=" + severity : "")), api("/api/v1/alerts?" + query)]);
    const now = Date.now() / 1000;
    const groups = {};
    for (const a of active) if (a.labels.toka_group) (groups[a.labels.toka_group] ||= []).push(a);
    const historyRows = history.map((a) => `<tr><td>${badge(a.status)}</td><td>${badge(a.severity)}</td>
      <td>${esc(a.alertname)}</td><td><a href="#/host/${encodeURIComponent(a.host)}">${esc(a.host)}</a></td>
      <td class="num">${fmt(a.value)}</td><td class="num muted">${clock(a.ts)}</td></tr>`).join("") || emptyRow(6, "No alert changes");
    const groupRows = Object.entries(groups).map(([g, list]) => `<tr><td class="mono">${esc(g)}</td><td class="num">${list.length}</td>
      <td>${list.map((a) => esc(a.alertname + "@" + a.host)).join(", ")}</td></tr>`).join("") || emptyRow(3, "No grouped alerts");
    setPage(`<div class="toolbar"><span class="muted small">Severity</span><select id="severity">
        ${["", "critical", "high", "warning", "low"].map((s) => `<option value="${s}" ${s === severity ? "selected" : ""}>${s || "all"}</option>`).join("")}
      </select></div><div class="grid">`
      + card(`Active (${active.length})`, `<table>${ALERT_HEAD}<tbody>${alertRows(active, now)}</tbody></table>`)
      + card("Groups", `<table><thead><tr><th>Group</th><th class="num">Alerts</th><th>Members</th></tr></thead><tbody>${groupRows}</tbody></table>`)
      + card("History (24 h)", `<table><thead><tr><th>Status</th><th>Severity</th><th>Alert</th><th>Host</th>
          <th class="num">Value</th><th class="num">When</th></tr></thead><tbody>${historyRows}</tbody></table>`) + `</div>`);
    document.getElementById("severity").addEventListener("change", (event) => {
      Toka.alertSeverity = event.target.value;
      render();
    });
  },
};

Toka.pages.capacity = {
  title: () => "Capacity",
  async render() {
    const forecasts = await api("/api/v1/capacity");
    if (!forecasts.length) {
      setPage(card("Capacity forecasts", `<p class="empty">No forecast yet: the capacity stage needs a few hours of history per series.</p>`));
      return;
    }
    const histories = await Promise.all(forecasts.map(async (f) => {
      const history = await api("/api/v1/series?" + new URLSearchParams({ name: f.name, host: f.host, range: "7d" }));
      return history.series.filter((s) => s.series === f.series).flatMap((s) => s.points)
        .map(([t, v]) => [t * 1000, v]);
    }));
    setPage(`<div class="grid two">` + forecasts.map((f, i) => card(`${f.host} · ${f.name}`,
      `<div class="facts">
        <div class="fact"><div class="label">Now</div><div class="value">${fmt(f.current_value)}</div></div>
        <div class="fact"><div class="label">To warning</div><div class="value">${f.time_to_warning_seconds ? age(f.time_to_warning_seconds) : "—"}</div></div>
        <div class="fact"><div class="label">To critical</div><div class="value">${f.time_to_critical_seconds ? age(f.time_to_critical_seconds) : "—"}</div></div>
        <div class="fact"><div class="label">Model</div><div class="value">${esc(f.model)} <span class="muted small">${esc(f.growth_pattern)}</span></div></div>
      </div><div class="chart tall" id="forecast-${i}"></div>`, badge(f.recommendation))).join("") + `</div>`);
    forecasts.forEach((f, i) => forecastChart(document.getElementById("forecast-" + i), f, histories[i]));
  },
};

Toka.pages.regressions = {
  title: () => "Regressions",
  async render() {
    const [regressions, anomalies] = await Promise.all([api("/api/v1/regressions?limit=100"), api("/api/v1/anomalies?limit=50")]);
    const canChange = Toka.me && (Toka.me.role === "operator" || Toka.me.role === "admin");
    const title = canChange ? "" : "needs the operator role";
    const buttons = (subject) => ["pin", "unpin", "reset"].map((action) =>
      `<button class="small ghost" data-action="${action}" data-subject="${esc(subject)}" ${canChange ? "" : "disabled"} title="${title}">${action}</button>`).join(" ");
    const rows = regressions.map((r) => `<tr><td>${badge(r.severity)}</td><td class="mono">${esc(r.subject)}</td>
      <td>${esc(r.field)}</td><td class="num">${fmt(r.baseline.mean, 3)}</td><td class="num">${fmt(r.current.mean, 3)}</td>
      <td class="num">${r.change_percent > 0 ? "+" : ""}${fmt(r.change_percent)}%</td><td class="num">${r.p_value.toExponential(1)}</td>
      <td>${esc(r.direction)}</td><td class="num muted">${clock(r.ts)}</td><td>${buttons(r.subject)}</td></tr>`).join("") || emptyRow(10, "No regressions detected");
    const anomalyRows = anomalies.map((a) => `<tr><td>${badge(a.severity)}</td><td>${esc(a.kind)}</td><td class="mono">${esc(a.series)}</td>
      <td class="num">${fmt(a.observed, 2)}</td><td class="num">${fmt(a.lower, 2)} – ${fmt(a.upper, 2)}</td>
      <td class="num muted">${clock(a.ts)}</td></tr>`).join("") || emptyRow(6, "No anomalies");
    setPage(`<div class="grid">` + card("Baseline against current", `<div class="chart" id="chart-regressions"></div>`)
      + card("Regressions", `<table><thead><tr><th>Severity</th><th>Subject</th><th>Field</th><th class="num">Baseline</th>
        <th class="num">Current</th><th class="num">Change</th><th class="num">p</th><th>Direction</th><th class="num">When</th><th>Baseline</th></tr></thead>
        <tbody>${rows}</tbody></table>`)
      + card("Anomalies", `<table><thead><tr><th>Severity</th><th>Kind</th><th>Series</th><th class="num">Observed</th>
        <th class="num">Expected range</th><th class="num">When</th></tr></thead><tbody>${anomalyRows}</tbody></table>`) + `</div>`);
    for (const button of document.querySelectorAll("[data-action]")) {
      button.addEventListener("click", async () => {
        try {
          await api("/api/v1/baselines/" + button.dataset.action, { method: "POST", body: { subject: button.dataset.subject } });
          toast(`${button.dataset.action} sent for ${button.dataset.subject}`);
        } catch (error) { toast(error.message); }
      });
    }
    const top = regressions.slice(0, 12);
    const chart = makeChart(document.getElementById("chart-regressions"));
    const option = baseOption();
    option.xAxis = { type: "category", data: top.map((r) => r.subject.split("|").slice(0, 2).join(" ")),
      axisLabel: { color: themeColors().muted, rotate: top.length > 5 ? 25 : 0 } };
    option.series = [
      { name: "baseline", type: "bar", data: top.map((r) => r.baseline.mean), barMaxWidth: 28 },
      { name: "current", type: "bar", data: top.map((r) => r.current.mean), barMaxWidth: 28 }];
    chart.setOption(option);
  },
};
