// The facets panel: how many of the query's matches fall in each category,
// sub-category, price band and area; a click narrows the search to one
// (it sets that filter and searches again), a second click widens it back.
"use strict";

const FACET_GROUPS = [
  { key: "categories", title: "Category", kind: "category" },
  { key: "subcategories", title: "Sub-category", kind: "category" },
  { key: "price_bands", title: "Price", kind: "price" },
  { key: "locations", title: "Area", kind: "location" },
];
const FACET_VALUES_SHOWN = 8;

/** Draw the counts of a search response (`facets` null: hide the panel). */
function renderFacets(facets) {
  const panel = $("#facets");
  if (!panel) return;
  if (!facets) {
    panel.hidden = true;
    panel.replaceChildren();
    return;
  }
  const groups = FACET_GROUPS
    .map((group) => facetGroup(group, facets[group.key] || []))
    .filter(Boolean);
  panel.replaceChildren(...groups);
  panel.hidden = groups.length === 0;
}

function facetGroup(group, values) {
  if (!values.length) return null;
  const section = el("section", "facet-group");
  const heading = el("h2", "facet-title", group.title);
  heading.id = `facet-${group.key}`;
  const list = el("ul", "facet-values");
  list.setAttribute("aria-labelledby", heading.id);
  for (const value of values.slice(0, FACET_VALUES_SHOWN)) {
    const item = document.createElement("li");
    item.append(facetButton(group, value));
    list.append(item);
  }
  section.append(heading, list);
  return section;
}

function facetButton(group, value) {
  const label = group.kind === "price" ? value.label : facetName(group, value.value);
  const button = el("button", "facet-value");
  button.type = "button";
  button.dataset.kind = group.kind;
  button.dataset.value = group.kind === "price" ? value.label : value.value;
  const active = facetActive(group.kind, value);
  button.setAttribute("aria-pressed", String(active));
  button.append(el("span", "facet-name", label), el("span", "facet-count", value.count.toLocaleString("en-GB")));
  button.title = active ? `Remove this filter` : `Show only ${label} (${value.count})`;
  button.addEventListener("click", () => applyFacet(group.kind, value, active));
  return button;
}

/** A sub-category reads as its last part; the root is its group's context. */
function facetName(group, value) {
  return group.key === "subcategories" ? categoryParts(value).slice(-1)[0] : value;
}

function facetActive(kind, value) {
  if (kind === "category") return els.category.value === value.value;
  if (kind === "location") return els.location.value.trim().toLowerCase() === value.value.toLowerCase();
  const max = value.max === null ? "" : String(value.max);
  return els.priceMin.value === String(value.min) && els.priceMax.value === max;
}

/** Set (or, when it is already set, clear) the filter a facet value stands for, and search. */
function applyFacet(kind, value, active) {
  if (kind === "category") {
    const path = active ? "" : value.value;
    if (path && ![...els.category.options].some((o) => o.value === path)) {
      els.category.append(new Option(path, path));
    }
    els.category.value = path;
  } else if (kind === "location") {
    els.location.value = active ? "" : value.value;
  } else {
    els.priceMin.value = active ? "" : String(value.min);
    els.priceMax.value = active || value.max === null ? "" : String(value.max);
  }
  runSearch({ keepRanks: true });
}
