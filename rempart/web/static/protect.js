// The protect page: photos are fingerprinted here, only the fingerprints are sent in one
// POST /v1/cases, and the case number and PIN are shown once, with a receipt made on the device.

import { LANGUAGE, api, download, t } from "./common.js";
import { PhotoPicker } from "./picker.js";

const submit = document.getElementById("protect-submit");
const error = document.getElementById("protect-error");
const picker = new PhotoPicker(document.getElementById("protect-picker"), () => {
  const { done, busy } = picker.ready();
  submit.disabled = done === 0 || busy;
});

submit.addEventListener("click", async () => {
  submit.disabled = true;
  error.textContent = "";
  const photos = picker.ready().done;
  const body = picker.body();
  try {
    const response = await api("/v1/cases", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body,
    });
    const created = await response.json();
    const signals = JSON.parse(body).signals.length;
    picker.clear();
    showCase(created, photos, signals);
  } catch (failure) {
    error.textContent = failure.message;
    submit.disabled = false;
  }
});

function showCase(created, photos, signals) {
  const at = new Date();
  document.getElementById("choose").hidden = true;
  const section = document.getElementById("created");
  section.hidden = false;
  document.getElementById("created-case-id").textContent = created.case_id;
  document.getElementById("created-pin").textContent = created.pin;
  document.getElementById("created-summary").textContent = t("js.created_summary", { photos, signals });
  document.getElementById("receipt").addEventListener("click", () => {
    const text = t("js.receipt", {
      case_id: created.case_id,
      pin: created.pin,
      created: `${at.toISOString().slice(0, 19).replace("T", " ")} UTC`,
      photos,
      signals,
      url: new URL(`/case?lang=${LANGUAGE}`, window.location.href).href,
    });
    download(new Blob([text], { type: "text/plain;charset=utf-8" }), `rempart-${created.case_id}.txt`);
  });
  section.focus();
}
