// 编辑表单: a form's JSON Schema beside its preview, drawn by the server exactly as a task page
// draws it; a schema that is valid is saved as the admin's draft (debounced), one that is not
// says what is wrong and is not saved.
(function () {
  "use strict";
  var section = document.querySelector("[data-testid=form-editor]");
  if (!section) return;
  var source = section.querySelector("[data-testid=form-schema]");
  var preview = section.querySelector("[data-testid=form-preview]");
  var error = section.querySelector("[data-testid=form-error]");
  var status = section.querySelector("[data-testid=draft-status]");
  var token = document.querySelector('meta[name="csrf-token"]');
  var timer = null;
  var first = true;

  function post(url, fields) {
    var body = new FormData();
    body.append("csrf_token", token ? token.content : "");
    Object.keys(fields).forEach(function (k) { body.append(k, fields[k]); });
    return fetch(url, { method: "POST", body: body, credentials: "same-origin" });
  }

  function save(text) {
    return post(section.dataset.saveUrl, { version: section.dataset.version, file: section.dataset.file, text: text })
      .then(function (resp) {
        if (!resp.ok) throw new Error(resp.status + " " + resp.statusText);
        status.textContent = section.dataset.msgSaved + " " + new Date().toLocaleTimeString();
        section.dataset.saved = "yes";
      })
      .catch(function (err) {
        status.textContent = section.dataset.msgSaveFailed + ": " + err.message;
        section.dataset.saved = "error";
      });
  }

  function refresh() {
    var text = source.value;
    var store = !first;
    first = false;
    return post(section.dataset.previewUrl, { schema: text })
      .then(function (resp) { return resp.json(); })
      .then(function (data) {
        if (!data.ok) {
          error.textContent = data.error || data.message || "";
          error.hidden = false;
          section.dataset.state = "invalid";
          if (store) status.textContent = section.dataset.msgInvalid;
          return null;
        }
        error.hidden = true;
        preview.innerHTML = data.html;  // rendered and escaped by the server's form template
        section.dataset.state = "ready";
        return store ? save(text) : null;
      });
  }

  source.addEventListener("input", function () {
    section.dataset.saved = "pending";
    clearTimeout(timer);
    timer = setTimeout(refresh, 500);
  });
  refresh();
})();
