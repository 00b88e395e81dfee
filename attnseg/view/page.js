// The live page's script (served as /page.js: the page runs no inline script, attnseg.view.http's CSP says so).
// What the server sends goes into the page as text, never as markup: a checkpoint's file name is shown, not run.
const $ = (id) => document.getElementById(id);
// the token the page was opened with (?token=), sent with each of its own requests: to this server only
const token = new URLSearchParams(location.search).get("token");
const url = (path) => token === null ? path : path + (path.includes("?") ? "&" : "?") + "token=" +
  encodeURIComponent(token);
const post = (path, body) => fetch(url(path), {method: "POST", headers: {"Content-Type": "application/json"},
                                               body: JSON.stringify(body)}).then((r) => r.json());
let state = {};

const ms = (v) => v === null ? "-" : v.toFixed(0) + " ms";

function element(tag, props, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);  // strings become text nodes
  return node;
}

function objectItem(o, following) {
  const swatch = element("span", {className: "swatch"});
  swatch.style.background = `rgb(${o.colour.map(Number).join(",")})`;
  const area = element("span", {}, `${(100 * o.area).toFixed(1)}%`);
  area.style.marginLeft = "auto";
  const li = element("li", {className: o.id === following ? "followed" : ""}, swatch, `id ${o.name}`, area);
  li.dataset.id = String(o.id);
  return li;
}

function render(s) {
  state = s;
  $("fps").textContent = s.fps.toFixed(1);
  $("painted_fps").textContent = s.painted_fps.toFixed(1);
  $("p50").textContent = ms(s.display_latency_ms.p50);
  $("p99").textContent = ms(s.display_latency_ms.p99);
  $("e50").textContent = ms(s.mask_latency_ms.p50);
  $("e99").textContent = ms(s.mask_latency_ms.p99);
  $("carried").textContent = s.frames_carried;
  $("kind").textContent = s.carried ? "carried (flow)" : "segmented";
  $("processed").textContent = s.frames_processed;
  $("dropped").textContent = s.frames_dropped;
  $("mode").textContent = s.mode ?? "-";
  $("weights").replaceChildren(s.random_weights
    ? element("span", {className: "warn"}, "RANDOM WEIGHTS: masks are meaningless") : s.weights ? "weights: " + s.weights : "");
  const followed = s.objects.find((o) => o.id === s.following);  // its name: "n:k" of several sources
  $("following").textContent = s.following === null ? "none" : "id " + (followed ? followed.name : s.following);
  $("pause").textContent = s.paused ? "resume" : "pause";
  if (document.activeElement !== $("opacity")) $("opacity").value = s.opacity;
  const more = s.objects_total > s.objects.length ? [element("li", {className: "more"},
    `and ${s.objects_total - s.objects.length} smaller`)] : [];
  $("list").replaceChildren(...s.objects.map((o) => objectItem(o, s.following)), ...more);
  $("step").hidden = !s.step;  // before the first frame: what the demo is doing (loading, measuring, waiting)
  $("step").textContent = s.step ?? "";
  $("ended").hidden = !s.ended;  // the stream is over: its last frame stays, with the closing figures
  $("ended").textContent = s.ended ? "stream ended: " + s.ended : "";
  document.body.dataset.frame = s.frame;
}

function fit() {  // the overlay scaled to the space beside the panel, its aspect kept
  const view = $("view"), stage = $("stage");
  const scale = Math.min(stage.clientWidth / view.width, stage.clientHeight / view.height);
  view.style.width = Math.floor(view.width * scale) + "px";
  view.style.height = Math.floor(view.height * scale) + "px";
}
window.addEventListener("resize", fit);
$("mask").href = url("/follow/mask.png");
new EventSource(url("/events")).onmessage = (e) => render(JSON.parse(e.data));

// Frames: pushed by the server as they come (/frames: a 16-byte header, then the JPEG), each drawn to fit the
// canvas's pixels. One is decoded at a time, off the main thread (createImageBitmap), always the newest that came;
// it is drawn at the next animation frame. Paints are reported a few at a time (every REPORT_MS): each frame and
// how long ago it was painted (after the rendering that followed its drawing), so the server counts capture to
// then as its display latency without a request per frame.
const REPORT_MS = 250, HEADER = 16;
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));
let paints = [], arrived = null, decoded = null, decoding = false, drawing = false, stream = null;

setInterval(() => {
  if (!paints.length) return;
  const now = performance.now();
  const frames = paints.splice(0, 64).map(([frame, at]) => [frame, Math.max(0, now - at)]);
  fetch(url("/shown"), {method: "POST", headers: {"Content-Type": "application/json"},
                        body: JSON.stringify({frames})}).catch(() => {});
}, REPORT_MS);

function decode() {  // the newest frame that came, once the one before is decoded
  if (decoding || arrived === null) return;
  const part = arrived;
  arrived = null;
  decoding = true;
  createImageBitmap(part.jpeg).then((bitmap) => {
    if (decoded) decoded.bitmap.close();  // decoded but not drawn yet: a newer one takes its place
    decoded = {frame: part.frame, bitmap};
    if (!drawing) { drawing = true; requestAnimationFrame(draw); }
  }).catch(() => {}).finally(() => { decoding = false; decode(); });
}

function draw() {
  drawing = false;
  const next = decoded;
  decoded = null;
  if (!next) return;
  const view = $("view");
  if (view.width !== next.bitmap.width || view.height !== next.bitmap.height) {
    view.width = next.bitmap.width; view.height = next.bitmap.height; fit();
  }
  view.getContext("2d").drawImage(next.bitmap, 0, 0);
  next.bitmap.close();
  view.dataset.frame = next.frame;
  setTimeout(() => paints.push([next.frame, performance.now()]), 0);  // after this rendering: painted
}

function box() {  // the canvas's room in device pixels: the server draws no larger
  const stage = $("stage"), ratio = window.devicePixelRatio || 1;
  return [Math.max(1, Math.round(stage.clientWidth * ratio)), Math.max(1, Math.round(stage.clientHeight * ratio))];
}

async function frames() {
  for (;;) {
    const [width, height] = box();
    stream = new AbortController();
    const signal = stream.signal;
    try {
      const r = await fetch(url(`/frames?width=${width}&height=${height}`), {cache: "no-store", signal});
      if (r.status !== 200) { await sleep(500); continue; }
      const reader = r.body.getReader();
      let buf = new Uint8Array(0);
      for (;;) {
        const {value, done} = await reader.read();
        if (done) break;
        const joined = new Uint8Array(buf.length + value.length);
        joined.set(buf); joined.set(value, buf.length);
        buf = joined;
        while (buf.length >= HEADER) {
          const head = new DataView(buf.buffer, buf.byteOffset, HEADER);
          const frame = head.getFloat64(0, true), size = head.getUint32(8, true);
          if (buf.length < HEADER + size) break;
          arrived = {frame, jpeg: new Blob([buf.subarray(HEADER, HEADER + size)], {type: "image/jpeg"})};
          buf = buf.slice(HEADER + size);
          decode();
        }
      }
    } catch (err) {
      if (!signal.aborted) await sleep(500);  // the server is gone or restarting; aborted: the canvas resized
    }
  }
}
frames();
let resized = null;
window.addEventListener("resize", () => {  // frames drawn for the new size: the stream asked again, once settled
  clearTimeout(resized);
  resized = setTimeout(() => stream && stream.abort(), 300);
});
$("view").addEventListener("click", (e) => {
  const img = e.currentTarget;
  post("/follow", {x: e.offsetX / img.clientWidth, y: e.offsetY / img.clientHeight}).then(render);
});
$("list").addEventListener("click", (e) => {
  const li = e.target.closest("li");
  if (li && li.dataset.id !== undefined) post("/follow", {id: Number(li.dataset.id)}).then(render);
});
$("unfollow").addEventListener("click", () => post("/follow", {id: null}).then(render));
$("pause").addEventListener("click", () => post("/control", {paused: !state.paused}).then(render));
$("opacity").addEventListener("input", (e) => post("/control", {opacity: Number(e.target.value)}).then(render));
