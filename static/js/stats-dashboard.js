// The agreement dashboard: draws each chart from the JSON the server put beside it (Plotly.react on
// the plotly.min.js we serve ourselves), and re-reads the page's figures without a reload whenever
// its WebSocket says they may have moved (stats/consumers.py). The page's URL is the view: the
// re-read asks the same URL for the #stats-body part only.
const BODY_ID = "stats-body";
const LIVE_ID = "stats-live";
// A burst of verdicts (a reader going through a study's findings) becomes one re-read.
const COALESCE_MILLISECONDS = 300;
const RETRY_MILLISECONDS = [1000, 2000, 5000, 10000, 30000];
// The server closed the socket on purpose (signed out, not allowed): reloading shows why.
const CLOSE_CODES_NEEDING_RELOAD = [4401, 4403];
const PLOTLY_CONFIG = {
  responsive: true,
  displaylogo: false,
  modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d"],
};

function drawCharts(root) {
  if (!window.Plotly) return;
  for (const element of root.querySelectorAll("[data-chart]")) {
    const source = document.getElementById(element.dataset.chart);
    if (!source) continue;
    const figure = JSON.parse(source.textContent);
    // Charts read at the page's scale: the root font grows with the screen (1280x800 to 4K).
    const rootSize = parseFloat(getComputedStyle(document.documentElement).fontSize) || 14;
    figure.layout.font = { ...(figure.layout.font || {}), size: Math.round(rootSize * 0.85) };
    window.Plotly.react(element, figure.data, figure.layout, PLOTLY_CONFIG);
  }
}

let refreshes = 0;
let pending = null;

async function refresh() {
  const response = await fetch(window.location.href, {
    headers: { "HX-Request": "true", "HX-Target": BODY_ID },
    credentials: "same-origin",
  });
  if (!response.ok) return;
  const current = document.getElementById(BODY_ID);
  const holder = document.createElement("div");
  holder.innerHTML = await response.text();
  const fresh = holder.querySelector(`#${BODY_ID}`);
  if (!current || !fresh) return;
  if (window.Plotly) current.querySelectorAll("[data-chart]").forEach((chart) => window.Plotly.purge(chart));
  current.replaceWith(fresh);
  drawCharts(fresh);
  refreshes += 1;
  // For styles and tests: how many times the figures were re-read.
  fresh.dataset.refreshes = String(refreshes);
}

function requestRefresh() {
  if (pending !== null) return;
  pending = setTimeout(() => {
    pending = null;
    refresh().catch(() => {});
  }, COALESCE_MILLISECONDS);
}

function listen(indicator, attempt = 0) {
  const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(`${scheme}//${window.location.host}/ws/stats/`);
  socket.addEventListener("open", () => {
    indicator.dataset.state = "open";
    // Whatever moved while the socket was down is re-read once.
    if (attempt > 0) requestRefresh();
    attempt = 0;
  });
  socket.addEventListener("message", requestRefresh);
  socket.addEventListener("close", (event) => {
    indicator.dataset.state = "closed";
    if (CLOSE_CODES_NEEDING_RELOAD.includes(event.code)) {
      window.location.reload();
      return;
    }
    const wait = RETRY_MILLISECONDS[Math.min(attempt, RETRY_MILLISECONDS.length - 1)];
    setTimeout(() => listen(indicator, attempt + 1), wait);
  });
}

let resizeTimer = null;

function start() {
  drawCharts(document);
  // The font follows the viewport width, so a resized window redraws at its new scale.
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => drawCharts(document), 200);
  });
  const indicator = document.getElementById(LIVE_ID);
  if (indicator) listen(indicator);
}

// plotly.min.js is a deferred classic script before this module: both run after parsing, in order.
start();

// A bookmarkable address: the filter form leaves its empty fields out of the URL.
const filters = document.querySelector("form.stats-filters");
if (filters) {
  filters.addEventListener("formdata", (event) => {
    for (const [name, value] of [...event.formData.entries()]) {
      if (value === "") event.formData.delete(name);
    }
  });
}
