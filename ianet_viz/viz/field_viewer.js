// The receptive-field viewer in the browser: every field of the shown image lives in the page, so a
// click, a drag or an arrow key repaints the panels without asking Python anything.
//
// Model traits (ianet_viz/viz/field_widget.py): meta (JSON: sizes, blocks, panels, colour table),
// photos (RGB bytes of every image), shared (float16 bytes: S^L, the same for every image), fields
// (float16 bytes: every row of every other map of every block of image fields_image), selection ({image, block, view, row, col, y, x}: synced back to Python).
// The same module runs without a kernel (field_player_html): a small stand-in model then serves the
// fields of every saved image.

const RING = 5; // radius of the query marker, in screen pixels

function half(bits) { // float16 -> number (IEEE 754 binary16)
  const s = bits & 0x8000 ? -1 : 1, e = (bits >> 10) & 0x1f, f = bits & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

const HALF = (() => { const t = new Float32Array(65536); for (let i = 0; i < 65536; i++) t[i] = half(i); return t; })();

function toView(b) { // anywidget gives a DataView; the stand-in model gives an ArrayBuffer
  return b instanceof DataView ? b : new DataView(b.buffer || b, b.byteOffset || 0, b.byteLength);
}

// {block: {key: Float32Array(M * M)}} from float16 bytes: the maps of `which` ("packed": one image's,
// "shared": the same for every image, S^L), in meta.blocks order; an alias is the map it equals
function decodeMaps(meta, bytes, which, out = {}) {
  const view = toView(bytes);
  let at = 0;
  for (const block of meta.block_names) {
    const info = meta.blocks[block], m = info.hw[0] * info.hw[1];
    out[block] = out[block] || {};
    for (const key of info[which]) {
      const a = new Float32Array(m * m);
      for (let i = 0; i < m * m; i++, at += 2) a[i] = HALF[view.getUint16(at, true)];
      out[block][key] = a;
    }
    for (const [key, same] of Object.entries(info.alias)) if (out[block][same]) out[block][key] = out[block][same];
  }
  return out;
}

function photoData(meta, photos, index) {
  const [h, w] = meta.image_hw, n = h * w, view = toView(photos), img = new ImageData(w, h);
  const base = index * n * 3;
  for (let i = 0; i < n; i++) {
    img.data[4 * i] = view.getUint8(base + 3 * i);
    img.data[4 * i + 1] = view.getUint8(base + 3 * i + 1);
    img.data[4 * i + 2] = view.getUint8(base + 3 * i + 2);
    img.data[4 * i + 3] = 255;
  }
  return img;
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function canvasOf(w, h) {
  const c = document.createElement("canvas");
  c.width = w; c.height = h;
  return c;
}

// weight x M on the log colour scale of the matplotlib figures: RELATIVE_MIN .. M -> 0 .. 255
function colourIndex(meta, value, m) {
  const lo = Math.log(meta.relative_min), hi = Math.log(Math.max(m, meta.relative_min * 10));
  const v = Math.log(Math.max(value * m, meta.relative_min));
  return Math.max(0, Math.min(255, Math.floor(((v - lo) / (hi - lo)) * 256)));
}

function fmtPeak(p) { return `${Number(p.toPrecision(3))}x`; }

function panelText(row, r, c, w) { // "self 0.22 | peak 3.1x", as ianet_viz.viz.overlay.field_label
  const own = row[r * w + c];
  let peak = 0;
  for (let i = 0; i < row.length; i++) peak = Math.max(peak, row[i]);
  return `self ${own < 0.005 ? "<0.01" : own.toFixed(2)} | peak ${fmtPeak(peak * row.length)}`;
}

function render({ model, el: root }) {
  const meta = model.get("meta");
  const [imgH, imgW] = meta.image_hw, scale = meta.scale;
  const state = { fields: null, sel: { ...model.get("selection") } };
  root.classList.add("ianet-viewer", "ianet-front");

  // ---- controls: image, block, view
  const controls = el("div", "ianet-controls");
  const picker = el("select", "ianet-picker");
  meta.image_labels.forEach((label, i) => { const o = el("option", "", label); o.value = i; picker.append(o); });
  const blockButtons = {}, viewButtons = {};
  const blockBox = el("span", "ianet-buttons"), viewBox = el("span", "ianet-buttons");
  for (const b of meta.block_names) { blockButtons[b] = el("button", "", b); blockBox.append(blockButtons[b]); }
  for (const [v, [label]] of Object.entries(meta.views)) { viewButtons[v] = el("button", "", label); viewBox.append(viewButtons[v]); }
  controls.append(el("span", "ianet-caption", "image"), picker, el("span", "ianet-caption", "block"), blockBox,
                  el("span", "ianet-caption", "view"), viewBox);

  // ---- the pedestrian, the panels and the colour bar
  const title = el("div", "ianet-title");
  const photoCanvas = canvasOf(imgW * scale, imgH * scale);
  photoCanvas.className = "ianet-photo";
  photoCanvas.tabIndex = 0;
  const photoBox = el("div", "ianet-image");
  photoBox.append(el("div", "ianet-panel-title", "click / drag / arrow keys"), el("div", "ianet-panel-text", "\u00a0"),
                  photoCanvas);
  const panelsBox = el("div", "ianet-panels");
  const panels = {};
  for (const key of meta.panels) {
    const box = el("div", "ianet-panel"), c = canvasOf(imgW * scale, imgH * scale);
    const t = el("div", "ianet-panel-text", "");
    const head = el("div", "ianet-panel-title");
    head.innerHTML = meta.titles[key]; // the package's own constant (PANEL_HTML_TITLES)
    box.append(head, t, c);
    panels[key] = { box, canvas: c, ctx: c.getContext("2d"), text: t };
    panelsBox.append(box);
  }
  const bar = canvasOf(14, imgH * scale), barBox = el("div", "ianet-colorbar"), barTicks = el("div", "ianet-ticks");
  const barWrap = el("div", "ianet-barwrap");
  barWrap.append(bar, barTicks);
  barBox.append(el("div", "ianet-panel-title", "weight \u00d7 M"), el("div", "ianet-panel-text", "log; 1 = uniform"),
                barWrap);
  const row = el("div", "ianet-row");
  row.append(photoBox, panelsBox, barBox);
  const label = el("div", "ianet-selected");
  root.append(controls, title, row, label);

  const photoCtx = photoCanvas.getContext("2d");
  const scratch = canvasOf(imgW, imgH), scratchCtx = scratch.getContext("2d");
  const lut = meta.lut; // 256 x [r, g, b]

  function drawBar(m) {
    const ctx = bar.getContext("2d"), h = bar.height;
    for (let y = 0; y < h; y++) {
      const [r, g, b] = lut[Math.min(255, Math.floor(((h - 1 - y) / h) * 256))];
      ctx.fillStyle = `rgb(${r},${g},${b})`; ctx.fillRect(0, y, bar.width, 1);
    }
    const lo = Math.log(meta.relative_min), hi = Math.log(Math.max(m, meta.relative_min * 10));
    barTicks.textContent = "";
    for (const t of [0.1, 1, 10, 100, 1000].filter((t) => t < m * 0.7).concat([m])) {
      const tick = el("div", "ianet-tick", t === meta.relative_min ? "\u22640.1" : `${t}`);
      tick.style.top = `${(1 - (Math.log(t) - lo) / (hi - lo)) * h}px`;
      barTicks.append(tick);
    }
  }

  function ring(ctx, y, x) {
    ctx.beginPath(); ctx.arc(x * scale, y * scale, RING + 1, 0, 2 * Math.PI);
    ctx.lineWidth = 1; ctx.strokeStyle = "black"; ctx.stroke();
    ctx.beginPath(); ctx.arc(x * scale, y * scale, RING, 0, 2 * Math.PI);
    ctx.lineWidth = 2; ctx.strokeStyle = "white"; ctx.stroke();
  }

  function drawPanel(p, rowW, hw, r, c) { // the photo, the row at cell resolution on top, the query cell outlined
    const [h, w] = hw, m = h * w, cells = new ImageData(w, h), alpha = Math.round(meta.alpha * 255);
    for (let i = 0; i < m; i++) {
      const [cr, cg, cb] = lut[colourIndex(meta, rowW[i], m)];
      cells.data.set([cr, cg, cb, alpha], 4 * i);
    }
    p.ctx.imageSmoothingEnabled = false;
    p.ctx.drawImage(scratch, 0, 0, p.canvas.width, p.canvas.height);
    const cellCanvas = canvasOf(w, h);
    cellCanvas.getContext("2d").putImageData(cells, 0, 0);
    p.ctx.drawImage(cellCanvas, 0, 0, p.canvas.width, p.canvas.height);
    const cw = p.canvas.width / w, ch = p.canvas.height / h;
    p.ctx.lineWidth = 2; p.ctx.strokeStyle = "white"; p.ctx.strokeRect(c * cw + 1, r * ch + 1, cw - 2, ch - 2);
    p.ctx.lineWidth = 1; p.ctx.strokeStyle = "black"; p.ctx.strokeRect(c * cw, r * ch, cw, ch);
  }

  function labelText(block, r, c, hw) {
    return `${block}: cell (row, col) = (${r}, ${c}) of ${hw[0]}x${hw[1]} | `
      + `pixel (y, x) = (${Math.round(state.sel.y)}, ${Math.round(state.sel.x)}) of ${imgH}x${imgW}`;
  }

  function draw() { // everything that depends on the selection: one row per panel, at cell resolution
    const { block, view, row: r, col: c } = state.sel;
    const hw = meta.blocks[block].hw, m = hw[0] * hw[1];
    photoCtx.imageSmoothingEnabled = false;
    photoCtx.drawImage(scratch, 0, 0, photoCanvas.width, photoCanvas.height);
    ring(photoCtx, state.sel.y, state.sel.x);
    const shown = meta.views[view][1];
    for (const key of meta.panels) {
      const p = panels[key], have = state.fields && state.fields[block][key];
      p.box.style.display = shown.includes(key) ? "" : "none";
      if (!shown.includes(key)) continue;
      if (!have) { p.text.textContent = "(not in this model)"; p.ctx.drawImage(scratch, 0, 0, p.canvas.width, p.canvas.height); continue; }
      const rowW = have.subarray((r * hw[1] + c) * m, (r * hw[1] + c + 1) * m);
      drawPanel(p, rowW, hw, r, c);
      p.text.textContent = panelText(rowW, r, c, hw[1]);
    }
    label.textContent = labelText(block, r, c, hw);
    if (state.barM !== m) { drawBar(m); state.barM = m; }
  }

  function fullRedraw() { // a new image, block or view: photo, buttons and title too
    const { image, block, view } = state.sel;
    if (state.photoIndex !== image) {
      scratchCtx.putImageData(photoData(meta, model.get("photos"), image), 0, 0);
      state.photoIndex = image;
    }
    picker.value = image;
    for (const [b, btn] of Object.entries(blockButtons)) btn.classList.toggle("ianet-on", b === block);
    for (const [v, btn] of Object.entries(viewButtons)) btn.classList.toggle("ianet-on", v === view);
    title.textContent = `${meta.figure_title}, ${block} (${meta.views[view][0]})${meta.label ? ": " + meta.label : ""}`;
    draw();
  }

  function loadFields() {
    if (model.get("fields_image") !== state.sel.image) return false; // Python is sending them
    if (!state.shared) state.shared = decodeMaps(meta, model.get("shared"), "shared"); // once: S^L
    const maps = {};
    for (const b of meta.block_names) maps[b] = { ...state.shared[b] };
    state.fields = decodeMaps(meta, model.get("fields"), "packed", maps);
    return true;
  }

  function publish() { // the selection back to Python (viewer.selected and its label follow)
    model.set("selection", { ...state.sel });
    model.save_changes();
  }

  function selectPixel(y, x) {
    const hw = meta.blocks[state.sel.block].hw;
    state.sel.y = Math.min(Math.max(y, 0), imgH - 1e-6); state.sel.x = Math.min(Math.max(x, 0), imgW - 1e-6);
    state.sel.row = Math.min(hw[0] - 1, Math.floor((state.sel.y * hw[0]) / imgH));
    state.sel.col = Math.min(hw[1] - 1, Math.floor((state.sel.x * hw[1]) / imgW));
    draw();
    publish();
  }

  function selectCell(r, c) { // the centre of cell (r, c), as ianet_viz.viz.overlay.cell_center
    const hw = meta.blocks[state.sel.block].hw;
    r = Math.min(Math.max(r, 0), hw[0] - 1); c = Math.min(Math.max(c, 0), hw[1] - 1);
    selectPixel(((r + 0.5) * imgH) / hw[0], ((c + 0.5) * imgW) / hw[1]);
  }

  function pointer(ev) {
    const rect = photoCanvas.getBoundingClientRect();
    selectPixel(((ev.clientY - rect.top) / rect.height) * imgH, ((ev.clientX - rect.left) / rect.width) * imgW);
  }

  // ---- events: the browser alone answers them
  photoCanvas.addEventListener("pointerdown", (ev) => {
    if (ev.button !== 0) return;
    photoCanvas.setPointerCapture(ev.pointerId); photoCanvas.focus(); pointer(ev); ev.preventDefault();
  });
  photoCanvas.addEventListener("pointermove", (ev) => { if (photoCanvas.hasPointerCapture(ev.pointerId)) pointer(ev); });
  photoCanvas.addEventListener("keydown", (ev) => {
    const step = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] }[ev.key];
    if (!step) return;
    selectCell(state.sel.row + step[0], state.sel.col + step[1]); ev.preventDefault();
  });
  picker.addEventListener("change", () => {
    state.sel.image = Number(picker.value); publish();
    if (loadFields()) fullRedraw(); // else: on change:fields
  });
  for (const [b, btn] of Object.entries(blockButtons)) btn.addEventListener("click", () => {
    state.sel.block = b; fullRedraw(); selectPixel(state.sel.y, state.sel.x);
  });
  for (const [v, btn] of Object.entries(viewButtons)) btn.addEventListener("click", () => {
    state.sel.view = v; fullRedraw(); publish();
  });

  // ---- Python's side: new fields (another image) or a selection made by viewer.select(...)
  model.on("change:fields", () => { if (loadFields()) fullRedraw(); });
  model.on("change:selection", () => {
    const s = model.get("selection"), old = state.sel;
    if (["image", "block", "view", "row", "col", "y", "x"].every((k) => s[k] === old[k])) return;
    const newImage = s.image !== old.image;
    state.sel = { ...s };
    if (!newImage || loadFields()) fullRedraw(); // a new image: drawn when its fields arrive
  });

  if (loadFields()) fullRedraw();
}

export default { render };
