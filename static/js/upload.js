// The upload page: files and folders, dropped or picked, sent in batches to STOW-RS as
// multipart/related with the session's CSRF token. The server answers each batch with one
// outcome per part, in the order sent, which is how a result finds its file.
// Every text shown comes from the form's data- attributes, translated by the template.

const BATCH_FILES = 25;
const BATCH_BYTES = 32 * 1024 * 1024;

const form = document.getElementById("upload");
if (form) {
  setUp(form);
}

function setUp(form) {
  const dropzone = form.querySelector("#dropzone");
  let busy = false;

  async function start(itemsPromise) {
    if (busy) {
      say(form, form.dataset.busy);
      return;
    }
    const site = form.elements.site.value;
    if (!site) {
      say(form, form.dataset.chooseSite);
      form.elements.site.focus();
      return;
    }
    busy = true;
    try {
      await upload(form, site, await itemsPromise);
    } finally {
      busy = false;
    }
  }

  dropzone.addEventListener("dragover", (event) => {
    event.preventDefault();
    dropzone.classList.add("over");
  });
  dropzone.addEventListener("dragleave", () => dropzone.classList.remove("over"));
  dropzone.addEventListener("drop", (event) => {
    event.preventDefault();
    dropzone.classList.remove("over");
    // Entries must be taken while the event is dispatched; the list is emptied afterwards.
    const entries = [...event.dataTransfer.items]
      .map((item) => (item.webkitGetAsEntry ? item.webkitGetAsEntry() : null))
      .filter(Boolean);
    const files = [...event.dataTransfer.files];
    start(entries.length ? itemsOfEntries(entries) : Promise.resolve(files.map(itemOfFile)));
  });
  for (const input of form.querySelectorAll("input[type=file]")) {
    input.addEventListener("change", () => {
      const items = [...input.files].map(itemOfFile);
      input.value = "";
      start(Promise.resolve(items));
    });
  }
  form.addEventListener("submit", (event) => event.preventDefault());
}

function itemOfFile(file) {
  return { file, path: file.webkitRelativePath || file.name };
}

async function itemsOfEntries(entries) {
  const items = [];
  async function visit(entry) {
    if (entry.isFile) {
      const path = entry.fullPath.replace(/^\//, "");
      try {
        items.push({ file: await new Promise((resolve, reject) => entry.file(resolve, reject)), path });
      } catch {
        items.push({ file: null, path });
      }
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      // readEntries answers in batches (100 in Chromium) until an empty one.
      for (;;) {
        const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
        if (batch.length === 0) break;
        for (const child of batch) await visit(child);
      }
    }
  }
  for (const entry of entries) await visit(entry);
  return items;
}

async function upload(form, site, items) {
  const text = form.dataset;
  const progress = form.querySelector("#progress");
  const table = form.querySelector("#results");
  const body = table.querySelector("tbody");
  body.replaceChildren();
  table.hidden = false;
  const rows = items.map((item) => addRow(body, item.path, text.waiting));
  const counts = { done: 0, total: items.length, stored: 0, present: 0, refused: 0 };

  const readable = [];
  items.forEach((item, index) => {
    if (item.file) {
      readable.push({ ...item, row: rows[index] });
    } else {
      mark(rows[index], "refused", `${text.refused}: ${text.unreadable}`);
      counts.done += 1;
      counts.refused += 1;
    }
  });
  const totalBytes = readable.reduce((sum, item) => sum + item.file.size, 0) || 1;
  let bytesBefore = 0;
  progress.hidden = false;
  progress.value = 0;
  summarize(form, counts);

  for (const batch of batches(readable)) {
    for (const item of batch) mark(item.row, "", text.sending);
    const batchBytes = batch.reduce((sum, item) => sum + item.file.size, 0);
    try {
      const answer = await send(form, site, batch, (loaded) => {
        progress.value = Math.min(1, (bytesBefore + loaded) / totalBytes);
      });
      batch.forEach((item, index) => {
        const result = answer.instances[index] || { outcome: "refused", reason: "" };
        if (result.outcome === "stored") {
          counts.stored += 1;
          mark(item.row, "ok", text.stored);
        } else if (result.outcome === "already_present") {
          counts.present += 1;
          mark(item.row, "ok", text.alreadyPresent);
        } else {
          counts.refused += 1;
          mark(item.row, "refused", `${text.refused}: ${result.reason}`);
        }
      });
    } catch (problem) {
      counts.refused += batch.length;
      for (const item of batch) mark(item.row, "refused", `${text.refused}: ${problem.message}`);
    }
    counts.done += batch.length;
    bytesBefore += batchBytes;
    progress.value = Math.min(1, bytesBefore / totalBytes);
    summarize(form, counts);
  }
  progress.value = 1;
}

function* batches(items) {
  let batch = [];
  let bytes = 0;
  for (const item of items) {
    if (batch.length && (batch.length >= BATCH_FILES || bytes + item.file.size > BATCH_BYTES)) {
      yield batch;
      batch = [];
      bytes = 0;
    }
    batch.push(item);
    bytes += item.file.size;
  }
  if (batch.length) yield batch;
}

function send(form, site, batch, onProgress) {
  const boundary = `readingws-${crypto.randomUUID()}`;
  const parts = [];
  for (const item of batch) {
    parts.push(`\r\n--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`, item.file);
  }
  parts.push(`\r\n--${boundary}--\r\n`);
  const url = `${form.dataset.endpoint}?site=${encodeURIComponent(site)}`;
  return new Promise((resolve, reject) => {
    // XMLHttpRequest, not fetch: only it reports upload progress.
    const request = new XMLHttpRequest();
    request.open("POST", url);
    request.setRequestHeader("Content-Type", `multipart/related; type="application/dicom"; boundary=${boundary}`);
    request.setRequestHeader("Accept", "application/json");
    request.setRequestHeader("X-CSRFToken", form.elements.csrfmiddlewaretoken.value);
    request.upload.addEventListener("progress", (event) => onProgress(event.loaded));
    request.addEventListener("error", () => reject(new Error(form.dataset.networkError)));
    request.addEventListener("load", () => {
      let answer = null;
      try {
        answer = JSON.parse(request.responseText);
      } catch {
        answer = null;
      }
      if (answer && Array.isArray(answer.instances)) {
        resolve(answer);
      } else {
        reject(new Error((answer && answer.message) || `HTTP ${request.status}`));
      }
    });
    request.send(new Blob(parts));
  });
}

function addRow(body, path, status) {
  const row = body.insertRow();
  row.insertCell().textContent = path;
  row.insertCell().textContent = status;
  return row;
}

function mark(row, kind, status) {
  const cell = row.cells[1];
  cell.className = kind;
  cell.textContent = status;
}

function summarize(form, counts) {
  say(
    form,
    form.dataset.summary
      .replace("{done}", counts.done)
      .replace("{total}", counts.total)
      .replace("{stored}", counts.stored)
      .replace("{present}", counts.present)
      .replace("{refused}", counts.refused),
  );
}

function say(form, message) {
  form.querySelector("#summary").textContent = message;
}
