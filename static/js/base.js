// Behaviour shared by every page; no inline script, so the CSP can forbid it.
for (const select of document.querySelectorAll("select[data-autosubmit]")) {
  select.addEventListener("change", () => select.form.submit());
}
