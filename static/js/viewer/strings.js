// Translated text, rendered by the server into a JSON script element (not an inline script, so the
// CSP allows it) and composed here; braces in a string name the values put in.

const element = document.getElementById("viewer-strings");
const strings = element ? JSON.parse(element.textContent) : {};

/**
 * The translated string for `key` with `{name}` placeholders replaced.
 * @param {string} key
 * @param {Record<string, string|number>} [values]
 * @returns {string}
 */
export function text(key, values = {}) {
  const template = strings[key] ?? key;
  return template.replace(/\{(\w+)\}/g, (match, name) => (name in values ? String(values[name]) : match));
}
