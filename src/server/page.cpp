#include "page.h"

namespace sam3rt::server {

namespace {

// The whole page. Element ids are what tests/browser/page_test.mjs drives.
constexpr std::string_view kPage = R"sam3rt_page(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sam3rt</title>
<link rel="icon" href="data:,">
<style>
  :root { font-family: system-ui, sans-serif; color: #1d1d1f; background: #f4f4f6; }
  body { margin: 0; }
  header { display: flex; align-items: baseline; gap: 1em; padding: .6em 1em; background: #1d1d1f; color: #fff; }
  header h1 { font-size: 1.2em; margin: 0; }
  #model { font-size: .85em; opacity: .8; }
  #warning { color: #ffcc4d; font-size: .85em; }
  main { display: flex; gap: 1em; padding: 1em; align-items: flex-start; }
  #left { flex: 1 1 auto; min-width: 0; }
  #right { flex: 0 0 20em; display: flex; flex-direction: column; gap: .8em; }
  .panel { background: #fff; border-radius: 8px; padding: .8em; box-shadow: 0 1px 3px rgba(0,0,0,.12); }
  .panel h2 { font-size: .95em; margin: 0 0 .5em; }
  #stage { position: relative; display: inline-block; max-width: 100%; line-height: 0; background: #ddd; }
  #stage canvas { max-width: 100%; height: auto; }
  #overlay, #prompts { position: absolute; left: 0; top: 0; width: 100%; height: 100%; }
  #prompts { cursor: crosshair; }
  #empty { padding: 4em 2em; color: #666; line-height: 1.4; }
  #instances { list-style: none; padding: 0; margin: 0; max-height: 24em; overflow: auto; }
  #instances li { display: flex; align-items: center; gap: .5em; padding: .25em 0; font-size: .9em; }
  .swatch { width: 1em; height: 1em; border-radius: 3px; flex: 0 0 auto; }
  #status { font-size: .85em; color: #555; min-height: 1.2em; }
  #error { font-size: .85em; color: #b00020; min-height: 1.2em; white-space: pre-wrap; }
  label { font-size: .9em; }
  input[type=text] { width: 100%; box-sizing: border-box; padding: .35em; }
  button { padding: .35em .7em; }
  .row { display: flex; gap: .5em; align-items: center; flex-wrap: wrap; margin-top: .4em; }
  .hint { font-size: .8em; color: #666; line-height: 1.4; }
</style>
</head>
<body>
<header><h1>sam3rt</h1><span id="model">loading model info…</span><span id="warning"></span></header>
<main>
  <div id="left">
    <div id="stage">
      <div id="empty">Open an image to start.<br>Left-click: positive point · Shift-click: negative point ·
        Drag: box · Type a text prompt for every instance of a concept.</div>
      <canvas id="image" hidden></canvas>
      <canvas id="overlay" hidden></canvas>
      <canvas id="prompts" hidden></canvas>
    </div>
  </div>
  <div id="right">
    <div class="panel">
      <h2>Image</h2>
      <input type="file" id="file" accept="image/png,image/jpeg,image/*">
    </div>
    <div class="panel">
      <h2>Prompt</h2>
      <form id="text-form"><input type="text" id="text" placeholder="text prompt, e.g. shoe (Enter to run)"></form>
      <div class="row">
        <label>threshold <input type="range" id="threshold" min="0" max="1" step="0.01" value="0.5"></label>
        <span id="threshold-value">0.50</span>
      </div>
      <div class="row"><label><input type="checkbox" id="multimask"> always 3 candidates (object mode)</label></div>
      <div class="row"><button id="run">Segment</button><button id="clear">Clear prompts</button></div>
      <p class="hint">With text: concept mode, drawn boxes are exemplars (shift-drag: negative).
        Without text: object mode, clicks and one box select one object (a single click gives
        3 candidates to choose from).</p>
    </div>
    <div class="panel">
      <h2>Masks</h2>
      <ul id="instances"></ul>
      <div class="row"><button id="download-png" disabled>Download PNG</button>
        <button id="download-json" disabled>Download JSON</button></div>
    </div>
    <div class="panel"><div id="status"></div><div id="error"></div></div>
  </div>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const PALETTE = [[230,25,75],[60,180,75],[255,225,25],[0,130,200],[245,130,48],[145,30,180],
                 [70,240,240],[240,50,230],[210,245,60],[250,190,212],[0,128,128],[220,190,255]];
const color = (i) => PALETTE[i % PALETTE.length];

const state = {
  imageId: null, width: 0, height: 0, name: "image",
  points: [], boxes: [],        // prompts in image pixels
  result: null,                 // last response
  selected: 0,                  // chosen candidate (object mode)
  busy: false, pending: false,
  modelInfo: null,
};

function setStatus(text) { $("status").textContent = text; }
function setError(text) { $("error").textContent = text || ""; }

async function api(path, options) {
  const res = await fetch(path, options);
  let body = null;
  try { body = await res.json(); } catch (e) { body = null; }
  if (!res.ok) {
    const msg = body && body.error ? body.error.message : res.statusText;
    throw new Error(`${res.status}: ${msg}`);
  }
  return body;
}

// COCO RLE (pycocotools' compressed string) -> Uint8Array [h*w], row-major.
function decodeRle(rle) {
  const [h, w] = rle.size;
  const s = rle.counts;
  const runs = [];
  let p = 0;
  while (p < s.length) {
    let x = 0, k = 0, more = 1;
    while (more) {
      const c = s.charCodeAt(p) - 48;
      x |= (c & 0x1f) << (5 * k);
      more = c & 0x20;
      p++; k++;
      if (!more && (c & 0x10)) x |= -1 << (5 * k);
    }
    if (runs.length > 2) x += runs[runs.length - 2];
    runs.push(x);
  }
  const mask = new Uint8Array(h * w);
  let i = 0;
  for (let r = 0; r < runs.length; r++) {
    if (r % 2 === 1) {
      for (let j = i; j < i + runs[r]; j++) mask[(j % h) * w + Math.floor(j / h)] = 1;
    }
    i += runs[r];
  }
  return mask;
}

function visibleInstances() {
  const r = state.result;
  if (!r) return [];
  if (r.mode === "object") return r.instances.length ? [[r.instances[state.selected], state.selected]] : [];
  return r.instances.map((inst, i) => [inst, i]);
}

function drawOverlay() {
  const c = $("overlay"), ctx = c.getContext("2d");
  ctx.clearRect(0, 0, c.width, c.height);
  const list = visibleInstances();
  if (!list.length) return;
  const img = ctx.createImageData(c.width, c.height);
  for (const [inst, i] of list.slice().reverse()) {  // higher scores drawn last, on top
    if (!inst || !inst.mask) continue;
    const m = decodeRle(inst.mask), [r, g, b] = color(i);
    for (let k = 0; k < m.length; k++) {
      if (m[k]) { img.data[4*k] = r; img.data[4*k+1] = g; img.data[4*k+2] = b; img.data[4*k+3] = 120; }
    }
  }
  ctx.putImageData(img, 0, 0);
  ctx.lineWidth = Math.max(1, Math.round(c.width / 400));
  ctx.font = `${Math.max(12, Math.round(c.width / 50))}px sans-serif`;
  for (const [inst, i] of list) {
    if (!inst) continue;
    const [r, g, b] = color(i), [x1, y1, x2, y2] = inst.box;
    ctx.strokeStyle = `rgb(${r},${g},${b})`;
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    const label = `${inst.prompt || ""} ${(inst.score ?? inst.iou).toFixed(2)}`;
    ctx.fillStyle = `rgb(${r},${g},${b})`;
    ctx.fillText(label, x1 + 2, Math.max(y1 - 3, 12));
  }
}

function drawPrompts(preview) {
  const c = $("prompts"), ctx = c.getContext("2d");
  ctx.clearRect(0, 0, c.width, c.height);
  const rad = Math.max(4, Math.round(c.width / 150));
  ctx.lineWidth = Math.max(2, Math.round(c.width / 300));
  for (const p of state.points) {
    ctx.beginPath(); ctx.arc(p.x, p.y, rad, 0, 2 * Math.PI);
    ctx.fillStyle = p.label ? "#1db954" : "#e5383b"; ctx.fill();
    ctx.strokeStyle = "#fff"; ctx.stroke();
  }
  const boxes = preview ? state.boxes.concat([preview]) : state.boxes;
  ctx.setLineDash([8, 5]);
  for (const b of boxes) {
    ctx.strokeStyle = b.label ? "#1db954" : "#e5383b";
    ctx.strokeRect(b.x1, b.y1, b.x2 - b.x1, b.y2 - b.y1);
  }
  ctx.setLineDash([]);
}

function renderList() {
  const ul = $("instances");
  ul.innerHTML = "";
  const r = state.result;
  if (!r) return;
  if (!r.instances.length) {
    const li = document.createElement("li");
    li.textContent = "no instance above the threshold";
    ul.appendChild(li);
  }
  r.instances.forEach((inst, i) => {
    const li = document.createElement("li");
    li.className = "instance";
    const sw = document.createElement("span");
    sw.className = "swatch";
    sw.style.background = `rgb(${color(i).join(",")})`;
    if (r.mode === "object") {
      const radio = document.createElement("input");
      radio.type = "radio"; radio.name = "candidate"; radio.checked = i === state.selected;
      radio.addEventListener("change", () => { state.selected = i; drawOverlay(); });
      li.appendChild(radio);
    }
    li.appendChild(sw);
    const text = document.createElement("span");
    text.textContent = r.mode === "object"
      ? `candidate ${inst.candidate + 1}${inst.best ? " (best)" : ""} · IoU ${inst.iou.toFixed(3)} · ` +
        `object ${inst.object_score.toFixed(3)} · ${inst.area} px`
      : `${inst.prompt} · score ${inst.score.toFixed(3)} · ${inst.area} px`;
    li.appendChild(text);
    ul.appendChild(li);
  });
}

function buildRequest() {
  const text = $("text").value.trim();
  const req = { threshold: parseFloat($("threshold").value) };
  if (text) {
    req.mode = "concept";
    req.text = [text];
    if (state.boxes.length) req.boxes = state.boxes;
  } else if (state.points.length || state.boxes.length) {
    req.mode = "object";
    if ($("multimask").checked) req.multimask = true;  // else the server's default: 3 for one click
    if (state.points.length) req.points = state.points;
    if (state.boxes.length) req.boxes = state.boxes.slice(-1);
  } else {
    return null;
  }
  return req;
}

async function segment() {
  if (!state.imageId) { setError("open an image first"); return; }
  if (state.busy) { state.pending = true; return; }
  const req = buildRequest();
  if (!req) { state.result = null; renderList(); drawOverlay(); updateDownloads(); return; }
  state.busy = true;
  setError("");
  setStatus("segmenting…");
  const t0 = performance.now();
  try {
    const r = await api(`v1/images/${state.imageId}/segment`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(req) });
    state.result = r;
    state.selected = 0;
    if (r.mode === "object") state.selected = Math.max(0, r.instances.findIndex((inst) => inst.best));
    renderList();
    drawOverlay();
    setStatus(`${r.instances.length} mask${r.instances.length === 1 ? "" : "s"} (${r.mode}) in ` +
              `${Math.round(performance.now() - t0)} ms`);
  } catch (e) {
    setError(e.message);
    setStatus("");
  } finally {
    state.busy = false;
    updateDownloads();
    if (state.pending) { state.pending = false; segment(); }
  }
}

function updateDownloads() {
  $("download-png").disabled = !state.imageId;
  $("download-json").disabled = !state.result;
}

function download(blob, name) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.appendChild(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
}

async function openImage(file) {
  setError("");
  setStatus(`uploading ${file.name}…`);
  state.imageId = null; state.result = null; state.points = []; state.boxes = [];
  renderList();
  try {
    const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
    const info = await api("v1/images", { method: "POST", body: file,
      headers: { "Content-Type": file.type || "application/octet-stream" } });
    state.imageId = info.id; state.width = info.width; state.height = info.height;
    state.name = file.name.replace(/\.[^.]*$/, "") || "image";
    for (const id of ["image", "overlay", "prompts"]) {
      const c = $(id); c.width = info.width; c.height = info.height; c.hidden = false;
    }
    $("empty").hidden = true;
    $("image").getContext("2d").drawImage(bitmap, 0, 0, info.width, info.height);
    fitStage();
    drawOverlay(); drawPrompts();
    setStatus(`${file.name}: ${info.width}x${info.height}, encoded in ${Math.round(info.timings_ms.encode)} ms`);
    $("stage").dataset.imageId = info.id;
    updateDownloads();
    if ($("text").value.trim()) segment();
  } catch (e) {
    setError(e.message);
    setStatus("");
  }
}

// Shows the image as large as the page allows (canvases keep the image's own resolution).
function fitStage() {
  if (!state.width) return;
  const avail = $("left").clientWidth, maxH = Math.max(200, window.innerHeight - 90);
  const scale = Math.min(avail / state.width, maxH / state.height);
  $("image").style.width = `${Math.floor(state.width * scale)}px`;
}
window.addEventListener("resize", fitStage);

// Pointer -> image pixel coordinates.
function toImage(ev) {
  const c = $("prompts"), rect = c.getBoundingClientRect();
  const x = (ev.clientX - rect.left) * c.width / rect.width;
  const y = (ev.clientY - rect.top) * c.height / rect.height;
  return { x: Math.min(Math.max(x, 0), c.width), y: Math.min(Math.max(y, 0), c.height) };
}

let drag = null;
$("prompts").addEventListener("pointerdown", (ev) => {
  if (!state.imageId || ev.button !== 0) return;
  drag = { start: toImage(ev), shift: ev.shiftKey, moved: false };
  $("prompts").setPointerCapture(ev.pointerId);
});
$("prompts").addEventListener("pointermove", (ev) => {
  if (!drag) return;
  const p = toImage(ev), c = $("prompts"), rect = c.getBoundingClientRect();
  const dx = (p.x - drag.start.x) * rect.width / c.width, dy = (p.y - drag.start.y) * rect.height / c.height;
  if (Math.hypot(dx, dy) > 5) drag.moved = true;
  if (drag.moved) drawPrompts(boxFrom(drag.start, p, drag.shift));
});
$("prompts").addEventListener("pointerup", (ev) => {
  if (!drag) return;
  const p = toImage(ev);
  if (drag.moved) {
    const b = boxFrom(drag.start, p, drag.shift);
    if (b.x2 > b.x1 && b.y2 > b.y1) {
      if (!$("text").value.trim()) state.boxes = [];  // object mode takes one box
      state.boxes.push(b);
    }
  } else if ($("text").value.trim()) {
    drag = null;
    setError("points belong to object mode: clear the text prompt to click");
    return;
  } else {
    state.points.push({ x: round1(p.x), y: round1(p.y), label: drag.shift ? 0 : 1 });
  }
  drag = null;
  drawPrompts();
  segment();
});
function round1(v) { return Math.round(v * 10) / 10; }
function boxFrom(a, b, negative) {
  return { x1: round1(Math.min(a.x, b.x)), y1: round1(Math.min(a.y, b.y)),
           x2: round1(Math.max(a.x, b.x)), y2: round1(Math.max(a.y, b.y)), label: negative ? 0 : 1 };
}

$("file").addEventListener("change", (ev) => { if (ev.target.files.length) openImage(ev.target.files[0]); });
$("text-form").addEventListener("submit", (ev) => { ev.preventDefault(); segment(); });
$("run").addEventListener("click", () => segment());
$("threshold").addEventListener("input", () => {
  $("threshold-value").textContent = parseFloat($("threshold").value).toFixed(2);
});
$("threshold").addEventListener("change", () => { if (state.result) segment(); });
$("clear").addEventListener("click", () => {
  state.points = []; state.boxes = []; state.result = null;
  drawPrompts(); drawOverlay(); renderList(); updateDownloads(); setError("");
});
$("download-png").addEventListener("click", () => {
  const c = document.createElement("canvas");
  c.width = state.width; c.height = state.height;
  const ctx = c.getContext("2d");
  ctx.drawImage($("image"), 0, 0);
  ctx.drawImage($("overlay"), 0, 0);
  c.toBlob((blob) => download(blob, `${state.name}_sam3rt.png`), "image/png");
});
$("download-json").addEventListener("click", () => {
  const blob = new Blob([JSON.stringify(state.result, null, 2)], { type: "application/json" });
  download(blob, `${state.name}_sam3rt.json`);
});

api("v1/model").then((m) => {
  state.modelInfo = m;
  $("model").textContent = `${m.type} · input ${m.image_size}px · concept ${m.concept ? "yes" : "no"} · ` +
                           `object ${m.object ? "yes" : "no"}`;
  if (m.random_weights) $("warning").textContent = "random-weight checkpoint: masks are meaningless";
}).catch((e) => setError(e.message));
</script>
</body>
</html>
)sam3rt_page";

}  // namespace

std::string_view index_html() { return kPage; }

}  // namespace sam3rt::server
