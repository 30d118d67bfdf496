// Pan and zoom for an inline SVG drawing, and labels kept inside their boxes.
// engineGraphView(container) fits the drawing to the container; the wheel zooms at the pointer, a drag
// pans, a double click (or view.fit()) fits again. No dependencies: it runs from a file, offline.
(function () {
  "use strict";

  function fitLabels(svg) {
    // Graphviz sizes boxes by its own font metrics; the browser's font may be wider. A label that
    // would overflow its box is condensed to fit (textLength), never cut and never spilling over.
    for (const node of svg.querySelectorAll("g.node")) {
      const shape = node.querySelector("polygon, path, rect, ellipse");
      if (!shape) continue;
      const box = shape.getBBox();
      for (const text of node.querySelectorAll("text")) {
        const room = box.width - 10;
        const width = text.getComputedTextLength();
        if (width > room && room > 0) {
          text.setAttribute("textLength", room.toFixed(1));
          text.setAttribute("lengthAdjust", "spacingAndGlyphs");
        }
      }
    }
  }

  function contentBox(svg, selector) {
    // The union of the boxes of `selector`'s elements, in viewBox units (e.g. without the title).
    const m = svg.getScreenCTM();
    const parts = [...svg.querySelectorAll(selector)];
    if (!m || !parts.length) return null;
    const inverse = m.inverse();
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (const part of parts) {
      const r = part.getBoundingClientRect();
      if (!r.width && !r.height) continue;
      for (const [cx, cy] of [[r.left, r.top], [r.right, r.bottom]]) {
        const p = new DOMPoint(cx, cy).matrixTransform(inverse);
        x0 = Math.min(x0, p.x); y0 = Math.min(y0, p.y); x1 = Math.max(x1, p.x); y1 = Math.max(y1, p.y);
      }
    }
    return x1 > x0 ? { x: x0, y: y0, w: x1 - x0, h: y1 - y0 } : null;
  }

  // options.fitTo: a selector of what the fit shows (default: the whole drawing).
  function engineGraphView(container, options) {
    const svg = container.querySelector("svg");
    if (!svg) return null;
    const base = svg.viewBox.baseVal;
    const full = base && base.width
      ? { x: base.x, y: base.y, w: base.width, h: base.height }
      : { x: 0, y: 0, w: svg.width.baseVal.value, h: svg.height.baseVal.value };
    svg.removeAttribute("width");
    svg.removeAttribute("height");
    svg.setAttribute("preserveAspectRatio", "xMidYMid meet");
    svg.style.width = "100%";
    svg.style.height = "100%";
    svg.style.display = "block";
    svg.style.cursor = "grab";
    svg.style.touchAction = "none";
    let view = { ...full };
    let target = full;
    const apply = () => svg.setAttribute("viewBox", `${view.x} ${view.y} ${view.w} ${view.h}`);
    const pad = 0.04;
    const MAX_FIT_SCALE = 1.4;  // a small graph is shown at a little over its own size, not blown up
    const fit = () => {
      const t = target;
      let w = t.w * (1 + 2 * pad), h = t.h * (1 + 2 * pad);
      const rect = svg.getBoundingClientRect();
      if (rect.width && rect.height && Math.min(rect.width / w, rect.height / h) > MAX_FIT_SCALE) {
        w = rect.width / MAX_FIT_SCALE;
        h = rect.height / MAX_FIT_SCALE;
      }
      view = { x: t.x + t.w / 2 - w / 2, y: t.y + t.h / 2 - h / 2, w, h };
      apply();
    };
    const toDrawing = (clientX, clientY) => {
      const m = svg.getScreenCTM();
      if (!m) return { x: view.x + view.w / 2, y: view.y + view.h / 2 };
      return new DOMPoint(clientX, clientY).matrixTransform(m.inverse());  // viewBox units
    };
    const zoom = (factor, clientX, clientY) => {
      const p = clientX === undefined ? { x: view.x + view.w / 2, y: view.y + view.h / 2 } : toDrawing(clientX, clientY);
      const w = Math.min(Math.max(view.w * factor, full.w / 40), full.w * 8);
      const k = w / view.w;
      view = { x: p.x - (p.x - view.x) * k, y: p.y - (p.y - view.y) * k, w: view.w * k, h: view.h * k };
      apply();
    };
    // Show `selector`'s elements at a readable scale (1.25 px a point) when the whole drawing is too small to
    // read; otherwise the whole drawing. Returns whether it zoomed in.
    const focus = (selector) => {
      const rect = svg.getBoundingClientRect();
      const box = contentBox(svg, selector);
      if (!box || !rect.width) return false;
      const scale = Math.min(rect.width / target.w, rect.height / target.h);
      if (scale >= 0.7) { fit(); return false; }
      const w = Math.max(rect.width / 1.25, box.w * 1.3), h = Math.max(rect.height / 1.25, box.h * 1.3);
      view = { x: box.x + box.w / 2 - w / 2, y: box.y + box.h / 2 - h / 2, w, h };
      apply();
      return true;
    };
    const listeners = [];
    const touched = () => listeners.forEach((f) => f());
    svg.addEventListener("wheel", (e) => {
      e.preventDefault();
      touched();
      zoom(Math.exp(e.deltaY * 0.0015), e.clientX, e.clientY);
    }, { passive: false });
    let drag = null;
    svg.addEventListener("pointerdown", (e) => {
      touched();
      drag = { x: e.clientX, y: e.clientY, view: { ...view } };
      svg.setPointerCapture(e.pointerId);
      svg.style.cursor = "grabbing";
    });
    svg.addEventListener("pointermove", (e) => {
      if (!drag) return;
      const rect = svg.getBoundingClientRect();
      const scale = Math.max(drag.view.w / rect.width, drag.view.h / rect.height);
      view = { ...drag.view, x: drag.view.x - (e.clientX - drag.x) * scale, y: drag.view.y - (e.clientY - drag.y) * scale };
      apply();
    });
    const release = () => { drag = null; svg.style.cursor = "grab"; };
    svg.addEventListener("pointerup", release);
    svg.addEventListener("pointercancel", release);
    svg.addEventListener("dblclick", fit);
    fit();
    if (options && options.fitTo) target = contentBox(svg, options.fitTo) || full;
    fit();
    fitLabels(svg);
    return {
      svg, fit, focus, zoomIn: () => zoom(1 / 1.25), zoomOut: () => zoom(1.25),
      onUserMove: (f) => listeners.push(f),  // the person panned or zoomed
    };
  }

  window.engineGraphView = engineGraphView;
})();
