// The AI panel's translated text, rendered by the server into the "ai-strings" JSON script element
// (templates/ai_overlays/_findings_panel.html), composed like strings.js does for the viewer.

const element = document.getElementById("ai-strings");
const strings = element ? JSON.parse(element.textContent) : {};

/**
 * @param {string} key
 * @param {Record<string, string|number>} [values]
 */
export function aiText(key, values = {}) {
  const template = strings[key] ?? key;
  return template.replace(/\{(\w+)\}/g, (match, name) => (name in values ? String(values[name]) : match));
}
