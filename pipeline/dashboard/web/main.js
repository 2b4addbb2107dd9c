/* Start-up: who am I, the configuration, the theme, the refresh timer and the live stream. */
"use strict";

function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  localStorage.setItem("toka.theme", theme);
}

async function start() {
  try {
    Toka.me = await api("/api/v1/whoami");
    Toka.config = await api("/api/v1/config");
  } catch (error) {
    if (error instanceof Unauthorized) return showLogin("");
    throw error;
  }
  applyTheme(localStorage.getItem("toka.theme") || Toka.config.theme);
  document.getElementById("who").textContent = `${Toka.me.name} · ${Toka.me.role}`;
  document.getElementById("logout").hidden = Toka.me.via !== "session";
  clearInterval(Toka.timer);
  Toka.timer = setInterval(() => render(false), Toka.config.refresh_interval_seconds * 1000);
  connectLive();
  await render();
}

function connectLive() {
  if (Toka.live) Toka.live.close();
  const live = new EventSource("/api/v1/events");
  const indicator = document.getElementById("live");
  let pending = null;
  live.onopen = () => indicator.classList.add("on");
  live.onerror = () => indicator.classList.remove("on");
  live.addEventListener("append", (event) => {
    const change = JSON.parse(event.data);
    // Alerts and findings show at once; window aggregates wait for the next refresh tick.
    if ((change.alerts || change.findings) && !pending) {
      pending = setTimeout(() => { pending = null; render(false); }, 300);
    }
  });
  Toka.live = live;
}

document.getElementById("theme").addEventListener("click", () => {
  applyTheme(document.documentElement.dataset.theme === "dark" ? "light" : "dark");
  render();
});
document.getElementById("logout").addEventListener("click", async () => {
  await api("/logout", { method: "POST", body: {} });
  location.reload();
});
window.addEventListener("hashchange", () => render());
start();
