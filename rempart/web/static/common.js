// What every page shares: its messages (from the server's catalog, in the page), the quick exit,
// navigation that leaves no history behind, API errors in plain words, and downloads made on the
// device. Nothing here stores anything in the browser.

const MESSAGES = JSON.parse(document.getElementById("messages").textContent);

/** The message `key` of the page's language, with `{name}` placeholders filled from `values`. */
export function t(key, values = {}) {
  const text = MESSAGES[key];
  if (text === undefined) throw new Error(`missing message ${key}`);
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

/** The page's language (the `lang` attribute the server wrote). */
export const LANGUAGE = document.documentElement.lang;

/**
 * The quick exit: leaves at once for a neutral site, replacing this page in the history (the
 * back button does not return here), after blanking the page. Escape pressed twice within a
 * second does the same, when no dialog is open.
 */
export function setupQuickExit() {
  const button = document.getElementById("quick-exit");
  if (!button) return;
  const leave = () => {
    document.title = "";
    document.body.replaceChildren();
    window.location.replace(button.dataset.url);
  };
  button.addEventListener("click", leave);
  let lastEscape = 0;
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || document.querySelector("dialog[open]")) return;
    const now = performance.now();
    if (now - lastEscape < 1000) leave();
    lastEscape = now;
  });
}

/**
 * Links marked `data-nav` replace the current history entry instead of adding one, so the
 * history of the tab holds at most one page of rempart (what the quick exit replaces).
 */
export function setupNavigation() {
  document.addEventListener("click", (event) => {
    const link = event.target.closest("a[data-nav]");
    if (!link || event.defaultPrevented || event.button !== 0) return;
    if (event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    window.location.replace(link.href);
  });
}

/** An error from the API (or the network) as a sentence for a person. */
export class ApiError extends Error {
  constructor(message, code, status) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

/**
 * fetch() to this service, throwing ApiError with a translated message when it fails. Never
 * sends cookies or a referrer; nothing is cached.
 */
export async function api(path, options = {}) {
  let response;
  try {
    response = await fetch(path, {
      credentials: "omit",
      cache: "no-store",
      referrerPolicy: "no-referrer",
      ...options,
    });
  } catch {
    throw new ApiError(t("js.error_network"), "network", 0);
  }
  if (response.ok) return response;
  let code = "error";
  let detail = "";
  try {
    const body = await response.json();
    code = body.error?.code ?? code;
    detail = body.error?.message ?? "";
  } catch {
    // Not JSON (a proxy's page): the status speaks for it.
  }
  throw new ApiError(errorMessage(code, detail, response), code, response.status);
}

function errorMessage(code, detail, response) {
  switch (code) {
    case "unauthorized":
      return t("js.error_unauthorized");
    case "forbidden":
      return t("js.error_forbidden");
    case "not_found":
      return t("js.error_not_found");
    case "rate_limited":
      return t("js.error_rate_limited", { seconds: response.headers.get("Retry-After") ?? "60" });
    case "conflict":
      return t("js.error_conflict");
    default:
      return t("js.error_other", { status: response.status, detail });
  }
}

/** Save a Blob made on this device as a file (no request leaves the page). */
export function download(blob, filename) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** An API timestamp (UTC, ISO 8601) as "2026-01-02 10:30 UTC". */
export function utc(iso) {
  if (!iso) return "—";
  const moment = new Date(iso);
  return `${moment.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/** A table row of text cells (never HTML: values come from the API). */
export function row(cells, numeric = []) {
  const tr = document.createElement("tr");
  cells.forEach((value, index) => {
    const td = document.createElement("td");
    td.textContent = value ?? "—";
    if (numeric.includes(index)) td.className = "num";
    tr.append(td);
  });
  return tr;
}

/** The label of a match type or action from the catalog, or the value as recorded. */
export function label(group, value) {
  const key = `js.${group}_${value}`;
  return key in MESSAGES ? MESSAGES[key] : value;
}

setupQuickExit();
setupNavigation();
