// Result cards and the listing view with its photos and "more like this".
"use strict";

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

  if (!compact) addResultContext(card, result);

  const save = $(".card-save", card);
  save.dataset.saveId = id;
  const saved = state.saved.has(id);
  save.setAttribute("aria-pressed", String(saved));
  $(".visually-hidden", save).textContent = saved ? "Saved" : "Save";
  save.title = "Save this listing";
  save.addEventListener("click", () => toggleSave(id, save));
  return card;
}

/** What a result says beyond its rank: its price against similar listings, its re-posts. */
function addResultContext(card, result) {
  const body = $(".card-body", card);
  const context = priceContextLine(result.price_context);
  if (context) body.insertBefore(context, $(".card-title", card));
  const others = result.also_listed || [];
  if (others.length) body.append(alsoListed(result, others));
}

/** "about £40 below similar listings", the median and its count on hover. */
function priceContextLine(context, className = "price-context") {
  if (!context) return null;
  const line = el("p", className, context.text);
  const side = context.difference < 0 ? "below" : context.difference > 0 ? "above" : "same";
  line.dataset.side = side;
  line.title = `Median ${formatPrice(context.median, context.currency)} over the ` +
    `${context.neighbours} most similar listings in this category`;
  return line;
}

/** "Also listed 2×": the other copies of a re-posted ad, expanded in place on a click. */
function alsoListed(result, others) {
  const box = el("div", "also-listed");
  const toggle = makeButton(`Also listed ${others.length}×`, "also-toggle", () => expandAlso(toggle, list, others));
  toggle.setAttribute("aria-expanded", "false");
  toggle.title = "The same ad posted again: show the other copies";
  const list = el("ul", "also-list");
  list.id = `also-${result.id}`;
  list.hidden = true;
  toggle.setAttribute("aria-controls", list.id);
  box.append(toggle, list);
  return box;
}

async function expandAlso(toggle, list, others) {
  const open = toggle.getAttribute("aria-expanded") !== "true";
  toggle.setAttribute("aria-expanded", String(open));
  list.hidden = !open;
  if (!open || list.childElementCount) return;
  list.append(el("li", "muted", "Loading…"));
  const copies = await Promise.allSettled(others.map((id) => api(`/listings/${encodeURIComponent(id)}`)));
  list.replaceChildren(...copies.map((copy, i) => {
    const item = document.createElement("li");
    if (copy.status !== "fulfilled") {
      item.append(el("span", "muted", `Listing ${others[i]} is no longer available`));
      return item;
    }
    const listing = copy.value;
    const where = listing.location ? ` · ${listing.location}` : "";
    const link = makeButton(`${formatPrice(listing.price, listing.currency)}${where}`, "also-open",
      () => openListing(listing.id, { opener: link, source: listing }));
    link.dataset.id = listing.id;
    link.title = listing.title;
    item.append(link);
    return item;
  }));
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
  const context = priceContextLine(listing.price_context, "price-context detail-price-context");
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
  info.append(crumbs, title, price, ...(context ? [context] : []), where, actions, description);
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
