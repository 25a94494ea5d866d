// 流程图: render the case's own process version with bpmn-js (NavigatedViewer: pan and zoom only)
// and mark completed elements and elements holding a token. One tab per process the case entered.
(function () {
  "use strict";
  var section = document.querySelector("[data-diagram-url]");
  if (!section) return;
  var canvasEl = section.querySelector(".diagram-canvas");
  var tabs = section.querySelector(".diagram-tabs");
  var message = section.querySelector(".diagram-message");

  function fail(text) {
    message.textContent = text;
    message.hidden = false;
    section.dataset.state = "error";
  }

  if (typeof window.BpmnJS === "undefined") {
    fail(section.dataset.msgMissing);
    return;
  }
  var viewer = new window.BpmnJS({ container: canvasEl });

  function mark(process) {
    var canvas = viewer.get("canvas");
    var registry = viewer.get("elementRegistry");
    [["completed", "state-completed"], ["active", "state-active"]].forEach(function (kind) {
      process[kind[0]].forEach(function (id) {
        if (!registry.get(id)) return;
        canvas.addMarker(id, kind[1]);
        marked.push([id, kind[1]]);
      });
    });
  }

  // Wide processes fitted whole are too small to read: then open on the current task, readable.
  var READABLE_ZOOM = 0.75;

  function frame(process) {
    var canvas = viewer.get("canvas");
    var registry = viewer.get("elementRegistry");
    canvas.zoom("fit-viewport", "auto");
    var current = process.active.map(function (id) { return registry.get(id); })
      .filter(function (el) { return el && el.width; })
      .sort(function (a, b) { return a.width * a.height - b.width * b.height; })[0];
    if (!current || canvas.zoom() >= READABLE_ZOOM) return;
    var width = canvasEl.clientWidth / READABLE_ZOOM;
    var height = canvasEl.clientHeight / READABLE_ZOOM;
    canvas.viewbox({
      x: current.x + current.width / 2 - width / 2, y: current.y + current.height / 2 - height / 2,
      width: width, height: height
    });
  }

  // 缩放: zoom in/out around the centre, fit the whole process, or go back to the current task.
  var ZOOM_STEP = 1.25;
  var shown = null;

  function zoom(action) {
    var canvas = viewer.get("canvas");
    if (action === "fit") canvas.zoom("fit-viewport", "auto");
    else if (action === "current" && shown) frame(shown);
    else if (action === "in" || action === "out") {
      var factor = action === "in" ? ZOOM_STEP : 1 / ZOOM_STEP;
      canvas.zoom(canvas.zoom() * factor, { x: canvasEl.clientWidth / 2, y: canvasEl.clientHeight / 2 });
    }
    section.dataset.zoom = canvas.zoom().toFixed(2);
  }

  Array.prototype.forEach.call(section.querySelectorAll("[data-zoom]"), function (button) {
    button.addEventListener("click", function () { zoom(button.dataset.zoom); });
  });

  var imported = null;  // the XML on the canvas, and the markers drawn on it
  var marked = [];

  function unmark() {
    var canvas = viewer.get("canvas");
    marked.forEach(function (m) { canvas.removeMarker(m[0], m[1]); });
    marked = [];
  }

  function show(process, button) {
    shown = process;
    Array.prototype.forEach.call(tabs.children, function (b) { b.setAttribute("aria-selected", String(b === button)); });
    section.dataset.process = process.id;
    if (imported === process.xml) {  // the same diagram at another step: move the markers only
      unmark();
      mark(process);
      section.dataset.state = "ready";
      return Promise.resolve();
    }
    section.dataset.state = "loading";
    return viewer.importXML(process.xml).then(function () {
      imported = process.xml;
      marked = [];
      mark(process);
      frame(process);
      section.dataset.state = "ready";
    }).catch(function (err) { fail(section.dataset.msgError + ": " + err.message); });
  }

  // Draw the diagram data at ``url`` (the live case, or a history step): one tab per process, opened
  // on the innermost process holding a token (e.g. the whistle rather than the case).
  function load(url) {
    section.dataset.state = "loading";
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (resp) {
        if (!resp.ok) throw new Error("HTTP " + resp.status);
        return resp.json();
      })
      .then(function (data) {
        var current = 0;
        data.processes.forEach(function (process, index) { if (process.active.length) current = index; });
        tabs.textContent = "";
        var opened = null;
        data.processes.forEach(function (process, index) {
          var button = document.createElement("button");
          button.type = "button";
          button.setAttribute("role", "tab");
          button.dataset.process = process.id;
          button.textContent = process.name;
          button.addEventListener("click", function () { show(process, button); });
          tabs.appendChild(button);
          if (index === current) opened = show(process, button);
        });
        return opened;
      })
      .catch(function (err) { fail(section.dataset.msgError + ": " + err.message); });
  }

  window.WhistleDiagram = { load: load };
  load(section.dataset.diagramUrl);
})();
