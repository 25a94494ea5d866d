// 编辑决策表: the dmn-js Modeler on an admin's draft of a .dmn file; every change is saved to the
// server (debounced), so a reload loses nothing.
(function () {
  "use strict";
  var section = document.querySelector("[data-testid=dmn-editor]");
  if (!section) return;
  var status = section.querySelector(".draft-status");
  var message = section.querySelector(".diagram-message");
  var token = document.querySelector('meta[name="csrf-token"]');

  function fail(text) {
    message.textContent = text;
    message.hidden = false;
    section.dataset.state = "error";
  }

  if (typeof window.DmnJS === "undefined") {
    fail(section.dataset.msgMissing);
    return;
  }
  var modules = window.WhistleModelerModules || [];  // Chinese labels (modeler-zh.js)
  var editor = new window.DmnJS({
    container: section.querySelector(".dmn-canvas"),
    keyboard: { bindTo: window },
    common: { additionalModules: modules }
  });
  var timer = null;
  section.editor = editor;  // for the browser test

  function save() {
    return editor.saveXML({ format: true }).then(function (result) {
      var body = new FormData();
      body.append("csrf_token", token ? token.content : "");
      body.append("version", section.dataset.version);
      body.append("file", section.dataset.file);
      body.append("text", result.xml);
      return fetch(section.dataset.saveUrl, { method: "POST", body: body, credentials: "same-origin" });
    }).then(function (resp) {
      if (!resp.ok) throw new Error(resp.status + " " + resp.statusText);
      status.textContent = section.dataset.msgSaved + " " + new Date().toLocaleTimeString();
      section.dataset.saved = "yes";
    }).catch(function (err) {
      status.textContent = section.dataset.msgSaveFailed + ": " + err.message;
      section.dataset.saved = "error";
    });
  }

  function changed() {
    section.dataset.saved = "pending";
    clearTimeout(timer);
    timer = setTimeout(save, 800);
  }

  editor.on("views.changed", function () {
    var viewer = editor.getActiveViewer();
    if (viewer && !viewer.__whistleWatched) {
      viewer.__whistleWatched = true;
      viewer.on("commandStack.changed", changed);
    }
  });
  editor.importXML(section.querySelector(".draft-source").value)
    .then(function () {
      var table = editor.getViews().filter(function (v) { return v.type === "decisionTable"; })[0];
      if (table) return editor.open(table);
    })
    .then(function () { section.dataset.state = "ready"; })
    .catch(function (err) { fail(section.dataset.msgError + ": " + err.message); });
})();
