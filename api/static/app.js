// The page's start: facets, the readiness watch, event wiring and init().
// Loaded last, after page.js, users.js, photo.js, search.js and results.js.
"use strict";

// ---------------------------------------------------------------- catalogue facets

async function loadFacets() {
  try {
    const facets = await api("/facets");
    const selected = els.category.value;
    const options = [new Option("All categories", "")];
    for (const category of facets.categories || []) {
      const indent = "\u00a0\u00a0\u00a0".repeat(Math.max(0, category.depth - 1));
      options.push(new Option(`${indent}${category.name} (${category.count})`, category.path));
    }
    if (selected && !options.some((o) => o.value === selected)) options.push(new Option(selected, selected));
    els.category.replaceChildren(...options);
    els.category.value = selected;
    els.locationList.replaceChildren(...(facets.locations || []).map((l) => new Option(l)));
    labelPriceFilter(facets.currency);
  } catch {
    // The page still works without facets: the category list is just shorter.
  }
}

// What each channel of the index version adds to a search, in the page's words.
const CHANNEL_NAMES = {
  listings: "listings (text and photos)",
  texts: "listing text",
  lexical: "keywords",
  photos: "listing photos",
  instances: "same-item photos",
};

// The first index's frozen encoders put only text into the listings channel.
// progress.js calls this again when the trained model takes over.
function showChannels(channels, model) {
  const names =
    model === "frozen" ? { ...CHANNEL_NAMES, listings: "listings (text only)" } : CHANNEL_NAMES;
  const named = channels.map((c) => names[c] || c);
  els.channels.textContent = named.length ? `Searching by ${named.join(", ")}.` : "";
  els.channels.hidden = !named.length;
}

async function watchReadiness() {
  for (let attempt = 0; attempt < 120; attempt += 1) {
    try {
      const response = await fetch("/readyz", { cache: "no-store" });
      if (response.ok) {
        els.banner.hidden = true;
        const ready = await response.json();
        showChannels(ready.channels || [], ready.model);
        return;
      }
    } catch {
      // the server may be restarting; keep trying
    }
    els.banner.textContent = "Warming up the search engine… results will appear in a moment.";
    els.banner.hidden = false;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  els.banner.textContent = "The search engine is not ready. Check the server log.";
}

// ---------------------------------------------------------------- wiring

function bind() {
  els.form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (!hasQuery()) {
      showState("welcome", "Type something to search for, or add a photo.");
      els.q.focus();
      return;
    }
    runSearch({ keepRanks: true });
  });
  els.photoInput.addEventListener("change", () => {
    const file = els.photoInput.files?.[0];
    if (file) setPhoto(file);
  });
  els.photoClear.addEventListener("click", clearPhoto);
  for (const input of [els.category, els.personalise]) input.addEventListener("change", scheduleSearch);
  for (const input of [els.priceMin, els.priceMax, els.location]) input.addEventListener("change", scheduleSearch);
  els.filtersReset.addEventListener("click", resetFilters);
  els.user.addEventListener("change", onUserChange);
  els.loadMore.addEventListener("click", () => runSearch({ append: true }));
  els.dialogClose.addEventListener("click", closeListing);
  els.dialog.addEventListener("close", onListingClosed);
  els.dialog.addEventListener("click", (e) => {
    if (e.target === els.dialog) closeListing(); // click on the backdrop
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "/" && document.activeElement === document.body && !els.dialog.open) {
      e.preventDefault();
      els.q.focus();
    }
  });
  setupDropAndPaste();
}

async function init() {
  bind();
  restoreFromUrl();
  setupFilterFold();
  loadFacets();
  watchReadiness();
  showWelcome();
  await loadUsers(); // a shared link may name a user: their token must be known first
  if (hasQuery()) runSearch();
}

init();
