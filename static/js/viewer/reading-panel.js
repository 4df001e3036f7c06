// The reader's marks in the findings panel: each AI finding's verdict and who gave it, the progress
// line, the selected finding, why this user may not change anything, and the findings the reader
// added ("Added by you", each with its remove button).

import { findingCaption } from "./ai-layer.js";
import { aiText } from "./ai-strings.js";

export const text = (key, values) => aiText(`reading.${key}`, values);

function element(tag, className, textContent) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (textContent !== undefined) node.textContent = textContent;
  return node;
}

/** "Accepted · Kim", "Rejected: Benign finding · Kim", "Undecided". */
export function verdictText(reading, reasons) {
  const current = reading.current;
  if (!current || reading.verdict === "undecided") return text("undecided");
  if (reading.verdict === "rejected") {
    const reason = reasons.find((item) => item.value === current.reason)?.label ?? current.reason;
    const note = current.note ? ` (${current.note})` : "";
    return text("rejectedBy", { reason: `${reason}${note}`, name: current.decided_by });
  }
  return text("decidedBy", { verdict: text(reading.verdict), name: current.decided_by });
}

export class ReadingPanel {
  /** @param {HTMLElement} root the .ai-panel element */
  constructor(root) {
    this.root = root;
    this.bar = root.querySelector("#reading-bar");
    this.list = root.querySelector("#ai-models");
    this.added = root.querySelector("#reader-findings");
    this.addedList = root.querySelector("#reader-finding-list");
    this.noticeTimer = null;
  }

  /** The AI findings' buttons in the panel's order (the order J / K walk). */
  findingIds() {
    return [...this.list.querySelectorAll("button[data-finding-id]")].map((button) => Number(button.dataset.findingId));
  }

  /**
   * @param {import("./reading-state.js").ReadingState} state
   * @param {number|null} selected
   * @param {Map<number, object>} aiFindings the panel's findings by id (for captions)
   */
  render(state, selected, aiFindings) {
    if (!state.loaded) return;
    this.bar.hidden = false;
    const reasons = state.state.rejection_reasons;
    for (const button of this.list.querySelectorAll("button[data-finding-id]")) {
      const id = Number(button.dataset.findingId);
      const reading = state.findings.get(id);
      const item = button.closest("li");
      item.querySelector(".reading-verdict")?.remove();
      button.disabled = false; // a whole-study finding is selected to be decided too
      button.setAttribute("aria-current", String(id === selected));
      if (!reading) continue;
      item.dataset.verdict = reading.verdict;
      const line = element("p", `reading-verdict verdict-${reading.verdict}`, verdictText(reading, reasons));
      if (reading.verdict === "modified" && reading.current?.label) line.title = reading.current.label;
      item.append(line);
    }
    const total = state.findings.size;
    const undecided = state.undecided.length;
    this.root.querySelector("#reading-progress").textContent = undecided
      ? text("progress", { decided: total - undecided, total })
      : text("allDecided");
    const reason = this.root.querySelector("#reading-read-only");
    reason.textContent = state.readOnlyReason;
    reason.hidden = state.mayEdit;
    for (const button of this.bar.querySelectorAll(".reading-actions button")) {
      const needsSelection = button.dataset.reading !== "add";
      button.disabled = !state.mayEdit || (needsSelection && selected === null);
      if (!state.mayEdit) button.title = state.readOnlyReason;
    }
    const finding = selected === null ? null : aiFindings.get(selected);
    this.root.querySelector("#reading-selected").textContent = finding
      ? text("selected", { caption: `${findingCaption(finding)}${finding.label ? ` · ${finding.label}` : ""}` })
      : text("noneSelected");
    this.renderAdded(state);
  }

  renderAdded(state) {
    const added = state.readerFindings;
    this.added.hidden = added.length === 0;
    this.addedList.replaceChildren(
      ...added.map((finding) => {
        const item = element("li", "reader-finding");
        item.dataset.readerFindingId = String(finding.id);
        const caption = element("span", "reader-finding-caption", findingCaption(finding));
        item.append(caption);
        if (finding.label) item.append(element("span", "reader-finding-label", finding.label));
        item.append(element("span", "reader-finding-by", text("addedBy", { name: finding.created_by })));
        const remove = element("button", "reader-finding-remove", text("remove"));
        remove.type = "button";
        remove.title = state.mayEdit ? text("removeTitle") : state.readOnlyReason;
        remove.disabled = !state.mayEdit;
        remove.dataset.removeReaderFinding = String(finding.id);
        item.append(remove);
        return item;
      }),
    );
  }

  /** A message under the progress line; errors stay until the next one. */
  notice(message, isError) {
    const line = this.root.querySelector("#reading-notice");
    clearTimeout(this.noticeTimer);
    line.textContent = message;
    line.hidden = !message;
    line.classList.toggle("error", Boolean(isError));
    line.setAttribute("role", isError ? "alert" : "status");
    if (message && !isError) this.noticeTimer = setTimeout(() => (line.hidden = true), 4000);
  }
}
