/* Toka dashboard core: API calls, session, router, formatting, live updates. No build step. */
"use strict";

const Toka = {
  config: null, me: null, charts: new Set(), timer: null, route: null, page: null,
};

class Unauthorized extends Error {}

async function api(path, options = {}) {
  const headers = Object.assign({ Accept: "application/json" }, options.headers || {});
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  if (options.method && options.method !== "GET" && Toka.me) headers["X-CSRF-Token"] = Toka.me.csrf;
  const response = await fetch(path, {
    method: options.method || "GET", headers, credentials: "same-origin",
    body: options.body !== undefined ? JSON.stringify(options.body) : undefined,
  });
  if (response.status === 401) throw new Unauthorized((await response.json()).error);
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => (
    { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

function fmt(value, digits = 1) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  const abs = Math.abs(value);
  if (abs >= 1e9) return (value / 1e9).toFixed(digits) + "G";
  if (abs >= 1e6) return (value / 1e6).toFixed(digits) + "M";
  if (abs >= 1e4) return (value / 1e3).toFixed(digits) + "k";
  return Number(value).toFixed(abs < 10 && digits < 2 ? digits + 1 : digits);
}

function bytesRate(value) {
  if (value === null || value === undefined) return "–";
  const units = ["B/s", "KB/s", "MB/s", "GB/s"];
  let v = value, i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
  return v.toFixed(v < 10 ? 1 : 0) + " " + units[i];
}

function age(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.max(0, seconds);
  if (s < 60) return Math.round(s) + "s";
  if (s < 3600) return Math.round(s / 60) + "m";
  if (s < 86400) return (s / 3600).toFixed(1) + "h";
  return (s / 86400).toFixed(1) + "d";
}

function clock(ts) {
  return new Date(ts * 1000).toLocaleString([], { month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

function alertStart(alert) {
  const parsed = Date.parse(alert.starts_at);
  return Number.isNaN(parsed) ? alert.first_ts || alert.ts : parsed / 1000;
}

function badge(text) {
  return `<span class="badge sev-${esc(text)}">${esc(text)}</span>`;
}

function meter(value, warning, critical) {
  if (value === null || value === undefined) return '<span class="muted">–</span>';
  const level = value >= critical ? "critical" : value >= warning ? "warning" : "";
  const width = Math.max(0, Math.min(100, value));
  return `<div class="meter"><div class="bar"><div class="fill ${level}" style="width:${width}%"></div></div>`
    + `<span class="val">${value.toFixed(1)}%</span></div>`;
}

function card(title, body, right = "") {
  return `<section class="card"><h2>${esc(title)}${right ? `<span class="right">${right}</span>` : ""}</h2>${body}</section>`;
}

function emptyRow(columns, text) {
  return `<tr><td colspan="${columns}" class="empty">${esc(text)}</td></tr>`;
}

/* Pages register here: Toka.pages[name] = { title, render(args) -> Promise<void> }. */
Toka.pages = {};

function disposeCharts() {
  for (const chart of Toka.charts) chart.dispose();
  Toka.charts.clear();
}

function parseRoute() {
  const hash = location.hash.replace(/^#\/?/, "");
  const [name, ...rest] = hash.split("/");
  return { name: name || "overview", arg: rest.map(decodeURIComponent).join("/") };
}

async function render(full = true) {
  const route = parseRoute();
  const page = Toka.pages[route.name] || Toka.pages.overview;
  const changed = !Toka.route || Toka.route.name !== route.name || Toka.route.arg !== route.arg;
  Toka.route = route;
  if (changed || full) {
    disposeCharts();
    document.getElementById("page").innerHTML = '<div class="empty">Loading…</div>';
  }
  document.getElementById("title").textContent = page.title(route.arg);
  for (const link of document.querySelectorAll("#nav a")) {
    link.classList.toggle("active", link.dataset.page === (page.nav || route.name));
  }
  try {
    await page.render(route.arg, !changed && !full);
    document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (error) {
    if (error instanceof Unauthorized) return showLogin(error.message);
    document.getElementById("page").innerHTML = card("Error", `<p class="error">${esc(error.message)}</p>`);
  }
}

function showLogin(reason) {
  disposeCharts();
  document.getElementById("title").textContent = "Sign in";
  const page = document.getElementById("page");
  page.innerHTML = document.getElementById("login-template").innerHTML;
  if (reason) document.getElementById("login-error").textContent = reason;
  document.getElementById("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = document.getElementById("token").value;
    const response = await fetch("/login", { method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify({ token }) });
    if (!response.ok) {
      document.getElementById("login-error").textContent = (await response.json()).error;
      return;
    }
    await start();
  });
}

function toast(text) {
  const node = document.createElement("div");
  node.className = "toast";
  node.textContent = text;
  document.body.appendChild(node);
  setTimeout(() => node.remove(), 3500);
}
