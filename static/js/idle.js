// The idle timeout's browser half (the server half is accounts/idle_timeout.py). Real input (keys,
// mouse, wheel, touch) is reported at most once a minute, so a radiologist scrolling a stack that is
// already on the GPU stays signed in; live updates are not input. Once nobody has touched the page
// for the idle time, it leaves for the login page, taking patient data off a shared screen.
const meta = document.querySelector('meta[name="idle-timeout"]');

if (meta) {
  const idleMs = Number(meta.content) * 1000;
  const pingEveryMs = Math.min(60_000, idleMs / 4);
  let lastInput = Date.now();
  let lastPing = Date.now(); // the page load itself counted on the server

  const csrfToken = () =>
    document.querySelector("input[name=csrfmiddlewaretoken]")?.value ??
    document.cookie.match(/(?:^|; )csrftoken=([^;]+)/)?.[1] ??
    "";

  const leave = () => {
    const next = encodeURIComponent(location.pathname + location.search);
    location.assign(`${meta.dataset.signedOutUrl}?next=${next}`);
  };

  const ping = async () => {
    lastPing = Date.now();
    try {
      const response = await fetch(meta.dataset.activityUrl, {
        method: "POST",
        headers: { "X-CSRFToken": csrfToken() },
        credentials: "same-origin",
      });
      if (response.status === 401) leave();
    } catch {
      // Offline for a moment: the next input tries again.
    }
  };

  const onInput = () => {
    lastInput = Date.now();
    if (lastInput - lastPing >= pingEveryMs) ping();
  };

  for (const type of ["keydown", "pointerdown", "pointermove", "wheel", "touchstart"]) {
    document.addEventListener(type, onInput, { capture: true, passive: true });
  }
  setInterval(() => {
    if (Date.now() - lastInput >= idleMs) leave();
  }, 15_000);
}
