// The report tab of the side panel: the htmx partial of reading/report_panel.html. htmx leaves 4xx
// answers unswapped by default; the panel's refusals (400 invalid, 403, 409 stale or undecided) carry
// the form with the message and the user's text, so they are swapped in like a success. The Sign
// button waits, with the count said, until every AI finding is decided.

import { text } from "./reading-panel.js";

const PANEL_ANSWERS = [400, 403, 409];

export class ReadingReport extends EventTarget {
  /** @param {HTMLElement} root the .ai-panel element */
  constructor(root) {
    super();
    this.root = root;
    this.slot = root.querySelector("#report-slot");
    this.url = root.dataset.reportUrl;
    this.tabs = [...root.querySelectorAll("[role=tab]")];
    this.dirty = false;
    this.undecided = 0;
    this.mayEdit = false;
    // htmx settles "style" between old and new elements of the same id, through setAttribute: the
    // CSP (style-src 'self') refuses that, and chromium gives every input an empty style attribute.
    if (window.htmx) window.htmx.config.attributesToSettle = ["class", "width", "height"];
    for (const tab of this.tabs) tab.addEventListener("click", () => this.showTab(tab.id));
    this.slot.addEventListener("input", () => (this.dirty = true));
    document.body.addEventListener("htmx:beforeSwap", (event) => {
      if (!this.owns(event.detail.target)) return;
      if (PANEL_ANSWERS.includes(event.detail.xhr.status)) {
        event.detail.shouldSwap = true;
        event.detail.isError = false;
      }
    });
    document.body.addEventListener("htmx:afterSwap", (event) => {
      if (this.owns(event.detail.target)) this.swapped();
    });
    document.body.addEventListener("htmx:responseError", (event) => {
      if (this.owns(event.detail.target)) this.signState(text("reportLoadFailed"));
    });
  }

  /** Whether an htmx target is the report's: after an outerHTML swap the old panel is detached. */
  owns(target) {
    return target === this.slot || this.slot.contains(target) || target?.id === "report-panel";
  }

  get panel() {
    return this.slot.querySelector("#report-panel");
  }

  get signed() {
    return this.panel?.dataset.status === "signed";
  }

  showTab(id) {
    // htmx settles "style" between old and new elements of the same id, through setAttribute: the
    // CSP (style-src 'self') refuses that, and chromium gives every input an empty style attribute.
    if (window.htmx) window.htmx.config.attributesToSettle = ["class", "width", "height"];
    for (const tab of this.tabs) {
      const chosen = tab.id === id;
      tab.setAttribute("aria-selected", String(chosen));
      document.getElementById(tab.getAttribute("aria-controls")).hidden = !chosen;
    }
    this.root.classList.toggle("report-open", id === "side-tab-report");
    // The viewports change width: the viewer measures them again.
    window.dispatchEvent(new Event("resize"));
  }

  swapped() {
    this.dirty = false;
    this.update(this.undecided, this.mayEdit);
    this.dispatchEvent(new CustomEvent("swapped", { detail: { signed: this.signed } }));
  }

  /** Read the panel again (a verdict changed what it brings in), unless the user is typing in it. */
  refresh() {
    if (this.dirty || !this.panel || this.signed || !window.htmx) return; // a signed report no longer changes
    window.htmx.ajax("GET", this.url, { target: "#report-slot", swap: "innerHTML" });
  }

  /** The Sign button and the line above the panel, for `undecided` AI findings. */
  update(undecided, mayEdit) {
    this.undecided = undecided;
    this.mayEdit = mayEdit;
    const badge = this.root.querySelector("#report-tab-badge");
    badge.textContent = String(undecided);
    badge.hidden = undecided === 0 || this.signed;
    const blocked = undecided === 1 ? text("signBlockedOne") : text("signBlocked", { count: undecided });
    const sign = this.panel?.querySelector("button[formaction*='/sign']");
    if (sign) {
      sign.disabled = undecided > 0;
      sign.title = undecided > 0 ? blocked : "";
    }
    this.signState(undecided > 0 && !this.signed && mayEdit ? blocked : "");
  }

  signState(message) {
    const line = this.root.querySelector("#report-sign-state");
    line.textContent = message;
    line.hidden = !message;
  }
}
