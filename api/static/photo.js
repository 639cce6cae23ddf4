// The query photo: picker, drag-and-drop and paste, shrunk before upload.
"use strict";

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
