// 编辑流程图: the bpmn-js Modeler on an admin's draft (saving: draft-editor.js).
(function () {
  "use strict";
  window.WhistleDraftEditor({
    selector: "[data-testid=modeler]",
    library: "BpmnJS",
    create: function (section, BpmnJS) {
      var modeler = new BpmnJS({
        container: section.querySelector(".modeler-canvas"),
        keyboard: { bindTo: document },
        additionalModules: window.WhistleModelerModules || [],  // Chinese tool labels (modeler-zh.js)
        moddleExtensions: window.WhistleSpiffModdle ? { spiffworkflow: window.WhistleSpiffModdle } : {}
      });
      section.modeler = modeler;  // for the browser test, which edits through the modeler's own API
      return modeler;
    },
    watch: function (modeler, changed) { modeler.on("commandStack.changed", changed); },
    load: function (modeler, xml, section) {
      return modeler.importXML(xml).then(function () {
        modeler.get("canvas").zoom("fit-viewport", "auto");
        section.dataset.state = "ready";
        section.dispatchEvent(new CustomEvent("modeler:ready"));
      });
    },
    saved: function (section) {
      section.dispatchEvent(new CustomEvent("draft:saved"));  // the check runs again (modeler-check.js)
    }
  });
})();
