// The keyboard shortcut overlay (`?`): a dialog already in the page, translated by the template.

export class HelpOverlay {
  /** @param {HTMLElement} element */
  constructor(element) {
    this.element = element;
    this.returnFocus = null;
    element.addEventListener("click", (event) => {
      if (event.target === element) this.close(); // a click on the dimmed backdrop
    });
  }

  get isOpen() {
    return !this.element.hidden;
  }

  open() {
    this.returnFocus = document.activeElement;
    this.element.hidden = false;
    this.element.querySelector("button")?.focus();
  }

  close() {
    this.element.hidden = true;
    if (this.returnFocus instanceof HTMLElement) this.returnFocus.focus();
  }

  toggle() {
    if (this.isOpen) this.close();
    else this.open();
  }
}
