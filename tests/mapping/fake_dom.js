// A fake DOM, just enough to run the inline script of a page sitsfusion view wrote under
// node (tests/mapping/test_view.py): pan, zoom, keys, tooltip, layer toggle, scale bar.
// Usage: node fake_dom.js PAGE.html  ->  one JSON line of what the script did.
"use strict";
const fs = require("fs");
const html = fs.readFileSync(process.argv[2], "utf8");
const script = html.match(/<script>([\s\S]*?)<\/script>/)[1];
const gridText = html.match(/<script type="application\/json" id="grid">([\s\S]*?)<\/script>/)[1];
const grid = JSON.parse(gridText);
const [W, H] = [800, 600]; // the map's box on screen, in CSS pixels

class El {
  constructor(id, dataset = {}) {
    Object.assign(this, { id, dataset, attrs: {}, on: {}, style: {}, hidden: false });
    this.textContent = "";
    this.classList = { add() {}, remove() {} };
  }
  setAttribute(k, v) { this.attrs[k] = String(v); }
  getAttribute(k) { return this.attrs[k]; }
  addEventListener(type, f) { (this.on[type] ||= []).push(f); }
  fire(type, event) { for (const f of this.on[type] || []) f(event); }
  closest(selector) { return selector === "[data-tip]" && this.dataset.tip ? this : null; }
  querySelector() { return new El("span"); }
  getBoundingClientRect() { return { left: 0, top: 0, width: W, height: H }; }
  get offsetWidth() { return 50; }
  get offsetHeight() { return 20; }
}
const ids = {};
for (const id of ["grid", "map", "view", "tip", "where", "scale", "bar", "zoom", "parcels"]) {
  ids[id] = new El(id);
}
ids.grid.textContent = gridText;
const svg = ids.map;
const image = new El("image");
image.attrs.href = "data:image/png;base64,";
const circles = [new El("c1"), new El("c2")];
const box = () => svg.attrs.viewBox.split(" ").map(Number);
// client -> SVG units for a viewBox fitted in W x H, aspect kept, centred (xMidYMid meet)
const toSvg = (x, y) => {
  const [bx, by, bw, bh] = box();
  const s = Math.min(W / bw, H / bh);
  return { x: bx + (x - (W - bw * s) / 2) / s, y: by + (y - (H - bh * s) / 2) / s };
};
svg.createSVGPoint = () => ({ matrixTransform(m) { return m(this); } });
svg.getScreenCTM = () => ({ inverse: () => (p) => toSvg(p.x, p.y) });
svg.querySelectorAll = () => circles;
svg.querySelector = () => image;
svg.setPointerCapture = () => {};
const toggle = new El("toggle", { layer: "parcels" });
const listeners = {};
const color = Object.keys(grid.classes)[0];
const rgb = [1, 3, 5].map((i) => parseInt(color.slice(i, i + 2), 16));
globalThis.document = {
  getElementById: (id) => ids[id],
  querySelectorAll: () => [toggle],
  addEventListener: (type, f) => { listeners[type] = f; },
  createElement: () => ({ getContext: () => ({ drawImage() {},
    getImageData: () => ({ data: [...rgb, 255] }) }) }),
};
globalThis.Image = class { set src(v) { this.onload(); } };
globalThis.window = { addEventListener() {} };

new Function(script)();
const out = { initial: box(), radius: circles[0].attrs.r };
const at = { clientX: 500, clientY: 200 };
const under = toSvg(at.clientX, at.clientY);
svg.fire("wheel", { ...at, deltaY: -200, preventDefault() {} });
out.wheel = box();
const still = toSvg(at.clientX, at.clientY);
out.fixed = [still.x - under.x, still.y - under.y];
out.zoomedRadius = circles[0].attrs.r;
const before = box();
svg.fire("pointerdown", { clientX: 100, clientY: 100, pointerId: 1 });
svg.fire("pointermove", { clientX: 150, clientY: 120, target: svg });
svg.fire("pointerup", {});
out.dragged = box().map((v, i) => v - before[i]);
const k = Math.max(before[2] / W, before[3] / H);
out.expectedDrag = [-50 * k, -20 * k, 0, 0];
ids.zoom.fire("click", { target: { dataset: { zoom: "home" } } });
out.home = box();
ids.zoom.fire("click", { target: { dataset: { zoom: "in" } } });
out.zoomIn = box();
listeners.keydown({ key: "-", target: new El("body") });
out.keyOut = box();
out.scale = [ids.bar.style.width, ids.scale.hidden];
const parcel = new El("p", { tip: "parcel 7\npredicted: maize" });
svg.fire("pointermove", { clientX: 300, clientY: 300, target: parcel });
out.tip = [ids.tip.hidden, ids.tip.textContent];
out.where = ids.where.textContent;
svg.fire("pointermove", { clientX: 300, clientY: 300, target: svg });
out.tipAfter = ids.tip.hidden;
toggle.checked = false;
toggle.fire("change", {});
out.parcels = ids.parcels.style.display;
out.className = grid.classes[color];
console.log(JSON.stringify(out));
