/* Chart helpers on Apache ECharts (vendor/echarts). One look for every page. */
"use strict";

const PALETTE = ["#4c9aff", "#36b37e", "#ffab00", "#ff7a45", "#b37feb", "#00b8d9", "#ff5630",
  "#79e2f2", "#c0b6f2", "#57d9a3"];

function themeColors() {
  const css = getComputedStyle(document.documentElement);
  return { text: css.getPropertyValue("--text").trim(), muted: css.getPropertyValue("--muted").trim(),
    border: css.getPropertyValue("--border").trim(), critical: css.getPropertyValue("--critical").trim(),
    warning: css.getPropertyValue("--warning").trim() };
}

function makeChart(node) {
  const chart = echarts.init(node, null, { renderer: "canvas" });
  Toka.charts.add(chart);
  return chart;
}

function baseOption() {
  const c = themeColors();
  return {
    color: PALETTE, backgroundColor: "transparent", animation: false,
    textStyle: { color: c.text, fontFamily: "inherit" },
    grid: { left: 56, right: 18, top: 30, bottom: 30 },
    tooltip: { trigger: "axis", backgroundColor: "rgba(20,24,30,.92)", borderWidth: 0,
      textStyle: { color: "#e6e9ed" } },
    legend: { type: "scroll", top: 0, textStyle: { color: c.muted }, icon: "roundRect",
      itemHeight: 4, itemWidth: 14 },
    xAxis: { type: "time", axisLine: { lineStyle: { color: c.border } },
      axisLabel: { color: c.muted, hideOverlap: true }, splitLine: { show: false } },
    yAxis: { type: "value", axisLabel: { color: c.muted }, splitLine: { lineStyle: { color: c.border } } },
  };
}

/* A line per series of an /api/v1/series answer. */
function lineChart(node, result, options = {}) {
  const chart = makeChart(node);
  const c = themeColors();
  const option = baseOption();
  const label = options.label || ((s) => s.host + labelText(s.labels));
  option.series = result.series.map((s) => ({
    name: label(s), type: "line", showSymbol: s.points.length < 3, symbolSize: 5,
    smooth: false, lineStyle: { width: 1.6 }, areaStyle: options.area ? { opacity: 0.12 } : undefined,
    data: s.points.map(([t, v]) => [t * 1000, options.scale ? (v === null ? null : v * options.scale) : v]),
  }));
  if (options.unit === "B/s") option.yAxis.axisLabel.formatter = (v) => bytesRate(v);
  else if (options.unit) option.yAxis.axisLabel.formatter = (v) => fmt(v, 0) + options.unit;
  if (options.max) option.yAxis.max = options.max;
  if (result.start && result.end) { option.xAxis.min = result.start * 1000; option.xAxis.max = result.end * 1000; }
  const marks = [];
  if (options.warning !== undefined) marks.push({ yAxis: options.warning, lineStyle: { color: c.warning } });
  if (options.critical !== undefined) marks.push({ yAxis: options.critical, lineStyle: { color: c.critical } });
  if (marks.length && option.series.length) {
    option.series[0].markLine = { symbol: "none", silent: true, label: { show: false },
      lineStyle: { type: "dashed" }, data: marks };
  }
  if (!option.series.length) {
    option.title = { text: "no data in this range", left: "center", top: "middle",
      textStyle: { color: c.muted, fontSize: 13, fontWeight: 400 } };
  }
  chart.setOption(option);
  return chart;
}

function labelText(labels) {
  const keys = Object.keys(labels || {});
  return keys.length ? " " + keys.map((k) => `${k}=${labels[k]}`).join(",") : "";
}

/* History, then the forecast with its prediction band, warning and critical lines. */
function forecastChart(node, forecast, history) {
  const chart = makeChart(node);
  const c = themeColors();
  const option = baseOption();
  option.grid.right = 64;
  const asOf = forecast.as_of * 1000;
  const points = [[asOf, forecast.current_value, forecast.current_value, forecast.current_value]]
    .concat(forecast.forecasts.map((f) => [asOf + f.horizon_days * 86400000, f.value, f.lower, f.upper]));
  option.legend.data = ["history", "forecast", "prediction interval"];
  option.series = [
    { name: "history", type: "line", showSymbol: false, data: history, lineStyle: { width: 1.5 } },
    { name: "lower", type: "line", stack: "band", symbol: "none", lineStyle: { opacity: 0 },
      data: points.map((p) => [p[0], p[2]]), tooltip: { show: false } },
    { name: "prediction interval", type: "line", stack: "band", symbol: "none", lineStyle: { opacity: 0 },
      areaStyle: { color: PALETTE[0], opacity: 0.22 }, itemStyle: { color: "rgba(76,154,255,.45)" },
      data: points.map((p) => [p[0], p[3] - p[2]]) },
    { name: "forecast", type: "line", symbolSize: 6, lineStyle: { type: "dashed", width: 2 },
      color: PALETTE[0], data: points.map((p) => [p[0], p[1]]),
      markLine: { symbol: "none", silent: true, lineStyle: { type: "dashed" },
        label: { color: c.muted, formatter: "{b}" },
        data: [
          forecast.warning_threshold != null ? { name: "warning", yAxis: forecast.warning_threshold,
            lineStyle: { color: c.warning } } : null,
          forecast.critical_threshold != null ? { name: "critical", yAxis: forecast.critical_threshold,
            lineStyle: { color: c.critical } } : null,
        ].filter(Boolean) } },
  ];
  option.tooltip.formatter = (items) => items.filter((i) => i.seriesName !== "lower"
    && i.seriesName !== "prediction interval").map((i) => `${i.seriesName}: ${fmt(i.value[1])}`).join("<br>");
  chart.setOption(option);
  return chart;
}

function gaugeChart(node, value, title, max = 100) {
  const chart = makeChart(node);
  const c = themeColors();
  chart.setOption({
    backgroundColor: "transparent",
    series: [{ type: "gauge", min: 0, max, radius: "88%", center: ["50%", "55%"],
      progress: { show: false },
      axisLine: { lineStyle: { width: 10, color: [[0.7, "#36b37e"], [0.85, c.warning], [1, c.critical]] } },
      axisTick: { show: false }, splitLine: { length: 6, distance: 2, lineStyle: { color: c.border } },
      axisLabel: { color: c.muted, distance: 18, fontSize: 10 }, pointer: { width: 4, length: "55%" },
      anchor: { show: true, size: 8, itemStyle: { color: c.text } },
      title: { color: c.muted, offsetCenter: [0, "88%"], fontSize: 12 },
      detail: { valueAnimation: false, color: c.text, fontSize: 26, offsetCenter: [0, "58%"],
        formatter: (v) => (v === null ? "–" : v.toFixed(1)) },
      data: [{ value: value === null ? 0 : value, name: title }] }],
  });
  return chart;
}

function barChart(node, names, values, unit = "") {
  const chart = makeChart(node);
  const option = baseOption();
  option.xAxis = { type: "category", data: names,
    axisLabel: { color: themeColors().muted, interval: 0, rotate: names.length > 3 ? 30 : 0, width: 110, overflow: "truncate" } };
  option.grid = { left: 56, right: 18, top: 20, bottom: names.length > 3 ? 70 : 30 };
  option.yAxis.axisLabel.formatter = (v) => fmt(v, 0) + unit;
  option.legend = undefined;
  option.series = [{ type: "bar", data: values, barMaxWidth: 32, itemStyle: { borderRadius: [3, 3, 0, 0] } }];
  chart.setOption(option);
  return chart;
}

function heatmapChart(node, result) {
  const chart = makeChart(node);
  const c = themeColors();
  const times = [...new Set(result.series.flatMap((s) => s.points.map((p) => p[0])))].sort((a, b) => a - b);
  const rows = result.series.map((s) => s.host + labelText(s.labels));
  const index = new Map(times.map((t, i) => [t, i]));
  const data = [];
  let top = 0;
  result.series.forEach((s, row) => s.points.forEach(([t, v]) => {
    if (v !== null) { data.push([index.get(t), row, v]); top = Math.max(top, v); }
  }));
  chart.setOption({
    backgroundColor: "transparent", animation: false,
    tooltip: { position: "top" }, grid: { left: 150, right: 18, top: 10, bottom: 80 },
    xAxis: { type: "category", data: times.map((t) => new Date(t * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })),
      axisLabel: { color: c.muted } },
    yAxis: { type: "category", data: rows, axisLabel: { color: c.muted, width: 130, overflow: "truncate" } },
    visualMap: { min: 0, max: top || 1, calculable: true, orient: "horizontal", left: "center", bottom: 0,
      itemHeight: 160, itemWidth: 10, formatter: (v) => fmt(v, 0),
      textStyle: { color: c.muted }, inRange: { color: ["#0d2b45", "#1f6feb", "#ffab00", "#ff5630"] } },
    series: [{ type: "heatmap", data, emphasis: { itemStyle: { borderColor: "#fff" } } }],
  });
  return chart;
}

window.addEventListener("resize", () => { for (const chart of Toka.charts) chart.resize(); });
