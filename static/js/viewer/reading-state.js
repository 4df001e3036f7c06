// The reader's side of the study (reading/reading_state.py): the verdict of every AI finding, the
// findings the reader added, and whether this user may change them. Every change is posted at once
// with the revision it was decided from; the server is the truth, so a refusal re-reads the state.

import { aiText } from "./ai-strings.js";

const text = (key, values) => aiText(`reading.${key}`, values);

export class ReadingState extends EventTarget {
  /**
   * @param {string} url the decisions endpoint of the study
   * @param {string} csrfToken
   */
  constructor(url, csrfToken) {
    super();
    this.url = url;
    this.csrfToken = csrfToken;
    this.state = null;
    /** @type {Map<number, object>} AI finding id -> its reading (verdict, revision, history, urls) */
    this.findings = new Map();
  }

  get loaded() {
    return this.state !== null;
  }

  get mayEdit() {
    return Boolean(this.state?.may_edit);
  }

  get readOnlyReason() {
    return this.state?.read_only_reason ?? "";
  }

  get readerFindings() {
    return this.state?.reader_findings ?? [];
  }

  get undecided() {
    return [...this.findings.values()].filter((finding) => finding.verdict === "undecided");
  }

  async load() {
    const response = await fetch(this.url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
    this.state = await response.json();
    this.findings = new Map(this.state.findings.map((finding) => [finding.id, finding]));
    this.changed();
  }

  changed(notice = "", isError = false) {
    this.dispatchEvent(new CustomEvent("change", { detail: { notice, isError } }));
  }

  /** A verdict on an AI finding: {verdict, reason, note, geometry_kind, geometry, label}. */
  decide(id, verdict) {
    const finding = this.findings.get(id);
    return this.post(finding.urls.decision, { ...verdict, expected_revision: finding.revision }, (body) => {
      this.findings.set(id, body);
    });
  }

  undo(id) {
    const finding = this.findings.get(id);
    if (!finding.revision) {
      this.changed(text("nothingToUndo"), true);
      return Promise.resolve(false);
    }
    return this.post(finding.urls.undo, { expected_revision: finding.revision }, (body) => this.findings.set(id, body));
  }

  /** A finding the AI missed: {type, label, geometry_kind, geometry, sop_uid, series_uid, frame}. */
  add(finding) {
    return this.post(this.state.urls.reader_findings, finding, (body) => this.state.reader_findings.push(body));
  }

  remove(added) {
    return this.post(added.urls.remove, {}, () => {
      this.state.reader_findings = this.state.reader_findings.filter((item) => item.id !== added.id);
    });
  }

  /** POST JSON; true when it was stored. A refusal is shown and the state read again. */
  async post(url, body, stored) {
    let response;
    let answer = {};
    try {
      response = await fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": this.csrfToken },
        body: JSON.stringify(body),
      });
      answer = await response.json().catch(() => ({}));
    } catch (error) {
      this.changed(text("failed", { reason: error.message }), true);
      return false;
    }
    if (response.ok) {
      stored(answer);
      this.changed(text("saved"));
      return true;
    }
    let notice = answer.message || text("failed", { reason: `${response.status} ${response.statusText}` });
    if (answer.error === "stale") notice = answer.changed_by ? text("staleBy", { name: answer.changed_by }) : text("stale");
    // Whatever happened meanwhile (another verdict, a signature, a lost claim) is read back.
    await this.load().catch(() => {});
    this.changed(notice, true);
    return false;
  }
}
