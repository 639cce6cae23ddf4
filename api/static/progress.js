// The model banner: while the first index (frozen encoders, text only) serves and the
// trained model is still training, say so and how far training is (GET /progress);
// the banner goes away once the trained model serves, and the channel line (app.js)
// then names the trained model's channels.
"use strict";

(() => {
  const banner = document.getElementById("model-banner");
  if (!banner) return;
  const EVERY_MS = 3000;

  function render(state) {
    showChannels(state.channels || [], state.model);
    if (state.model !== "frozen") {
      banner.hidden = true;
      return false;
    }
    const training = state.line ? ` Training: ${state.line}.` : "";
    banner.textContent = `Serving the ${state.description}. Photo search starts when the trained model serves.${training}`;
    banner.hidden = false;
    return true;
  }

  async function poll() {
    let again = true;
    try {
      const response = await fetch("/progress", { headers: { Accept: "application/json" } });
      if (response.ok) again = render(await response.json());
    } catch {
      // The server is starting or swapping models: try again shortly.
    }
    if (again) setTimeout(poll, EVERY_MS);
  }

  poll();
})();
