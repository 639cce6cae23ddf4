// What the search read in the words: a chip for each filter taken from them
// (a click removes it: the next search asks the server to leave that reading
// out, and its words are searched as typed) and the "Showing results for …;
// search instead for …" line when spelling was corrected.
// Loaded after search.js; runSearch() calls showUnderstood() with each answer.
"use strict";

const READING_NAMES = { price: "price", place: "place", category: "category" };

state.ignoreParsed = new Set(); // readings removed for the text in state.readingText
state.readingText = null;

/** The readings to leave out for this text: a new text starts with none left out. */
function ignoredReadings(text) {
  if (text !== state.readingText) {
    state.readingText = text;
    state.ignoreParsed = new Set();
  }
  return [...state.ignoreParsed];
}

function leaveOut(reading) {
  state.ignoreParsed.add(reading);
  runSearch();
}

/** Chips and the did-you-mean line for one search answer (none when `payload` is null). */
function showUnderstood(payload) {
  const box = $("#understood");
  box.replaceChildren();
  const understood = payload?.understood;
  const parsed = understood?.parsed || [];
  if (payload?.did_you_mean) box.append(didYouMean(payload.did_you_mean));
  if (parsed.length) {
    const list = el("ul", "chips");
    list.setAttribute("aria-label", "Filters read from your words");
    for (const chip of parsed) list.append(chipItem(chip));
    box.append(list);
  }
  box.hidden = !box.children.length;
}

function chipItem(chip) {
  const item = el("li", `chip chip-${chip.kind}`);
  item.dataset.kind = chip.kind;
  item.title = `Read from “${chip.words}”`;
  const label = el("span", "chip-label", chip.label);
  const remove = makeButton("×", "chip-remove", () => leaveOut(chip.kind));
  remove.setAttribute("aria-label", `Remove the ${READING_NAMES[chip.kind]} filter “${chip.label}”`);
  item.append(label, remove);
  return item;
}

function didYouMean(corrected) {
  const line = el("p", "did-you-mean");
  line.append("Showing results for ", el("strong", "did-you-mean-text", corrected), "; search instead for ");
  const typed = el("button", "link-button did-you-mean-original", state.readingText || "");
  typed.type = "button";
  typed.addEventListener("click", () => leaveOut("spelling"));
  line.append(typed);
  return line;
}
