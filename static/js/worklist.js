// The worklist page: keyboard selection and actions, the arrival clocks, and the answers htmx
// should show although they are errors (a refused claim comes back as 409 with the row to show).
// Translated strings come from data- attributes of .worklist; there is no inline script.

const root = document.querySelector(".worklist");
const CLOCK_MILLISECONDS = 30_000;
const ROW_SELECTOR = "#worklist-rows tr.study-row";
// Rows come back with these statuses carrying the reason inside them (see worklist/claim_views.py).
const ROW_ANSWERS = [400, 409];

let selectedId = null;
let selectedIndex = 0;

function rows() {
  return [...document.querySelectorAll(ROW_SELECTOR)];
}

// The selection is the aria-selected attribute alone: htmx settles the class attribute of a
// swapped row after our handlers run, and would take a class away again.
function select(row, { scroll = true } = {}) {
  for (const other of document.querySelectorAll(`${ROW_SELECTOR}[aria-selected]`)) {
    other.removeAttribute("aria-selected");
  }
  if (!row) return;
  row.setAttribute("aria-selected", "true");
  selectedId = row.id;
  selectedIndex = rows().indexOf(row);
  if (scroll) row.scrollIntoView({ block: "nearest" });
}

// After a swap (a claim, a live update, a re-read page) the same study stays selected, or the row
// that took its place.
function restoreSelection() {
  const all = rows();
  if (all.length === 0) return;
  const row = document.getElementById(selectedId) || all[Math.min(selectedIndex, all.length - 1)];
  select(row, { scroll: false });
}

function selectedRow() {
  return document.getElementById(selectedId);
}

function move(step) {
  const all = rows();
  if (all.length === 0) return;
  const current = all.indexOf(selectedRow());
  const next = current < 0 ? 0 : Math.max(0, Math.min(all.length - 1, current + step));
  select(all[next]);
}

function post(row, url) {
  if (!row || !url) {
    toast(root.dataset.nothingMessage);
    return;
  }
  htmx.ajax("POST", url, { source: row, target: row, swap: "outerHTML" });
}

function toast(message) {
  const box = document.getElementById("worklist-toast");
  if (!box || !message) return;
  box.textContent = message;
  box.hidden = false;
  clearTimeout(box.hideTimer);
  box.hideTimer = setTimeout(() => {
    box.hidden = true;
  }, 5000);
}

function toggleHelp(show) {
  const help = document.getElementById("keyboard-help");
  help.hidden = show === undefined ? !help.hidden : !show;
  if (!help.hidden) help.querySelector("[data-help-close]").focus();
}

function typing(target) {
  return target.closest("input, select, textarea, [contenteditable]") !== null;
}

function onKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const help = document.getElementById("keyboard-help");
  if (event.key === "Escape") {
    if (!help.hidden) toggleHelp(false);
    else if (typing(event.target)) event.target.blur();
    return;
  }
  if (typing(event.target)) return;
  const actions = {
    j: () => move(1),
    ArrowDown: () => move(1),
    k: () => move(-1),
    ArrowUp: () => move(-1),
    Enter: () => {
      const row = selectedRow();
      if (row) window.location.assign(row.dataset.href);
    },
    c: () => post(selectedRow(), selectedRow()?.dataset.claimUrl),
    r: () => post(selectedRow(), selectedRow()?.dataset.releaseUrl),
    "/": () => document.getElementById("filter-search")?.focus(),
    "?": () => toggleHelp(),
  };
  const action = actions[event.key];
  // Enter on a focused link, button or menu keeps its own meaning.
  if (!action || (event.key === "Enter" && event.target.closest("a, button, summary"))) return;
  if (!help.hidden && event.key !== "?") return;
  event.preventDefault();
  action();
}

// "%(minutes)d min" and the like, the same msgids the server renders with.
function format(template, values) {
  return template.replace(/%\((\w+)\)(02)?d/g, (_, name, padded) =>
    padded ? String(values[name]).padStart(2, "0") : String(values[name]),
  );
}

function sinceLabel(arrived) {
  const minutes = Math.max(0, Math.floor((Date.now() - arrived) / 60_000));
  if (minutes < 60) return format(root.dataset.sinceMinutes, { minutes });
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return format(root.dataset.sinceHours, { hours, minutes: minutes % 60 });
  return format(root.dataset.sinceDays, { days: Math.floor(hours / 24), hours: hours % 24 });
}

function tickClocks() {
  for (const clock of document.querySelectorAll("#worklist-rows time.since")) {
    const arrived = Date.parse(clock.getAttribute("datetime"));
    if (!Number.isNaN(arrived)) clock.textContent = sinceLabel(arrived);
  }
}

if (root) {
  document.addEventListener("keydown", onKey);

  document.addEventListener("click", (event) => {
    if (event.target.closest("[data-help-toggle]")) toggleHelp();
    else if (event.target.closest("[data-help-close]") || event.target.id === "keyboard-help") toggleHelp(false);
    const row = event.target.closest(ROW_SELECTOR);
    if (row) select(row, { scroll: false });
  });

  document.addEventListener("dblclick", (event) => {
    const row = event.target.closest(ROW_SELECTOR);
    if (row && !event.target.closest("a, button, select, input, form")) window.location.assign(row.dataset.href);
  });

  // A filter applies as soon as it changes; the search box on Enter.
  document.addEventListener("change", (event) => {
    const form = event.target.closest("#worklist-filters");
    if (form && event.target.name !== "q") form.requestSubmit();
  });

  document.body.addEventListener("htmx:beforeSwap", (event) => {
    const status = event.detail.xhr.status;
    if (ROW_ANSWERS.includes(status) && event.detail.target.matches("tr.study-row")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // The refused row has taken the old one's place under the same id; its reason shows as a toast too.
  document.body.addEventListener("htmx:afterSwap", (event) => {
    if (!ROW_ANSWERS.includes(event.detail.xhr?.status)) return;
    toast(document.getElementById(event.detail.target.id)?.querySelector(".notice")?.textContent);
  });

  document.body.addEventListener("htmx:responseError", (event) => {
    const status = event.detail.xhr.status;
    toast(status === 403 ? root.dataset.forbiddenMessage : root.dataset.errorMessage);
  });

  document.body.addEventListener("htmx:sendError", () => toast(root.dataset.errorMessage));

  document.body.addEventListener("htmx:afterSettle", () => {
    restoreSelection();
    tickClocks();
  });
  document.body.addEventListener("htmx:oobAfterSwap", () => {
    restoreSelection();
    tickClocks();
  });

  restoreSelection();
  tickClocks();
  setInterval(tickClocks, CLOCK_MILLISECONDS);
}
