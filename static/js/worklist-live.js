// The live worklist. Rows arrive over the WebSocket that templates/worklist/_live.html opens (htmx
// ws extension, out-of-band swaps by row id); this script only decides when the page re-reads its
// rows, by dispatching "worklist:refresh" on document.body, which the page's rows listen for:
// - a new study arrived: its place in a sorted, filtered, paginated view is the server's to decide;
// - the socket came back after a drop: whatever was missed meanwhile costs nothing.
(() => {
  const REFRESH_EVENT = "worklist:refresh";
  const REFRESH_ELEMENT_ID = "worklist-refresh";
  // A burst of arrivals (a modality sending a day's studies) becomes one re-read, not one each.
  const COALESCE_MILLISECONDS = 250;
  // The server closed the socket on purpose: signed out, or no longer allowed. Reloading shows why.
  const CLOSE_CODES_NEEDING_RELOAD = [4401, 4403];

  let pendingRefresh = null;
  const socketsOpenedBefore = new WeakSet();

  function requestRefresh(reason) {
    if (pendingRefresh !== null) return;
    pendingRefresh = setTimeout(() => {
      pendingRefresh = null;
      document.body.dispatchEvent(new CustomEvent(REFRESH_EVENT, { detail: { reason } }));
    }, COALESCE_MILLISECONDS);
  }

  document.body.addEventListener("htmx:oobAfterSwap", (event) => {
    if (event.target.id === REFRESH_ELEMENT_ID) requestRefresh("new_study");
  });

  // Rows can cross on the wire with a re-read of the page: never replace a row by an older version.
  document.body.addEventListener("htmx:oobBeforeSwap", (event) => {
    const incoming = event.detail.fragment && event.detail.fragment.firstElementChild;
    const current = event.detail.target;
    if (!incoming || !incoming.dataset || !current.dataset) return;
    if (Number(incoming.dataset.version) < Number(current.dataset.version)) event.detail.shouldSwap = false;
  });

  // data-state on the socket's element ("open", "closed") is for styles and tests.
  document.body.addEventListener("htmx:wsOpen", (event) => {
    event.target.dataset.state = "open";
    if (socketsOpenedBefore.has(event.target)) requestRefresh("reconnected");
    socketsOpenedBefore.add(event.target);
  });

  document.body.addEventListener("htmx:wsClose", (event) => {
    event.target.dataset.state = "closed";
    if (CLOSE_CODES_NEEDING_RELOAD.includes(event.detail.event.code)) window.location.reload();
  });
})();
