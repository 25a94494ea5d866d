// 流程文件 and 版本比较: draw a version's BPMN file with the bpmn-js viewer (pan and zoom only), and
// the two sides of a compared BPMN file with the added, removed, changed and moved elements marked.
(function () {
  "use strict";

  function fetchText(url) {
    return fetch(url, { credentials: "same-origin" }).then(function (resp) {
      if (!resp.ok) throw new Error(resp.status + " " + resp.statusText);
      return resp.text();
    });
  }

  function fail(section, text) {
    var message = section.querySelector(".diagram-message");
    message.textContent = text;
    message.hidden = false;
    section.dataset.state = "error";
  }

  function draw(container, url, marks) {
    var viewer = new window.BpmnJS({ container: container });
    return fetchText(url)
      .then(function (xml) { return viewer.importXML(xml); })
      .then(function () {
        var canvas = viewer.get("canvas");
        var registry = viewer.get("elementRegistry");
        Object.keys(marks).forEach(function (marker) {
          marks[marker].forEach(function (id) { if (registry.get(id)) canvas.addMarker(id, marker); });
        });
        canvas.zoom("fit-viewport", "auto");
        focus(canvas, container, [].concat.apply([], Object.keys(marks).map(function (m) { return marks[m]; }))
          .map(function (id) { return registry.get(id); }).filter(function (el) { return el && el.width; }));
      });
  }

  // A wide process fitted whole is too small to read: then open on the first marked element.
  var READABLE_ZOOM = 0.75;

  function focus(canvas, container, elements) {
    if (!elements.length || canvas.zoom() >= READABLE_ZOOM) return;
    var el = elements[0];
    var width = container.clientWidth / READABLE_ZOOM;
    var height = container.clientHeight / READABLE_ZOOM;
    canvas.viewbox({ x: el.x + el.width / 2 - width / 2, y: el.y + el.height / 2 - height / 2, width: width, height: height });
  }

  function ids(section, key) {
    return (section.dataset[key] || "").split(" ").filter(Boolean);
  }

  var sections = document.querySelectorAll("[data-bpmn-url], [data-old-url]");
  if (!sections.length) return;
  Array.prototype.forEach.call(sections, function (section) {
    if (typeof window.BpmnJS === "undefined") {
      fail(section, section.dataset.msgMissing);
      return;
    }
    var done;
    if (section.dataset.bpmnUrl) {
      done = draw(section.querySelector(".diagram-canvas"), section.dataset.bpmnUrl, {});
    } else {
      var changed = ids(section, "changed");
      var moved = ids(section, "moved");
      done = Promise.all([
        draw(section.querySelector(".diff-old"), section.dataset.oldUrl,
             { "diff-removed": ids(section, "removed"), "diff-changed": changed, "diff-moved": moved }),
        draw(section.querySelector(".diff-new"), section.dataset.newUrl,
             { "diff-added": ids(section, "added"), "diff-changed": changed, "diff-moved": moved })
      ]);
    }
    done.then(function () { section.dataset.state = "ready"; })
      .catch(function (err) { fail(section, section.dataset.msgError + ": " + err.message); });
  });
})();
