// The AI results of the open study (ai_overlays/viewer_api.py) and the socket that says when they
// changed (ai_overlays/viewer_live.py). A nudge on the socket, or the socket coming back after a
// drop, re-reads the results: the server is the truth, a missed message costs nothing.

const RETRY_SECONDS = [1, 2, 5, 10, 30];
// Closed on purpose by the server (signed out, not allowed, no such study): retrying cannot help.
const FINAL_CLOSE_CODES = [4401, 4403, 4404];

export class AiResults extends EventTarget {
  /** @param {string} url the results endpoint of the study */
  constructor(url) {
    super();
    this.url = url;
    /** @type {object[]} one entry per model, as the endpoint answers */
    this.models = [];
    this.loading = null;
    this.again = false;
    this.loadCount = 0;
  }

  /**
   * Read the results; a read asked for while one is on its way runs once after it.
   * Dispatches "change" after each successful read and "error" (detail: message) on failure.
   */
  load() {
    if (this.loading) {
      this.again = true;
      return this.loading;
    }
    this.loading = this.fetch().finally(() => {
      this.loading = null;
      if (this.again) {
        this.again = false;
        this.load();
      }
    });
    return this.loading;
  }

  async fetch() {
    try {
      const response = await fetch(this.url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (!response.ok) {
        let reason = `${response.status} ${response.statusText}`;
        try {
          reason = (await response.json()).error || reason;
        } catch {
          // not JSON: the status says enough
        }
        throw new Error(reason);
      }
      this.models = (await response.json()).models;
      this.loadCount += 1;
      this.dispatchEvent(new Event("change"));
    } catch (error) {
      this.dispatchEvent(new CustomEvent("error", { detail: error.message }));
    }
  }
}

/**
 * Keep a socket to the study's AI changes open, reconnecting with growing waits.
 * @param {string} path e.g. /ws/viewer/studies/<uid>/ai/
 * @param {{changed: (reason: string) => void, state: (state: string) => void}} handlers
 */
export function followLiveChanges(path, { changed, state }) {
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}`;
  let failures = 0;
  let openedBefore = false;

  function connect() {
    const socket = new WebSocket(url);
    socket.addEventListener("open", () => {
      failures = 0;
      state("open");
      // Whatever changed while the socket was down is read now.
      if (openedBefore) changed("reconnected");
      openedBefore = true;
    });
    socket.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      changed(message.kind);
    });
    socket.addEventListener("close", (event) => {
      state("closed");
      if (FINAL_CLOSE_CODES.includes(event.code)) return;
      const delay = RETRY_SECONDS[Math.min(failures, RETRY_SECONDS.length - 1)];
      failures += 1;
      setTimeout(connect, delay * 1000);
    });
  }

  connect();
}
