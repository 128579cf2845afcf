// The explorer's graph: Cytoscape.js in a Streamlit component (the iframe protocol of
// streamlit.components.v1, without React or Arrow). Python sends the elements with their
// positions, the style, the opening viewport and the legend (drawn under it); a tap on a node sends back
// {nodes: [its id], edges: [], at: <time>} (``at`` makes every tap a new value, so a second tap
// on the same group draws more of it). Nothing is sent when a drawing is made: a new drawing
// costs no rerun of the page.
(function () {
  "use strict";
  var box = document.getElementById("cy");
  var cy = null;
  var drawn = null;   // the arguments of the drawing on screen: a rerun with the same ones keeps pan and zoom
  var height = 0;
  var frame = 0;   // the iframe's height: the drawing and its legend

  function send(type, data) {
    var msg = {isStreamlitMessage: true, type: type};
    for (var k in data) { msg[k] = data[k]; }
    window.parent.postMessage(msg, "*");
  }

  function drawLegend(items) {
    var legend = document.getElementById("legend");
    legend.textContent = "";
    (items || []).forEach(function (item) {   // text only: a type name is never markup
      var chip = document.createElement("span");
      chip.textContent = item.label;
      chip.style.background = item.fill;
      chip.style.border = item.border;
      legend.appendChild(chip);
    });
    return legend.offsetHeight;
  }

  function render(args) {
    var total = args.height + drawLegend(args.legend);
    total += document.getElementById("tools").offsetHeight;
    if (args.height !== height || total !== frame) {
      height = args.height;
      frame = total;
      box.style.height = height + "px";
      send("streamlit:setFrameHeight", {height: frame});
    }
    var key = JSON.stringify([args.elements, args.stylesheet, args.layout]);
    if (key === drawn) {
      return;
    }
    drawn = key;
    if (cy) {
      cy.destroy();
    }
    cy = cytoscape({
      container: box, elements: args.elements, style: args.stylesheet, layout: args.layout,
      minZoom: args.minZoom, maxZoom: args.maxZoom, wheelSensitivity: 0.3,
      boxSelectionEnabled: false, autoungrabify: true, selectionType: "single"
    });
    fit();
    cy.on("tap", "node", function (ev) {
      send("streamlit:setComponentValue", {value: {nodes: [ev.target.id()], edges: [], at: Date.now()}, dataType: "json"});
    });
  }

  // Every drawing inside the canvas, at a readable zoom at most (a small graph is not blown up).
  function fit() {
    if (!cy) { return; }
    cy.fit(cy.elements(), 30);
    if (cy.zoom() > 1.2) {
      cy.zoom(1.2);
      cy.center();
    }
  }

  function zoomBy(factor) {
    if (!cy) { return; }
    cy.zoom({level: Math.min(cy.maxZoom(), Math.max(cy.minZoom(), cy.zoom() * factor)),
             renderedPosition: {x: box.clientWidth / 2, y: box.clientHeight / 2}});
  }

  function savePng() {
    if (!cy) { return; }
    download(cy.png({full: true, scale: 2, bg: "#ffffff"}), "lineage-graph.png");
  }

  // The drawing as SVG, written from what Cytoscape laid out: each node's box, fill, border and
  // label lines, each edge's curve (its control points), arrowhead and count. Hand-written:
  // the one plugin that does this (cytoscape-svg) is GPL-3.0, which this Apache-2.0 package
  // cannot ship. Text goes in through the DOM, so a label is never markup.
  var SVG = "http://www.w3.org/2000/svg";

  function el(parent, name, attrs, text) {
    var e = document.createElementNS(SVG, name);
    for (var k in attrs) { e.setAttribute(k, attrs[k]); }
    if (text !== undefined) { e.textContent = text; }
    if (parent) { parent.appendChild(e); }
    return e;
  }

  function num(v) { return parseFloat(v) || 0; }

  function labelLines(node) {
    // the lines Cytoscape wrapped the label into, when it has them; the label's own lines otherwise
    var scratch = node._private && node._private.rscratch;
    var lines = scratch && scratch.labelWrapCachedLines;
    return (lines && lines.length) ? lines : String(node.data("label") || "").split("\n");
  }

  function svgText() {
    var bb = cy.elements().boundingBox({includeLabels: true});
    var pad = 20;
    var root = el(null, "svg", {xmlns: SVG, version: "1.1",
      width: Math.ceil(bb.w + 2 * pad), height: Math.ceil(bb.h + 2 * pad),
      viewBox: [bb.x1 - pad, bb.y1 - pad, bb.w + 2 * pad, bb.h + 2 * pad].join(" "),
      "font-family": "sans-serif"});
    el(root, "title", {}, "lineage graph");
    el(root, "rect", {x: bb.x1 - pad, y: bb.y1 - pad, width: bb.w + 2 * pad, height: bb.h + 2 * pad,
                      fill: "#ffffff"});
    var edges = el(root, "g", {"class": "edges"});
    cy.edges().forEach(function (e) {
      var s = e.sourceEndpoint(), t = e.targetEndpoint(), cps = e.controlPoints();
      var colour = e.style("line-color"), d = "M " + s.x + " " + s.y;
      var from = s;
      if (cps && cps.length) {
        d += " Q " + cps[0].x + " " + cps[0].y + " " + t.x + " " + t.y;
        from = cps[0];
      } else {
        d += " L " + t.x + " " + t.y;
      }
      var g = el(edges, "g", {"class": "edge", "data-source": e.source().id(), "data-target": e.target().id()});
      el(g, "path", {d: d, fill: "none", stroke: colour, "stroke-width": num(e.style("width"))});
      var a = Math.atan2(t.y - from.y, t.x - from.x), len = 9, half = 4.5;
      var bx = t.x - len * Math.cos(a), by = t.y - len * Math.sin(a);
      el(g, "polygon", {fill: e.style("target-arrow-color"), points: [
        t.x + "," + t.y,
        (bx + half * Math.sin(a)) + "," + (by - half * Math.cos(a)),
        (bx - half * Math.sin(a)) + "," + (by + half * Math.cos(a))].join(" ")});
      var label = e.data("label");
      if (label) {
        var m = e.midpoint();
        el(g, "text", {x: m.x, y: m.y + 3, "text-anchor": "middle", "font-size": num(e.style("font-size")),
                       fill: e.style("color")}, label);
      }
    });
    var nodes = el(root, "g", {"class": "nodes"});
    cy.nodes().forEach(function (n) {
      var p = n.position(), w = n.width(), h = n.height();
      var g = el(nodes, "g", {"class": "node", "data-id": n.id()});
      var border = num(n.style("border-width")), style = n.style("border-style");
      var box = {x: p.x - w / 2, y: p.y - h / 2, width: w, height: h, fill: n.style("background-color"),
                 stroke: n.style("border-color"), "stroke-width": style === "double" ? border / 3 : border};
      if (n.style("shape") === "round-rectangle") { box.rx = 6; box.ry = 6; }
      if (style === "dashed") { box["stroke-dasharray"] = "6 3"; }
      el(g, "rect", box);
      if (style === "double") {   // a group: a second outline inside the first
        var inset = border * 2 / 3;
        el(g, "rect", {x: box.x + inset, y: box.y + inset, width: w - 2 * inset, height: h - 2 * inset,
                       fill: "none", stroke: box.stroke, "stroke-width": border / 3});
      }
      var size = num(n.style("font-size")), lines = labelLines(n);
      var text = el(g, "text", {x: p.x, "text-anchor": "middle", "font-size": size, fill: n.style("color"),
                                "font-weight": n.style("font-weight")});
      var top = p.y - (lines.length - 1) * size * 1.2 / 2 + size * 0.35;
      lines.forEach(function (line, i) {
        el(text, "tspan", {x: p.x, y: top + i * size * 1.2}, line);
      });
    });
    return new XMLSerializer().serializeToString(root);
  }

  function download(href, name) {
    var a = document.createElement("a");
    a.href = href;
    a.download = name;
    document.body.appendChild(a);
    a.click();
    a.remove();
  }

  function saveSvg() {
    if (!cy) { return; }
    var url = URL.createObjectURL(new Blob([svgText()], {type: "image/svg+xml"}));
    download(url, "lineage-graph.svg");
    setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
  }

  document.getElementById("fit").addEventListener("click", fit);
  document.getElementById("svg").addEventListener("click", saveSvg);
  document.getElementById("zoom-in").addEventListener("click", function () { zoomBy(1.25); });
  document.getElementById("zoom-out").addEventListener("click", function () { zoomBy(0.8); });
  document.getElementById("png").addEventListener("click", savePng);

  window.addEventListener("resize", function () {   // a narrower frame wraps the legend onto more lines
    var total = height + document.getElementById("legend").offsetHeight + document.getElementById("tools").offsetHeight;
    if (height && total !== frame) {
      frame = total;
      send("streamlit:setFrameHeight", {height: frame});
    }
  });

  // The app's theme (light, or dark when the browser or the settings say so): the drawing's
  // background and the legend's text follow it; nodes keep their fills, their labels inside them.
  function applyTheme(theme) {
    if (!theme) { return; }
    document.body.style.background = theme.backgroundColor || "#ffffff";
    document.getElementById("legend").style.color = theme.textColor || "#0f172a";
  }

  window.addEventListener("message", function (ev) {
    if (ev.data && ev.data.type === "streamlit:render") {
      applyTheme(ev.data.theme);
      render(ev.data.args);
    }
  });
  send("streamlit:componentReady", {apiVersion: 1});
})();
