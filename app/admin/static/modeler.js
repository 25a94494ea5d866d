// 编辑流程图: the bpmn-js Modeler on an admin's draft; every change is saved to the server (debounced),
// so a reload loses nothing.
(function () {
  "use strict";
  var section = document.querySelector("[data-testid=modeler]");
  if (!section) return;
  var status = section.querySelector(".draft-status");
  var message = section.querySelector(".diagram-message");
  var token = document.querySelector('meta[name="csrf-token"]');

  function fail(text) {
    message.textContent = text;
    message.hidden = false;
    section.dataset.state = "error";
  }

  if (typeof window.BpmnJS === "undefined") {
    fail(section.dataset.msgMissing);
    return;
  }
  var modeler = new window.BpmnJS({
    container: section.querySelector(".modeler-canvas"),
    keyboard: { bindTo: document },
    additionalModules: window.WhistleModelerModules || [],  // Chinese tool labels (modeler-zh.js)
    moddleExtensions: window.WhistleSpiffModdle ? { spiffworkflow: window.WhistleSpiffModdle } : {}
  });
  var timer = null;
  section.modeler = modeler;  // for the browser test, which edits through the modeler's own API

  function save() {
    return modeler.saveXML({ format: true }).then(function (result) {
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
      section.dispatchEvent(new CustomEvent("draft:saved"));  // the check runs again (modeler-check.js)
    }).catch(function (err) {
      status.textContent = section.dataset.msgSaveFailed + ": " + err.message;
      section.dataset.saved = "error";
    });
  }

  modeler.on("commandStack.changed", function () {
    section.dataset.saved = "pending";
    clearTimeout(timer);
    timer = setTimeout(save, 800);
  });
  modeler.importXML(section.querySelector(".draft-source").value)
    .then(function () {
      modeler.get("canvas").zoom("fit-viewport", "auto");
      section.dataset.state = "ready";
      section.dispatchEvent(new CustomEvent("modeler:ready"));
    })
    .catch(function (err) { fail(section.dataset.msgError + ": " + err.message); });
})();
