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
    var a = document.createElement("a");
    a.href = cy.png({full: true, scale: 2, bg: "#ffffff"});
    a.download = "lineage-graph.png";
    document.body.appendChild(a);
    a.click();
    a.remove();
  }

  document.getElementById("fit").addEventListener("click", fit);
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
