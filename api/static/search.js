// Running a search: filters, the request body, paging, the URL, and the
// loading / empty / error states.
"use strict";

// ---------------------------------------------------------------- search

function hasQuery() {
  return Boolean(els.q.value.trim() || state.photo);
}

function showFilterCount(filters) {
  const n = Object.keys(filters).length;
  $("#filters-count").textContent = n ? String(n) : "";
}

/** On a narrow screen the filters fold away so results come first; wide screens always show them. */
function setupFilterFold() {
  const box = $("#filters-box");
  const narrow = window.matchMedia("(max-width: 720px)");
  const apply = () => { box.open = !narrow.matches || Object.keys(readFilters()).length > 0; };
  apply();
  narrow.addEventListener("change", apply);
}

function readFilters() {
  const filters = {};
  const min = els.priceMin.value.trim();
  const max = els.priceMax.value.trim();
  if (min !== "") filters.price_min = Number(min);
  if (max !== "") filters.price_max = Number(max);
  if (els.category.value) filters.category = els.category.value;
  const where = els.location.value.trim();
  if (where) filters.location = where;
  return filters;
}

function validateFilters(filters) {
  for (const [key, input] of [["price_min", els.priceMin], ["price_max", els.priceMax]]) {
    const value = filters[key];
    const bad = value !== undefined && (!Number.isFinite(value) || value < 0);
    input.setAttribute("aria-invalid", String(bad));
    if (bad) return `${key === "price_min" ? "Minimum" : "Maximum"} price must be a positive number.`;
  }
  if (filters.price_min !== undefined && filters.price_max !== undefined &&
      filters.price_min > filters.price_max) {
    els.priceMax.setAttribute("aria-invalid", "true");
    return "The minimum price is above the maximum.";
  }
  return "";
}

function buildBody(offset) {
  const text = els.q.value.trim();
  return {
    text: text || null,
    image: state.photo ? state.photo.base64 : null,
    k: PAGE_SIZE,
    offset,
    filters: readFilters(),
    user_id: state.user || null,
    personalise: canActAsUser() && els.personalise.checked,
    facets: true,
    ignore_parsed: ignoredReadings(text), // chips.js: the readings a click removed
  };
}

function signatureOf(body) {
  return JSON.stringify([body.text, state.photo?.id ?? null, body.filters, body.ignore_parsed]);
}

function scheduleSearch() {
  clearTimeout(state.pending);
  if (hasQuery()) state.pending = setTimeout(() => runSearch({ keepRanks: true }), 200);
}

/**
 * Run the search in the form. `keepRanks` compares the new order with the one on
 * screen (same query) so a personalised re-rank shows which listings moved.
 */
async function runSearch({ append = false, keepRanks = false, quiet = false } = {}) {
  clearTimeout(state.pending);
  const filters = readFilters();
  showFilterCount(filters);
  const invalid = validateFilters(filters);
  if (invalid) {
    state.controller?.abort();
    els.results.replaceChildren();
    els.loadMore.hidden = true;
    showState("error", invalid);
    setStatus("");
    return;
  }
  if (!hasQuery()) {
    showWelcome();
    return;
  }
  const offset = append ? state.offset + PAGE_SIZE : 0;
  const body = buildBody(offset);
  const signature = signatureOf(body);
  const previousRanks = !append && keepRanks && signature === state.signature ? state.ranks : null;

  state.controller?.abort();
  const controller = new AbortController();
  state.controller = controller;
  if (!append) syncUrl(body);
  setLoading(true, { append, quiet });

  let payload;
  try {
    payload = await api("/search", {
      method: "POST",
      headers: { "Content-Type": "application/json", ...userHeaders() },
      body: JSON.stringify(body),
      signal: controller.signal,
    });
  } catch (err) {
    if (err.name === "AbortError") return;
    setLoading(false, { append });
    if (!append) {
      els.results.replaceChildren();
      els.loadMore.hidden = true;
      showUnderstood(null);
    }
    showState("error", `Search failed: ${err.message}`, { retry: true });
    setStatus("");
    return;
  }
  if (state.controller !== controller) return;
  setLoading(false, { append });
  state.historyChanged = false;

  const results = payload.results;
  state.offset = offset;
  if (!append) {
    state.signature = signature;
    state.ranks = new Map(results.map((r, i) => [r.id, i]));
  } else {
    const start = state.ranks.size;
    results.forEach((r, i) => state.ranks.set(r.id, start + i));
  }
  renderResults(results, { append, previousRanks });
  if (!append) renderFacets(payload.facets);
  if (!append) showUnderstood(payload);
  els.loadMore.hidden = results.length < PAGE_SIZE;
  const shown = append ? els.results.children.length : results.length;
  setStatus(describe(payload, shown, body));
  if (!append && !shown) {
    const filtered = Object.keys(body.filters).length > 0;
    showState("empty", filtered
      ? "No listings match these filters. Try widening or clearing some of them."
      : "No listings found. Try different words or another photo.", { clearFilters: filtered });
  } else {
    showState(null);
  }
  if (!append) {
    els.heading.textContent = headingFor(body);
    els.heading.title = els.heading.textContent;
  }
}

function headingFor(body) {
  if (body.text && body.image) return `“${body.text}” + your photo`;
  if (body.text) return `Results for “${body.text}”`;
  return "Listings like your photo";
}

/** "24 listings · 12 ms · personalised for alex": the count, the server's query time, whose ranking. */
function describe(payload, shown, body) {
  const took = payload.took_ms;
  const parts = [`${shown.toLocaleString("en-GB")} ${shown === 1 ? "listing" : "listings"}`];
  parts.push(`${took < 10 ? took.toFixed(1) : Math.round(took)} ms`);
  if (body.personalise && body.user_id) parts.push(`personalised for ${body.user_id}`);
  else if (body.user_id && !canActAsUser()) parts.push(`not personalised (no token for ${body.user_id})`);
  return parts.join(" · ");
}

function setStatus(text) {
  els.status.textContent = text;
}

function setLoading(loading, { append = false, quiet = false } = {}) {
  els.results.setAttribute("aria-busy", String(loading));
  if (append) {
    els.loadMore.disabled = loading;
    els.loadMore.textContent = loading ? "Loading…" : "Show more";
    return;
  }
  if (loading && !quiet) {
    setStatus("Searching…");
    showState(null);
    if (!els.results.children.length || els.results.querySelector(".card-skeleton")) {
      els.results.replaceChildren(...Array.from({ length: 8 }, skeletonCard));
    } else {
      els.results.classList.add("is-stale");
    }
  } else if (!loading) {
    els.results.classList.remove("is-stale");
  }
}

function skeletonCard() {
  const div = document.createElement("div");
  div.className = "card card-skeleton";
  div.setAttribute("aria-hidden", "true");
  div.innerHTML = '<div class="card-media"></div><div class="card-body"><span></span><span></span><span></span></div>';
  return div;
}

function showWelcome() {
  state.controller?.abort();
  state.signature = null;
  renderFacets(null);
  els.results.replaceChildren();
  els.loadMore.hidden = true;
  showUnderstood(null);
  els.heading.textContent = "Find something second-hand";
  els.heading.title = "";
  setStatus("");
  showState("welcome", "Search by words, by photo, or both. Drop or paste a photo anywhere on the page.",
    { examples: true });
}

function showState(kind, message = "", { retry = false, clearFilters = false, examples = false } = {}) {
  els.stateBox.replaceChildren();
  els.stateBox.className = "state";
  if (!kind) return;
  els.stateBox.classList.add(`state-${kind}`);
  const icon = document.createElement("div");
  icon.className = "state-icon";
  icon.setAttribute("aria-hidden", "true");
  icon.innerHTML = STATE_ICONS[kind] || "";
  const text = document.createElement("p");
  text.textContent = message;
  if (kind === "error") text.setAttribute("role", "alert");
  els.stateBox.append(icon, text);
  if (retry) els.stateBox.append(makeButton("Try again", "btn btn-secondary", () => runSearch()));
  if (clearFilters) els.stateBox.append(makeButton("Clear filters", "btn btn-secondary", resetFilters));
  if (examples) {
    const list = document.createElement("div");
    list.className = "examples";
    list.setAttribute("aria-label", "Example searches");
    for (const query of EXAMPLE_QUERIES) {
      list.append(makeButton(query, "example", () => {
        els.q.value = query;
        runSearch();
      }));
    }
    els.stateBox.append(list);
  }
}

function el(tag, className, text = "") {
  const element = document.createElement(tag);
  element.className = className;
  element.textContent = text;
  return element;
}

function makeButton(label, className, onClick) {
  const element = el("button", className, label);
  element.type = "button";
  element.addEventListener("click", onClick);
  return element;
}

function syncUrl(body) {
  const params = new URLSearchParams();
  if (body.text) params.set("q", body.text);
  for (const [key, value] of Object.entries(body.filters)) params.set(key, String(value));
  if (state.user) params.set("user", state.user);
  const query = params.toString();
  history.replaceState(null, "", query ? `?${query}` : location.pathname);
}

function restoreFromUrl() {
  const params = new URLSearchParams(location.search);
  els.q.value = params.get("q") || "";
  els.priceMin.value = params.get("price_min") || "";
  els.priceMax.value = params.get("price_max") || "";
  els.location.value = params.get("location") || "";
  const category = params.get("category");
  if (category) {
    if (![...els.category.options].some((o) => o.value === category)) {
      els.category.append(new Option(category, category));
    }
    els.category.value = category;
  }
}

function resetFilters() {
  els.priceMin.value = "";
  els.priceMax.value = "";
  els.category.value = "";
  els.location.value = "";
  for (const input of [els.priceMin, els.priceMax]) input.removeAttribute("aria-invalid");
  if (hasQuery()) runSearch({ keepRanks: true });
}
