// Who is browsing (the "browsing as" picker), their saved listings, and the
// events (views, clicks, saves) sent for them.
"use strict";

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
