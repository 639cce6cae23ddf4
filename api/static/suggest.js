// Search-box suggestions: completions from GET /suggest as the shopper types,
// in an ARIA combobox (the box) with its listbox. Arrow keys move through
// them, Enter picks one and searches, Escape closes the list, a click picks.
"use strict";

const SUGGEST_LIMIT = 8;
const SUGGEST_DELAY_MS = 60;

const suggestState = { items: [], active: -1, timer: 0, controller: null, asked: "" };

function suggestionList() {
  return $("#suggestions");
}

function closeSuggestions() {
  clearTimeout(suggestState.timer);
  suggestState.controller?.abort();
  suggestState.items = [];
  suggestState.active = -1;
  const list = suggestionList();
  list.replaceChildren();
  list.hidden = true;
  els.q.setAttribute("aria-expanded", "false");
  els.q.removeAttribute("aria-activedescendant");
}

function renderSuggestions(items) {
  const list = suggestionList();
  suggestState.items = items;
  suggestState.active = -1;
  list.replaceChildren(...items.map((item, i) => {
    const option = el("li", `suggestion suggestion-${item.kind}`, item.text);
    option.id = `suggestion-${i}`;
    option.setAttribute("role", "option");
    option.setAttribute("aria-selected", "false");
    if (item.kind === "category") option.append(el("span", "suggestion-kind", "category"));
    // mousedown, not click: the box must not lose focus (and close the list) first
    option.addEventListener("mousedown", (e) => {
      e.preventDefault();
      pickSuggestion(i);
    });
    return option;
  }));
  list.hidden = !items.length;
  els.q.setAttribute("aria-expanded", String(items.length > 0));
  els.q.removeAttribute("aria-activedescendant");
}

function moveActive(step) {
  const n = suggestState.items.length;
  if (!n) return;
  const next = suggestState.active + step;
  suggestState.active = next < -1 ? n - 1 : next >= n ? -1 : next;
  [...suggestionList().children].forEach((option, i) => {
    option.setAttribute("aria-selected", String(i === suggestState.active));
  });
  if (suggestState.active >= 0) {
    els.q.setAttribute("aria-activedescendant", `suggestion-${suggestState.active}`);
    suggestionList().children[suggestState.active].scrollIntoView({ block: "nearest" });
  } else {
    els.q.removeAttribute("aria-activedescendant");
  }
}

function pickSuggestion(i) {
  const item = suggestState.items[i];
  if (!item) return;
  els.q.value = item.text;
  closeSuggestions();
  runSearch({ keepRanks: true });
}

async function fetchSuggestions() {
  const typed = els.q.value;
  if (!typed.trim()) {
    closeSuggestions();
    return;
  }
  suggestState.controller?.abort();
  const controller = new AbortController();
  suggestState.controller = controller;
  suggestState.asked = typed;
  try {
    const params = new URLSearchParams({ q: typed, limit: String(SUGGEST_LIMIT) });
    const payload = await api(`/suggest?${params}`, { signal: controller.signal });
    if (suggestState.controller !== controller || document.activeElement !== els.q) return;
    renderSuggestions(payload.suggestions || []);
  } catch {
    // no suggestions is no error: the box still searches
  }
}

function onSuggestKey(e) {
  const open = !suggestionList().hidden;
  if (e.key === "ArrowDown" || e.key === "ArrowUp") {
    if (!open) return;
    e.preventDefault();
    moveActive(e.key === "ArrowDown" ? 1 : -1);
  } else if (e.key === "Enter") {
    if (open && suggestState.active >= 0) {
      e.preventDefault();
      pickSuggestion(suggestState.active);
    } else {
      closeSuggestions(); // the form's own submit searches what is typed
    }
  } else if (e.key === "Escape" && open) {
    e.preventDefault(); // keep what is typed: a search box's Escape would clear it
    closeSuggestions();
  }
}

function setupSuggestions() {
  els.q.addEventListener("input", () => {
    clearTimeout(suggestState.timer);
    suggestState.timer = setTimeout(fetchSuggestions, SUGGEST_DELAY_MS);
  });
  els.q.addEventListener("keydown", onSuggestKey);
  els.q.addEventListener("blur", closeSuggestions);
}

setupSuggestions();
