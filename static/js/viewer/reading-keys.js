// The reading keys, heard before the viewer's own (shortcuts.js): J / K next / previous AI finding,
// M add a missed one; with a finding selected A accept, R reject, E edit, U undo (otherwise A, R and E
// keep their viewer meaning: angle, reset, ellipse). While a reading form is open: 1-5 choose the
// rejection reason, Enter confirms, Escape cancels; every other key still works (scroll, window).

function isTyping(target) {
  return target instanceof HTMLElement && (target.isContentEditable || ["INPUT", "SELECT", "TEXTAREA"].includes(target.tagName));
}

const ON_SELECTED = { a: "accept", r: "reject", e: "edit", u: "undo" };

/** @param {import("./reading-controller.js").ReadingController} reading */
export function installReadingKeys(reading) {
  window.addEventListener(
    "keydown",
    (event) => {
      if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
      if (!document.getElementById("viewer-help")?.hidden) return;
      if (event.target.closest?.("#report-tab")) return; // the report form keeps its keys
      if (handle(reading, event)) {
        event.preventDefault();
        event.stopPropagation();
      }
    },
    true,
  );
}

function handle(reading, event) {
  const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
  const typing = isTyping(event.target);
  if (reading.dialog) {
    if (key === "Escape") {
      reading.cancel();
      return true;
    }
    if (key === "Enter") {
      // A text field submits its form itself; a button answers its own Enter.
      if ((typing && event.target.tagName === "INPUT") || event.target instanceof HTMLButtonElement) return false;
      return reading.confirm();
    }
    if (reading.dialog === "reject" && !typing && /^[1-9]$/.test(key)) return reading.chooseReason(Number(key));
    return false;
  }
  if (typing) return false;
  switch (key) {
    case "j":
      reading.step(1);
      return true;
    case "k":
      reading.step(-1);
      return true;
    case "m":
      return reading.act("add");
    case "Escape":
      // Deselect, and let the viewer cancel a measurement with the same key.
      reading.deselect();
      return false;
    default:
      if (key in ON_SELECTED && reading.selected !== null) return reading.act(ON_SELECTED[key]);
      return false;
  }
}
