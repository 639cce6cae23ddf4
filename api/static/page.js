// The search page's shared pieces: constants, element handles, the one `state`
// object every other script reads and writes, and small helpers (prices, API
// calls, toasts). The page's scripts are classic deferred scripts sharing one
// global scope, loaded in order by index.html; app.js, last, starts the page.
//
// It talks to the JSON API documented in issue 5
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
