// Marketplace Search page: talks to the JSON API documented in issue 5
// (POST /search, GET /listings/{id}, GET /listings/{id}/similar,
// POST /users/{id}/events) and keeps every piece of UI state in `state`.
"use strict";

const PAGE_SIZE = 24;
const SIMILAR_K = 8;
const PHOTO_MAX_SIDE = 512; // the model letterboxes to 256 px; more only costs upload time
const OTHER_USER = "__other__";
const EXAMPLE_QUERIES = ["sofa", "mountain bike", "laptop", "wardrobe", "phone"];
const STATE_ICONS = {
  welcome: '<svg viewBox="0 0 24 24"><circle cx="11" cy="11" r="7"/><path d="m20 20-3.5-3.5"/></svg>',
  empty: '<svg viewBox="0 0 24 24"><path d="M4 7h16l-1.5 12h-13z"/><path d="M9 7a3 3 0 0 1 6 0"/></svg>',
  error: '<svg viewBox="0 0 24 24"><path d="M12 3 2 20h20z"/><path d="M12 10v4M12 17h.01"/></svg>',
};

const $ = (selector, root = document) => root.querySelector(selector);

const els = {
  form: $("#search-form"),
  q: $("#q"),
  photoInput: $("#photo"),
  photoChip: $("#photo-chip"),
  photoThumb: $("#photo-thumb"),
  photoClear: $("#photo-clear"),
  priceMin: $("#price-min"),
  priceMax: $("#price-max"),
  category: $("#category"),
  location: $("#location"),
  locationList: $("#location-list"),
  personalise: $("#personalise"),
  filtersReset: $("#filters-reset"),
  user: $("#user"),
  banner: $("#banner"),
  channels: $("#channels"),
  heading: $("#results-heading"),
  status: $("#status"),
  results: $("#results"),
  stateBox: $("#state"),
  loadMore: $("#load-more"),
  dialog: $("#listing"),
  dialogBody: $("#listing-body"),
  dialogClose: $("#listing-close"),
  similar: $("#similar"),
  dropOverlay: $("#drop-overlay"),
  toast: $("#toast"),
  cardTemplate: $("#card-template"),
};

const state = {
  photo: null, // {base64, url, id}: the photo being searched with
  photoSeq: 0,
  offset: 0,
  signature: null, // what was asked, without the user: to compare rankings
  ranks: new Map(), // listing id -> position in the previous ranking of `signature`
  controller: null,
  pending: null,
  opener: null, // element to give focus back to when the listing view closes
  openListingId: null,
  historyChanged: false, // an event was recorded since the last search
  saved: new Set(),
  user: "",
  tokens: new Map(), // user id -> token (null when unknown)
};

// ---------------------------------------------------------------- helpers

const priceFormats = new Map(); // ISO currency code -> Intl.NumberFormat

function priceFormat(currency) {
  const code = currency || "GBP";
  if (!priceFormats.has(code)) {
    const options = { style: "currency", currency: code, maximumFractionDigits: 2, minimumFractionDigits: 0 };
    let format;
    try {
      format = new Intl.NumberFormat(undefined, options);
    } catch {
      // A code this browser does not know: the amount and the code as they are.
      format = { format: (n) => `${n.toLocaleString()} ${code}`, formatToParts: () => [{ type: "currency", value: code }] };
    }
    priceFormats.set(code, format);
  }
  return priceFormats.get(code);
}

/** A price in its own currency: "£1,234", "€25", "Free". */
function formatPrice(price, currency) {
  if (price === null || price === undefined || Number.isNaN(Number(price))) return "Price on request";
  return Number(price) === 0 ? "Free" : priceFormat(currency).format(Number(price));
}

/** The price filter compares amounts in the catalogue's currency: its label says which. */
function labelPriceFilter(currency) {
  if (!currency) return;
  const sign = priceFormat(currency).formatToParts(0).find((part) => part.type === "currency");
  $("#price-label").textContent = `Price (${sign ? sign.value : currency})`;
}

/** "Root / Sub / Leaf" as its last two levels, which say the most on a small card. */
function categoryParts(category) {
  return (category || "").split(" / ").map((s) => s.trim()).filter(Boolean);
}

/** Reasons are phrases like "text match", "photo match", "your interest in Bicycles". */
function reasonKind(reason) {
  const text = reason.toLowerCase();
  if (text.startsWith("your ")) return "personal";
  if (text.includes("photo")) return "photo";
  return "text";
}

/** A search result carries its first photo; a full listing carries all of them. */
function imageUrls(item) {
  if (item.image_urls?.length) return item.image_urls;
  return item.image_url ? [item.image_url] : [];
}

/** FastAPI errors come as {"detail": "..."} or {"detail": [{"msg": ...}]}. */
async function errorMessage(response) {
  let detail = "";
  try {
    const body = await response.json();
    detail = body.detail ?? body.message ?? "";
    if (Array.isArray(detail)) {
      detail = detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`.replace(/^: /, "")).join("; ");
    } else if (typeof detail === "object") {
      detail = JSON.stringify(detail);
    }
  } catch {
    detail = "";
  }
  return detail || `${response.status} ${response.statusText || "error"}`.trim();
}

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: { Accept: "application/json", ...(options.headers || {}) },
  });
  if (!response.ok) {
    const err = new Error(await errorMessage(response));
    err.status = response.status;
    throw err;
  }
  return response.status === 204 ? null : response.json();
}

let toastTimer = 0;
function toast(message, kind = "info") {
  els.toast.textContent = message;
  els.toast.dataset.kind = kind;
  els.toast.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { els.toast.hidden = true; }, 3200);
}

// ---------------------------------------------------------------- users

/**
 * Who the page browses as. Writing a user's events needs that user's token:
 * the server's demo personas come with theirs (GET /page/users); anyone else
 * is added with the token an operator issued (`marketplace user-token ID`).
 */
async function loadUsers() {
  const params = new URLSearchParams(location.search);
  const wanted = params.get("user") ?? localStorage.getItem("mps.user") ?? "";
  for (const { id, token } of readLocalUsers()) state.tokens.set(id, token);
  if (wanted && !state.tokens.has(wanted)) state.tokens.set(wanted, null);
  renderUsers(wanted);
  try {
    const { users } = await api("/page/users");
    const local = state.tokens;
    state.tokens = new Map(users.map((u) => [u.id, u.token ?? local.get(u.id) ?? null]));
    for (const [id, token] of local) if (!state.tokens.has(id)) state.tokens.set(id, token);
  } catch {
    return; // no personas from the server: locally added users still work
  }
  renderUsers(els.user.value === OTHER_USER ? state.user : els.user.value);
}

function readLocalUsers() {
  try {
    const stored = JSON.parse(localStorage.getItem("mps.users") || "[]");
    return stored.filter((u) => u && typeof u.id === "string");
  } catch {
    return [];
  }
}

function rememberLocalUser(id, token) {
  const others = readLocalUsers().filter((u) => u.id !== id);
  localStorage.setItem("mps.users", JSON.stringify([...others, { id, token }]));
}

function renderUsers(selected) {
  els.user.replaceChildren(new Option("Guest", ""));
  for (const id of state.tokens.keys()) els.user.append(new Option(id, id));
  els.user.append(new Option("Someone else…", OTHER_USER));
  els.user.value = selected;
  state.user = selected;
  loadSaved();
}

function loadSaved() {
  try {
    state.saved = new Set(JSON.parse(localStorage.getItem(`mps.saved.${state.user}`) || "[]"));
  } catch {
    state.saved = new Set();
  }
}

function persistSaved() {
  if (state.user) localStorage.setItem(`mps.saved.${state.user}`, JSON.stringify([...state.saved]));
}

function onUserChange() {
  let user = els.user.value;
  if (user === OTHER_USER) {
    const typed = (window.prompt("Browse as which user id?") || "").trim();
    if (!typed) {
      els.user.value = state.user;
      return;
    }
    user = typed;
    const token = (window.prompt(
      `Token for ${user} (an operator issues it with \`marketplace user-token ${user}\`):`,
    ) || "").trim();
    if (!token) {
      els.user.value = state.user;
      toast("Browsing as someone needs their token.", "error");
      return;
    }
    state.tokens.set(user, token);
    rememberLocalUser(user, token);
  }
  localStorage.setItem("mps.user", user);
  renderUsers(user);
  if (hasQuery()) runSearch({ keepRanks: true });
}

// ---------------------------------------------------------------- events

/** The selected user's token header: their events and personal ranking need it. */
function userHeaders() {
  const token = state.user ? state.tokens.get(state.user) : null;
  return token ? { "X-User-Token": token } : {};
}

function canActAsUser() {
  return Boolean(state.user && state.tokens.get(state.user));
}

async function recordEvent(listingId, type) {
  if (!state.user) return false;
  if (!canActAsUser()) {
    toast(`No token for ${state.user}: this server does not record their ${type}s.`, "error");
    return false;
  }
  try {
    await api(`/users/${encodeURIComponent(state.user)}/events`, {
      method: "POST",
      headers: { "Content-Type": "application/json", ...userHeaders() },
      body: JSON.stringify({ listing_id: listingId, type }),
    });
    state.historyChanged = true;
    return true;
  } catch (err) {
    toast(`Could not record that ${type}: ${err.message}`, "error");
    return false;
  }
}

async function toggleSave(id, button) {
  if (!state.user) {
    toast("Pick who you are browsing as (top right) to save listings.");
    els.user.focus();
    return;
  }
  if (state.saved.has(id)) {
    state.saved.delete(id);
    persistSaved();
    syncSaveButtons(id);
    return;
  }
  state.saved.add(id);
  persistSaved();
  syncSaveButtons(id);
  if (await recordEvent(id, "save")) {
    toast("Saved. Your results now lean towards listings like this.");
    if (!els.dialog.open && hasQuery()) runSearch({ keepRanks: true, quiet: true });
  } else {
    state.saved.delete(id);
    persistSaved();
    syncSaveButtons(id);
  }
  button?.focus();
}

function syncSaveButtons(id) {
  const saved = state.saved.has(id);
  for (const button of document.querySelectorAll(`[data-save-id="${CSS.escape(id)}"]`)) {
    button.setAttribute("aria-pressed", String(saved));
    const label = button.querySelector(".save-label, .visually-hidden");
    if (label) label.textContent = saved ? "Saved" : "Save";
  }
}

// ---------------------------------------------------------------- photo

async function setPhoto(file) {
  if (!file || !file.type.startsWith("image/")) {
    toast("That file is not a photo.", "error");
    return;
  }
  let base64;
  try {
    base64 = await shrinkPhoto(file);
  } catch {
    toast("This photo could not be read. Try a JPEG or PNG.", "error");
    return;
  }
  if (state.photo?.url) URL.revokeObjectURL(state.photo.url);
  state.photoSeq += 1;
  state.photo = { base64, url: URL.createObjectURL(file), id: state.photoSeq };
  els.photoThumb.src = state.photo.url;
  els.photoChip.hidden = false;
  els.form.classList.add("has-photo");
  runSearch();
}

function clearPhoto() {
  if (state.photo?.url) URL.revokeObjectURL(state.photo.url);
  state.photo = null;
  els.photoInput.value = "";
  els.photoChip.hidden = true;
  els.photoThumb.removeAttribute("src");
  els.form.classList.remove("has-photo");
  els.q.focus();
  if (hasQuery()) runSearch();
  else showWelcome();
}

/** Decode and downscale in the browser so a 12-megapixel phone photo is a ~40 kB upload. */
async function shrinkPhoto(file) {
  const bitmap = await createImageBitmap(file);
  const scale = Math.min(1, PHOTO_MAX_SIDE / Math.max(bitmap.width, bitmap.height));
  const canvas = document.createElement("canvas");
  canvas.width = Math.max(1, Math.round(bitmap.width * scale));
  canvas.height = Math.max(1, Math.round(bitmap.height * scale));
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#fff"; // transparent PNGs become white, not black
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  bitmap.close?.();
  const dataUrl = canvas.toDataURL("image/jpeg", 0.9);
  return dataUrl.slice(dataUrl.indexOf(",") + 1);
}

function fileFromTransfer(transfer) {
  if (!transfer) return null;
  for (const item of transfer.items || []) {
    if (item.kind === "file" && item.type.startsWith("image/")) return item.getAsFile();
  }
  return [...(transfer.files || [])].find((f) => f.type.startsWith("image/")) || null;
}

function setupDropAndPaste() {
  let depth = 0;
  const hasFiles = (e) => [...(e.dataTransfer?.types || [])].includes("Files");
  document.addEventListener("dragenter", (e) => {
    if (!hasFiles(e)) return;
    depth += 1;
    els.dropOverlay.hidden = false;
  });
  document.addEventListener("dragleave", (e) => {
    if (!hasFiles(e)) return;
    depth = Math.max(0, depth - 1);
    if (depth === 0) els.dropOverlay.hidden = true;
  });
  document.addEventListener("dragover", (e) => {
    if (hasFiles(e)) e.preventDefault();
  });
  document.addEventListener("drop", (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth = 0;
    els.dropOverlay.hidden = true;
    const file = fileFromTransfer(e.dataTransfer);
    if (file) setPhoto(file);
    else toast("Drop a photo (JPEG, PNG, WebP…).", "error");
  });
  document.addEventListener("paste", (e) => {
    const file = fileFromTransfer(e.clipboardData);
    if (!file) return; // plain text paste goes where it was meant to go
    e.preventDefault();
    setPhoto(file);
  });
}

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
  };
}

function signatureOf(body) {
  return JSON.stringify([body.text, state.photo?.id ?? null, body.filters]);
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
  els.results.replaceChildren();
  els.loadMore.hidden = true;
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

// ---------------------------------------------------------------- rendering

function renderResults(results, { append = false, previousRanks = null } = {}) {
  const cards = results.map((result, i) => {
    const card = buildCard(result);
    if (previousRanks) addMovement(card, previousRanks.get(result.id), i);
    return card;
  });
  if (append) els.results.append(...cards);
  else els.results.replaceChildren(...cards);
}

/** Mark what a re-rank lifted (only rises: a page of "moved down" badges is noise). */
function addMovement(card, before, now) {
  if (before !== undefined && before <= now) return;
  const badge = document.createElement("span");
  badge.className = "movement";
  badge.textContent = before === undefined ? "New" : `▲ ${before - now}`;
  badge.title = before === undefined
    ? "New in your results"
    : `Up ${before - now} since the last ranking of this search`;
  card.querySelector(".card-media").append(badge);
}

function buildCard(result, { compact = false, onOpen = null } = {}) {
  const card = els.cardTemplate.content.firstElementChild.cloneNode(true);
  const id = result.id;
  card.dataset.id = id;
  card.dataset.price = result.price ?? "";
  if (compact) card.classList.add("card-compact");

  const img = $(".card-media img", card);
  const urls = imageUrls(result);
  if (urls.length) {
    img.src = urls[0];
    img.addEventListener("error", () => card.querySelector(".card-media").classList.add("no-photo"), { once: true });
  } else {
    img.remove();
    $(".card-media", card).classList.add("no-photo");
  }
  $(".card-price", card).textContent = formatPrice(result.price, result.currency);
  const open = $(".card-open", card);
  open.textContent = result.title;
  open.addEventListener("click", onOpen || (() => openListing(id, { opener: open, source: result })));
  $(".card-location", card).textContent = result.location || "";
  const category = $(".card-category", card);
  category.textContent = categoryParts(result.category).slice(-2).join(" › ");
  category.title = result.category;

  const reasons = $(".reasons", card);
  const labels = result.reasons || [];
  if (compact || !labels.length) {
    reasons.remove();
  } else {
    for (const label of labels.slice(0, 3)) {
      const li = document.createElement("li");
      li.className = `reason reason-${reasonKind(label)}`;
      li.textContent = label;
      li.title = label;
      reasons.append(li);
    }
  }

  const save = $(".card-save", card);
  save.dataset.saveId = id;
  const saved = state.saved.has(id);
  save.setAttribute("aria-pressed", String(saved));
  $(".visually-hidden", save).textContent = saved ? "Saved" : "Save";
  save.title = "Save this listing";
  save.addEventListener("click", () => toggleSave(id, save));
  return card;
}

// ---------------------------------------------------------------- listing view

async function openListing(id, { opener = null, source = null } = {}) {
  state.opener = opener || state.opener;
  state.openListingId = id;
  els.dialogBody.replaceChildren(noteLine("Loading listing…"));
  els.similar.replaceChildren(...Array.from({ length: 4 }, skeletonCard));
  if (!els.dialog.open) els.dialog.showModal();
  els.dialog.scrollTop = 0;
  els.dialogClose.focus();
  recordEvent(id, "click");

  const [listing, similar] = await Promise.allSettled([
    api(`/listings/${encodeURIComponent(id)}`),
    api(`/listings/${encodeURIComponent(id)}/similar?k=${SIMILAR_K}`),
  ]);
  if (state.openListingId !== id) return; // the user moved on to another listing
  if (listing.status === "fulfilled") {
    renderListing(listing.value);
  } else if (source) {
    renderListing(source);
    els.dialogBody.append(errorLine(`Full details unavailable: ${listing.reason.message}`));
  } else {
    els.dialogBody.replaceChildren(errorLine(`Could not load this listing: ${listing.reason.message}`));
  }
  if (similar.status === "fulfilled") {
    const items = similar.value.results.filter((r) => r.id !== id);
    els.similar.replaceChildren(...items.map((r) => buildCard(r, {
      compact: true,
      // stay in the listing view; focus still returns to the result card it came from
      onOpen: () => openListing(r.id, { source: r }),
    })));
    if (!items.length) els.similar.replaceChildren(noteLine("Nothing similar yet."));
  } else {
    els.similar.replaceChildren(errorLine(`Could not load similar listings: ${similar.reason.message}`));
  }
}

function noteLine(text) {
  return el("p", "muted", text);
}

function errorLine(text) {
  const line = el("p", "inline-error", text);
  line.setAttribute("role", "alert");
  return line;
}

function renderListing(listing) {
  const id = listing.id;
  const urls = imageUrls(listing);
  const wrap = document.createElement("article");
  wrap.className = "detail";
  wrap.dataset.id = id;

  const gallery = document.createElement("div");
  gallery.className = "gallery";
  const main = document.createElement("div");
  main.className = "gallery-main";
  if (urls.length) {
    const img = document.createElement("img");
    img.src = urls[0];
    img.alt = listing.title;
    main.append(img);
  } else {
    main.classList.add("no-photo");
  }
  gallery.append(main);
  if (urls.length > 1) {
    const thumbs = document.createElement("div");
    thumbs.className = "gallery-thumbs";
    urls.forEach((url, i) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "thumb";
      button.setAttribute("aria-label", `Photo ${i + 1} of ${urls.length}`);
      button.setAttribute("aria-current", String(i === 0));
      const img = document.createElement("img");
      img.src = url;
      img.alt = "";
      button.append(img);
      button.addEventListener("click", () => {
        main.querySelector("img").src = url;
        for (const b of thumbs.children) b.setAttribute("aria-current", String(b === button));
      });
      thumbs.append(button);
    });
    gallery.append(thumbs);
  }

  const info = el("div", "detail-info");
  const crumbs = el("p", "detail-category", categoryParts(listing.category).join(" › "));
  const title = el("h2", "", listing.title);
  title.id = "listing-title";
  const price = el("p", "detail-price", formatPrice(listing.price, listing.currency));
  const where = el("p", "detail-location", listing.location || "");
  const actions = el("div", "detail-actions");
  const save = makeButton("", "btn btn-primary detail-save", () => toggleSave(id, save));
  save.dataset.saveId = id;
  save.setAttribute("aria-pressed", String(state.saved.has(id)));
  save.append(el("span", "save-label", state.saved.has(id) ? "Saved" : "Save"));
  actions.append(save);
  if (urls.length) {
    actions.append(makeButton("Search with this photo", "btn btn-secondary",
      () => searchWithPhotoAt(main.querySelector("img").src)));
  }
  const description = el("div", "detail-description", listing.description || "No description.");
  info.append(crumbs, title, price, where, actions, description);
  wrap.append(gallery, info);
  els.dialogBody.replaceChildren(wrap);
}

/** A listing's photo becomes the query: "find me things that look like this". */
async function searchWithPhotoAt(url) {
  let blob;
  try {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`${response.status}`);
    blob = await response.blob();
  } catch (err) {
    toast(`Could not fetch that photo (${err.message}).`, "error");
    return;
  }
  closeListing();
  els.q.value = "";
  await setPhoto(new File([blob], "listing.jpg", { type: blob.type || "image/jpeg" }));
}

function closeListing() {
  if (els.dialog.open) els.dialog.close();
}

function onListingClosed() {
  state.openListingId = null;
  const opener = state.opener;
  state.opener = null;
  if (opener && document.contains(opener)) opener.focus();
  // What the user just looked at or saved should show up in their ranking.
  if (state.historyChanged && state.user && hasQuery()) {
    const id = opener?.closest(".card")?.dataset.id;
    runSearch({ keepRanks: true, quiet: true }).then(() => {
      // the grid was redrawn: keep the keyboard user on the card they came from
      const card = id && els.results.querySelector(`.card[data-id="${CSS.escape(id)}"] .card-open`);
      if (card && document.activeElement === document.body) card.focus();
    });
  }
}

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

function showChannels(channels) {
  const named = channels.map((c) => CHANNEL_NAMES[c] || c);
  els.channels.textContent = named.length ? `Searching by ${named.join(", ")}.` : "";
  els.channels.hidden = !named.length;
}

async function watchReadiness() {
  for (let attempt = 0; attempt < 120; attempt += 1) {
    try {
      const response = await fetch("/readyz", { cache: "no-store" });
      if (response.ok) {
        els.banner.hidden = true;
        showChannels((await response.json()).channels || []);
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
