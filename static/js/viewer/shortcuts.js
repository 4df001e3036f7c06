// Keyboard shortcuts of the viewer; silent while the user types in a field.

const TOOL_KEYS = { w: "window", p: "pan", z: "zoom", s: "scroll", l: "length", a: "angle", e: "ellipse" };
const SCROLL_KEYS = { ArrowUp: -1, ArrowLeft: -1, ArrowDown: 1, ArrowRight: 1, PageUp: -10, PageDown: 10 };

function isTyping(target) {
  return (
    target instanceof HTMLElement &&
    (target.isContentEditable || ["INPUT", "SELECT", "TEXTAREA"].includes(target.tagName))
  );
}

/**
 * @param {import("./viewer.js").Viewer} viewer
 * @param {import("./help-overlay.js").HelpOverlay} help
 */
export function installShortcuts(viewer, help) {
  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || isTyping(event.target)) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    // A focused button answers Space and Enter itself.
    if (event.target instanceof HTMLButtonElement && (event.key === " " || event.key === "Enter")) return;
    const key = event.key;
    if (help.isOpen) {
      if (key === "Escape" || key === "?") {
        help.close();
        event.preventDefault();
      }
      return;
    }
    if (handle(viewer, help, event, key)) event.preventDefault();
  });
}

function handle(viewer, help, event, key) {
  const viewport = viewer.activeViewport;
  const lower = key.length === 1 ? key.toLowerCase() : key;
  if (key === "?") {
    help.open();
    return true;
  }
  if (key in SCROLL_KEYS) {
    viewport?.scrollBy(SCROLL_KEYS[key]);
    return true;
  }
  if (key === "Home" || key === "End") {
    viewport?.setFrame(key === "Home" ? 0 : Number.MAX_SAFE_INTEGER);
    return true;
  }
  if (/^[0-6]$/.test(key)) {
    viewer.applyPreset(key);
    return true;
  }
  if (lower in TOOL_KEYS) {
    viewer.setTool(TOOL_KEYS[lower]);
    return true;
  }
  switch (key === " " ? " " : lower) {
    case "i":
      viewport?.toggleInvert();
      return true;
    case "r":
      viewer.reset();
      return true;
    case "f":
      viewport?.fit();
      return true;
    case "o":
      viewport?.actualSize();
      return true;
    case " ":
      viewer.toggleCine();
      return true;
    case "[":
      viewer.changeCineRate(-5);
      return true;
    case "]":
      viewer.changeCineRate(5);
      return true;
    case "y":
      viewer.setSynchronised(!viewer.synchronised);
      return true;
    case "h":
      viewer.ai?.toggle();
      return Boolean(viewer.ai);
    case "Delete":
    case "Backspace":
      viewport?.measurements.removeLast();
      return true;
    case "Escape":
      viewport?.measurements.cancel();
      return true;
    case "Tab":
      if (document.activeElement !== document.body && !document.activeElement?.classList.contains("viewport")) {
        return false; // Tab still moves the focus through the toolbar
      }
      viewer.activateNext(event.shiftKey ? -1 : 1);
      return true;
    default:
      return false;
  }
}
