// 编辑决策表: the dmn-js Modeler on an admin's draft of a .dmn file (saving: draft-editor.js).
(function () {
  "use strict";
  window.WhistleDraftEditor({
    selector: "[data-testid=dmn-editor]",
    library: "DmnJS",
    create: function (section, DmnJS) {
      var editor = new DmnJS({
        container: section.querySelector(".dmn-canvas"),
        keyboard: { bindTo: window },
        common: { additionalModules: window.WhistleModelerModules || [] }  // Chinese labels (modeler-zh.js)
      });
      section.editor = editor;  // for the browser test
      return editor;
    },
    watch: function (editor, changed) {
      editor.on("views.changed", function () {
        var viewer = editor.getActiveViewer();
        if (viewer && !viewer.__whistleWatched) {
          viewer.__whistleWatched = true;
          viewer.on("commandStack.changed", changed);
        }
      });
    },
    load: function (editor, xml, section) {
      return editor.importXML(xml)
        .then(function () {
          var table = editor.getViews().filter(function (v) { return v.type === "decisionTable"; })[0];
          if (table) return editor.open(table);
        })
        .then(function () { section.dataset.state = "ready"; });
    }
  });
})();
