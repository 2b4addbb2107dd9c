/* The configurable page: dashboard.widgets (line, bar, gauge, counter, table, heatmap). */
"use strict";

function latestPerSeries(result) {
  return result.series.map((s) => {
    const last = [...s.points].reverse().find((p) => p[1] !== null);
    return { name: s.host + labelText(s.labels), value: last ? last[1] : null };
  });
}

const WIDGET_KINDS = {
  gauge(node, w, data) {
    const values = latestPerSeries(data).filter((v) => v.value !== null);
    const top = values.reduce((a, b) => (b.value > (a?.value ?? -Infinity) ? b : a), null);
    const title = values.length > 1 ? `max of ${values.length}: ${top.name}` : (top ? top.name : "no data");
    gaugeChart(node, top ? top.value : null, title, w.metric.endsWith("percent") ? 100 : Math.max(1, (top?.value || 0) * 1.5));
  },
  line(node, w, data) { lineChart(node, data, { area: data.series.length === 1 }); },
  bar(node, w, data) {
    const values = latestPerSeries(data);
    barChart(node, values.map((v) => v.name), values.map((v) => v.value));
  },
  counter(node, w, data) {
    const total = latestPerSeries(data).reduce((sum, v) => sum + (v.value || 0), 0);
    node.innerHTML = `<div class="counter">${fmt(total)}</div><div class="muted small" style="text-align:center">sum of the latest ${esc(w.field)} over ${data.series.length} series</div>`;
  },
  table(node, w, data) {
    if (w.metric === "alerts") {
      const now = Date.now() / 1000;
      node.innerHTML = `<div class="scroll"><table>${ALERT_HEAD}<tbody>${alertRows(data, now)}</tbody></table></div>`;
      return;
    }
    node.innerHTML = `<table><thead><tr><th>Series</th><th class="num">${esc(w.field)}</th></tr></thead><tbody>${
      latestPerSeries(data).map((v) => `<tr><td>${esc(v.name)}</td><td class="num">${fmt(v.value, 2)}</td></tr>`).join("")
      || emptyRow(2, "no data")}</tbody></table>`;
  },
  heatmap(node, w, data) { heatmapChart(node, data); },
};

Toka.pages.widgets = {
  title: () => "Dashboard",
  async render() {
    const widgets = Toka.config.widgets;
    const data = await Promise.all(widgets.map((w) => {
      if (w.metric === "alerts") return api("/api/v1/alerts");
      const params = { name: w.metric, field: w.field };
      if (w.host) params.host = w.host;
      if (["gauge", "bar", "counter", "table"].includes(w.type)) params.range = "15m";
      return series(params);
    }));
    setPage(rangeBar() + `<div class="grid two">` + widgets.map((w) => card(w.title,
      `<div id="widget-${esc(w.id)}" class="${["table", "counter"].includes(w.type) ? "" : "chart"}" data-type="${esc(w.type)}"></div>`,
      `<span class="muted small mono">${esc(w.type)} · ${esc(w.metric)}${w.spec_name !== w.metric ? " (" + esc(w.spec_name) + ")" : ""}</span>`)).join("") + `</div>`);
    bindRange();
    widgets.forEach((w, i) => WIDGET_KINDS[w.type](document.getElementById("widget-" + w.id), w, data[i]));
  },
};
