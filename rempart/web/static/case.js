// The case page: open a case with its number and PIN, see where the photos were seen, download
// the evidence report, protect more photos, or withdraw the case. The number and PIN stay in
// this page's memory only, and are sent in a header, never in an address.

import { LANGUAGE, api, download, label, row, t, utc } from "./common.js";
import { PhotoPicker } from "./picker.js";

const form = document.getElementById("open");
const openError = document.getElementById("open-error");
const caseBox = document.getElementById("case");
const caseError = document.getElementById("case-error");
const dialog = document.getElementById("confirm-withdraw");
let opened = null; // {caseId, pin} while a case is open.

const moreSubmit = document.getElementById("more-submit");
const more = new PhotoPicker(document.getElementById("more-picker"), () => {
  const { done, busy } = more.ready();
  moreSubmit.disabled = done === 0 || busy;
});

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  openError.textContent = "";
  const caseId = document.getElementById("case-id").value.trim();
  const pin = document.getElementById("pin").value.trim();
  if (!caseId || !pin) {
    openError.textContent = t("js.need_both");
    return;
  }
  try {
    const view = await load(caseId, pin);
    opened = { caseId: view.case_id, pin };
    form.hidden = true;
    show(view);
    document.getElementById("status-section").focus();
  } catch (failure) {
    openError.textContent = failure.message;
  }
});

async function load(caseId, pin) {
  const response = await api(`/v1/cases/${encodeURIComponent(caseId)}`, {
    headers: { "X-Rempart-Pin": pin },
  });
  return response.json();
}

function show(view) {
  caseBox.hidden = false;
  caseError.textContent = "";
  document.getElementById("view-case-id").textContent = view.case_id;
  document.getElementById("view-status").textContent = t(`js.status_${view.status}`);
  document.getElementById("view-created").textContent = utc(view.created_at);
  document.getElementById("view-signals").textContent = String(view.signals_count);
  const body = document.querySelector("#sightings tbody");
  body.replaceChildren(
    ...view.sightings.map((s) =>
      row([utc(s.seen_at), s.platform, s.location || "—", label("action", s.action), label("match", s.match_type)]),
    ),
  );
  document.getElementById("sightings-wrap").hidden = view.sightings.length === 0;
  document.getElementById("no-sightings").hidden = view.sightings.length > 0;
  document.getElementById("active-only").hidden = view.status !== "active";
}

async function refresh() {
  try {
    show(await load(opened.caseId, opened.pin));
  } catch (failure) {
    caseError.textContent = failure.message;
  }
}

document.getElementById("refresh").addEventListener("click", refresh);

document.getElementById("close-case").addEventListener("click", () => {
  opened = null;
  more.clear();
  caseBox.hidden = true;
  form.reset();
  form.hidden = false;
  document.getElementById("case-id").focus();
});

document.getElementById("report").addEventListener("click", async (event) => {
  const button = event.currentTarget;
  const status = document.getElementById("report-status");
  button.disabled = true;
  status.textContent = t("js.report_preparing");
  try {
    const response = await api(
      `/v1/cases/${encodeURIComponent(opened.caseId)}/report.pdf?lang=${encodeURIComponent(LANGUAGE)}`,
      { headers: { "X-Rempart-Pin": opened.pin } },
    );
    download(await response.blob(), `rempart-${opened.caseId}-evidence.pdf`);
    status.textContent = t("js.report_ready");
  } catch (failure) {
    status.textContent = failure.message;
  } finally {
    button.disabled = false;
  }
});

moreSubmit.addEventListener("click", async () => {
  const result = document.getElementById("more-result");
  moreSubmit.disabled = true;
  try {
    const response = await api(`/v1/cases/${encodeURIComponent(opened.caseId)}/signals`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Rempart-Pin": opened.pin },
      body: more.body(),
    });
    const added = await response.json();
    more.clear();
    result.textContent = t("js.more_added", { added: added.added, total: added.signals_count });
    await refresh();
  } catch (failure) {
    result.textContent = failure.message;
    moreSubmit.disabled = false;
  }
});

document.getElementById("withdraw").addEventListener("click", () => dialog.showModal());
document.getElementById("confirm-cancel").addEventListener("click", () => dialog.close());
document.getElementById("confirm-yes").addEventListener("click", async () => {
  dialog.close();
  try {
    await api(`/v1/cases/${encodeURIComponent(opened.caseId)}`, {
      method: "DELETE",
      headers: { "X-Rempart-Pin": opened.pin },
    });
    more.clear();
    await refresh();
    document.getElementById("status-section").focus();
  } catch (failure) {
    caseError.textContent = failure.message;
  }
});
