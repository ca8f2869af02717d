// Choose or drop photos, see them as thumbnails made on the device, fingerprint them in a worker
// with a progress bar, and show exactly the request body that will be sent: only fingerprints.
// Used by the protect page (a new case) and the case page (more photos).

import { t } from "./common.js";
import { ACCEPT } from "./media.js";

const WORKER_URL = "/static/hash-worker.js";

// A photo dropped beside the drop zone would make the browser open it in this tab, leaving the
// page (it is still not uploaded): ignore such drops.
for (const type of ["dragover", "drop"]) {
  window.addEventListener(type, (event) => {
    if (!event.target.closest?.(".drop")) event.preventDefault();
  });
}

export class PhotoPicker {
  /**
   * @param {HTMLElement} root the `.picker` block of the `_picker.html` macro
   * @param {() => void} onChange called when the fingerprints to send change
   */
  constructor(root, onChange) {
    this.root = root;
    this.onChange = onChange;
    this.items = [];
    this.nextId = 1;
    this.worker = null;
    this.busyId = null;
    this.input = root.querySelector('input[type="file"]');
    this.input.accept = ACCEPT;
    this.drop = root.querySelector(".drop");
    this.progressBox = root.querySelector(".progress");
    this.progress = root.querySelector("progress");
    this.status = root.querySelector(".status");
    this.list = root.querySelector(".thumbs");
    this.payloadBox = root.querySelector(".payload");
    this.payloadSummary = root.querySelector(".payload-summary");
    this.payloadText = root.querySelector(".payload-text");
    this.input.addEventListener("change", () => {
      this.add(this.input.files);
      this.input.value = "";
    });
    for (const type of ["dragenter", "dragover"]) {
      this.drop.addEventListener(type, (event) => {
        event.preventDefault();
        this.drop.classList.add("over");
      });
    }
    this.drop.addEventListener("dragleave", () => this.drop.classList.remove("over"));
    this.drop.addEventListener("drop", (event) => {
      event.preventDefault();
      this.drop.classList.remove("over");
      this.add(event.dataTransfer.files);
    });
  }

  /** Add files: a thumbnail each, then fingerprint them in order. */
  add(files) {
    for (const file of files) {
      const item = { id: this.nextId++, file, state: "waiting", signals: null, error: null };
      this.items.push(item);
      this.list.append(this.renderItem(item));
    }
    this.hashNext();
    this.update();
  }

  /** The fingerprints of every photo hashed so far, in the order chosen. */
  signals() {
    return this.items.filter((item) => item.state === "done").flatMap((item) => item.signals);
  }

  /** The exact text of the request body (what the page shows and sends). */
  body() {
    return JSON.stringify({ signals: this.signals() }, null, 2);
  }

  /** Photos ready to send, and whether some are still being fingerprinted. */
  ready() {
    const done = this.items.filter((item) => item.state === "done").length;
    const busy = this.items.some((item) => item.state === "waiting" || item.state === "hashing");
    return { done, busy };
  }

  /** Forget every photo (after they were sent). */
  clear() {
    for (const item of this.items) URL.revokeObjectURL(item.thumbnail);
    this.items = [];
    this.list.replaceChildren();
    this.status.textContent = "";
    this.update();
  }

  // One file at a time: a few large photos at once would hold all their pixels together.
  hashNext() {
    if (this.busyId !== null) return;
    const item = this.items.find((candidate) => candidate.state === "waiting");
    if (!item) return;
    item.state = "hashing";
    this.busyId = item.id;
    this.worker ??= this.startWorker();
    this.worker.postMessage({ id: item.id, file: item.file });
  }

  startWorker() {
    const worker = new Worker(WORKER_URL, { type: "module" });
    worker.onmessage = (event) => this.hashed(event.data);
    return worker;
  }

  hashed(answer) {
    if (answer.progress !== undefined) {
      this.progressed(answer);
      return;
    }
    this.busyId = null;
    const item = this.items.find((candidate) => candidate.id === answer.id);
    if (!item) {
      this.hashNext(); // Removed while it was being fingerprinted.
      return;
    }
    if (answer.error) {
      item.state = "error";
      item.error = answer.error.message;
    } else {
      item.state = "done";
      item.signals = answer.signals;
      item.facts = answer.facts;
      if (answer.facts.thumbnail) this.showThumbnail(item, answer.facts.thumbnail);
    }
    this.renderState(item);
    this.hashNext();
    this.update();
  }

  // A long file (a video) reports how far its fingerprinting has gone.
  progressed(answer) {
    const item = this.items.find((candidate) => candidate.id === answer.id);
    if (!item || item.state !== "hashing") return;
    item.progress = answer.progress;
    this.renderState(item);
    this.update();
  }

  // A video cannot be previewed as an image: the worker made a small picture of its first frame.
  showThumbnail(item, blob) {
    URL.revokeObjectURL(item.thumbnail);
    item.thumbnail = URL.createObjectURL(blob);
    const image = item.element.querySelector("img");
    image.classList.remove("broken");
    image.src = item.thumbnail;
  }

  remove(item) {
    this.items = this.items.filter((candidate) => candidate !== item);
    URL.revokeObjectURL(item.thumbnail);
    item.element.remove();
    this.hashNext();
    this.update();
    this.input.focus();
  }

  renderItem(item) {
    const li = document.createElement("li");
    const image = document.createElement("img");
    item.thumbnail = URL.createObjectURL(item.file);
    image.src = item.thumbnail;
    image.alt = t("js.thumbnail_alt", { name: item.file.name });
    image.addEventListener("error", () => image.classList.add("broken"), { once: true });
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = item.file.name;
    const state = document.createElement("span");
    state.className = "state";
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "small";
    remove.textContent = t("js.remove");
    remove.setAttribute("aria-label", t("js.remove_named", { name: item.file.name }));
    remove.addEventListener("click", () => this.remove(item));
    li.append(image, name, state, remove);
    item.element = li;
    this.renderState(item);
    return li;
  }

  renderState(item) {
    const state = item.element.querySelector(".state");
    item.element.dataset.state = item.state;
    if (item.state === "done") state.textContent = t("js.hashed", { count: item.signals.length });
    else if (item.state === "error") state.textContent = t("js.not_hashed", { reason: item.error });
    else if (item.state === "hashing" && item.progress !== undefined) {
      state.textContent = t("js.hashing_progress", { percent: Math.floor(item.progress * 100) });
    } else state.textContent = t("js.hashing");
  }

  update() {
    const total = this.items.length;
    const finished = this.items.filter((item) => item.state === "done" || item.state === "error").length;
    const { done, busy } = this.ready();
    this.progressBox.hidden = total === 0;
    this.progress.max = Math.max(total, 1);
    const current = this.items.find((item) => item.state === "hashing");
    this.progress.value = finished + (current?.progress ?? 0);
    if (total === 0) this.status.textContent = "";
    else if (busy) this.status.textContent = t("js.progress", { done: finished, total });
    else this.status.textContent = t("js.progress_done", { done, total });
    this.payloadBox.hidden = done === 0;
    if (done > 0) {
      this.payloadSummary.textContent = t("js.payload_summary", { photos: done, signals: this.signals().length });
      this.payloadText.textContent = this.body();
    }
    this.onChange();
  }
}
