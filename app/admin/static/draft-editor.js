// 草稿编辑器: what the diagram modeler (modeler.js) and the decision-table editor (dmn-editor.js)
// share — the page's section, its error line, the draft saved to the server after every change
// (debounced, so a reload loses nothing). Each editor gives how to build, watch and load its widget.
(function () {
  "use strict";

  // spec: {selector, library (the global the widget's bundle defines), create(section, Library),
  //        watch(editor, changed), load(editor, xml, section) -> Promise, saved(section) (optional)}
  window.WhistleDraftEditor = function (spec) {
    var section = document.querySelector(spec.selector);
    if (!section) return null;
    var status = section.querySelector(".draft-status");
    var message = section.querySelector(".diagram-message");
    var timer = null;

    function fail(text) {
      message.textContent = text;
      message.hidden = false;
      section.dataset.state = "error";
    }

    function save(editor) {
      return editor.saveXML({ format: true }).then(function (result) {
        return window.WhistleDraftEditor.post(section.dataset.saveUrl, section, result.xml);
      }).then(function (resp) {
        if (!resp.ok) throw new Error(resp.status + " " + resp.statusText);
        status.textContent = section.dataset.msgSaved + " " + new Date().toLocaleTimeString();
        section.dataset.saved = "yes";
        if (spec.saved) spec.saved(section);
      }).catch(function (err) {
        status.textContent = section.dataset.msgSaveFailed + ": " + err.message;
        section.dataset.saved = "error";
      });
    }

    var Library = window[spec.library];
    if (typeof Library === "undefined") {
      fail(section.dataset.msgMissing);
      return null;
    }
    var editor = spec.create(section, Library);
    spec.watch(editor, function changed() {
      section.dataset.saved = "pending";
      clearTimeout(timer);
      timer = setTimeout(function () { save(editor); }, 800);
    });
    spec.load(editor, section.querySelector(".draft-source").value, section)
      .catch(function (err) { fail(section.dataset.msgError + ": " + err.message); });
    return editor;
  };

  // POST a draft's text (the section's version and file, the page's CSRF token) to a URL: the save
  // here and the check as you edit (modeler-check.js).
  window.WhistleDraftEditor.post = function (url, section, text) {
    var token = document.querySelector('meta[name="csrf-token"]');
    var body = new FormData();
    body.append("csrf_token", token ? token.content : "");
    body.append("version", section.dataset.version);
    body.append("file", section.dataset.file);
    body.append("text", text);
    return fetch(url, { method: "POST", body: body, credentials: "same-origin" });
  };
})();
