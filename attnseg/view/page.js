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
  const li = element("li", {className: o.id === following ? "followed" : ""}, swatch, `id ${o.id}`, area);
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
  $("mode").textContent = s.mode;
  $("weights").replaceChildren(s.random_weights
    ? element("span", {className: "warn"}, "RANDOM WEIGHTS: masks are meaningless") : "weights: " + s.weights);
  $("following").textContent = s.following === null ? "none" : "id " + s.following;
  $("pause").textContent = s.paused ? "resume" : "pause";
  if (document.activeElement !== $("opacity")) $("opacity").value = s.opacity;
  $("list").replaceChildren(...s.objects.map((o) => objectItem(o, s.following)));
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

// Frames: one request at a time for a frame newer than the one shown, drawn as soon as decoded; once the
// browser has painted it (after the next animation frame's rendering), the page tells the server which frame
// it was, and the server counts capture to then as its display latency.
const painted = (frame) => requestAnimationFrame(() => setTimeout(() =>
  fetch(url("/shown"), {method: "POST", headers: {"Content-Type": "application/json"},
                        body: JSON.stringify({frame})}), 0));
async function frames() {
  let last = -1;
  for (;;) {
    try {
      const r = await fetch(url(`/frame.jpg?after=${last}`), {cache: "no-store"});
      if (r.status !== 200) { await new Promise((ok) => setTimeout(ok, 200)); continue; }
      const frame = Number(r.headers.get("X-Frame"));
      const bitmap = await createImageBitmap(await r.blob());
      const view = $("view");
      if (view.width !== bitmap.width || view.height !== bitmap.height) {
        view.width = bitmap.width; view.height = bitmap.height; fit();
      }
      view.getContext("2d").drawImage(bitmap, 0, 0);
      bitmap.close();
      view.dataset.frame = frame;
      if (frame !== last) painted(frame);
      last = frame;
    } catch (err) {
      await new Promise((ok) => setTimeout(ok, 500));  // the server is gone or restarting
    }
  }
}
frames();
$("view").addEventListener("click", (e) => {
  const img = e.currentTarget;
  post("/follow", {x: e.offsetX / img.clientWidth, y: e.offsetY / img.clientHeight}).then(render);
});
$("list").addEventListener("click", (e) => {
  const li = e.target.closest("li");
  if (li) post("/follow", {id: Number(li.dataset.id)}).then(render);
});
$("unfollow").addEventListener("click", () => post("/follow", {id: null}).then(render));
$("pause").addEventListener("click", () => post("/control", {paused: !state.paused}).then(render));
$("opacity").addEventListener("input", (e) => post("/control", {opacity: Number(e.target.value)}).then(render));
