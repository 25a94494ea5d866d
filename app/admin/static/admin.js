// 流程文件: draw a version's BPMN file with the bpmn-js viewer (pan and zoom only), fitted to the view.
(function () {
  "use strict";
  var section = document.querySelector("[data-bpmn-url]");
  if (!section) return;
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
  var viewer = new window.BpmnJS({ container: section.querySelector(".diagram-canvas") });
  fetch(section.dataset.bpmnUrl, { credentials: "same-origin" })
    .then(function (resp) {
      if (!resp.ok) throw new Error(resp.status + " " + resp.statusText);
      return resp.text();
    })
    .then(function (xml) { return viewer.importXML(xml); })
    .then(function () {
      viewer.get("canvas").zoom("fit-viewport", "auto");
      section.dataset.state = "ready";
    })
    .catch(function (err) { fail(section.dataset.msgError + ": " + err.message); });
})();
