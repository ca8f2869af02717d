// The moderator dashboard: an API key with the bank:read scope, kept in this tab only
// (sessionStorage) and sent as a Bearer token. Shows counts, places, times and the audit log;
// never an image and never a hash.

import { ApiError, api, label, row, t, utc } from "./common.js";
import { drawChart } from "./chart.js";

const KEY = "rempart.apiKey";
const login = document.getElementById("login");
const loginError = document.getElementById("login-error");
const dashboard = document.getElementById("dashboard");
const dashboardError = document.getElementById("dashboard-error");

async function get(path) {
  const key = sessionStorage.getItem(KEY);
  return (await api(path, { headers: { Authorization: `Bearer ${key}` } })).json();
}

login.addEventListener("submit", async (event) => {
  event.preventDefault();
  loginError.textContent = "";
  const key = document.getElementById("api-key").value.trim();
  if (!key) {
    loginError.textContent = t("js.need_key");
    return;
  }
  sessionStorage.setItem(KEY, key);
  try {
    await load();
    login.reset();
  } catch (failure) {
    sessionStorage.removeItem(KEY);
    loginError.textContent = failure.message;
  }
});

document.getElementById("sign-out").addEventListener("click", () => {
  sessionStorage.removeItem(KEY);
  dashboard.hidden = true;
  for (const body of dashboard.querySelectorAll("tbody")) body.replaceChildren();
  document.getElementById("chart").replaceChildren();
  login.hidden = false;
  document.getElementById("api-key").focus();
});

document.getElementById("reload").addEventListener("click", async () => {
  dashboardError.textContent = "";
  try {
    await load();
  } catch (failure) {
    dashboardError.textContent = failure.message;
  }
});

async function load() {
  const [banks, sightings, activity, audit, webhooks] = await Promise.all([
    get("/v1/banks"),
    get("/v1/dashboard/sightings?limit=50"),
    get("/v1/dashboard/activity?days=30"),
    get("/v1/dashboard/audit?limit=100"),
    get("/v1/dashboard/webhooks"),
  ]);
  fill("banks", banks.banks.map((b) => row(
    [b.name, label("kind", b.kind), label("action", b.action), b.pdq_threshold, state(b), b.signals_count],
    [3, 5],
  )));
  fill("recent", sightings.sightings.map((s) => row(
    [utc(s.seen_at), s.platform, s.location || "—", s.bank, label("match", s.match_type), label("action", s.action), s.distance],
    [6],
  )), t("js.none_yet"), 7);
  fill("chart-data", activity.counts.map((c) => row([c.day, c.platform, c.sightings], [2])), t("js.none_yet"), 3);
  drawChart(document.getElementById("chart"), activity, {
    other: t("js.chart_other"),
    empty: t("js.chart_empty", { days: activity.days }),
    summary: (total, days) => t("js.chart_summary", { total, days }),
  });
  fill("webhooks", webhooks.webhooks.map((w) => row(
    [w.origin, w.enabled ? t("js.enabled") : t("js.disabled"), w.pending, w.delivered, w.failed, w.last_error ?? "—"],
    [2, 3, 4],
  )), t("js.no_webhooks"), 6);
  fill("audit", audit.entries.map((e) => row([utc(e.at), e.actor, e.action, e.target, details(e.details)])), t("js.none_yet"), 5);
  login.hidden = true;
  dashboard.hidden = false;
  document.getElementById("loaded-at").textContent = t("js.loaded_at", { when: utc(new Date().toISOString()) });
}

function state(bank) {
  const parts = [bank.enabled ? t("js.enabled") : t("js.disabled")];
  if (bank.shared) parts.push(t("js.shared"));
  return parts.join(", ");
}

function details(values) {
  return Object.entries(values)
    .map(([key, value]) => `${key}=${typeof value === "string" ? value : JSON.stringify(value)}`)
    .join(" ");
}

function fill(id, rows, empty, columns) {
  const body = document.querySelector(`#${id} tbody`);
  if (rows.length === 0 && empty) {
    const cell = document.createElement("td");
    cell.colSpan = columns;
    cell.textContent = empty;
    const tr = document.createElement("tr");
    tr.append(cell);
    body.replaceChildren(tr);
  } else {
    body.replaceChildren(...rows);
  }
}

if (sessionStorage.getItem(KEY)) {
  load().catch((failure) => {
    if (failure instanceof ApiError && (failure.status === 401 || failure.status === 403)) {
      sessionStorage.removeItem(KEY);
    }
    loginError.textContent = failure.message;
  });
}
