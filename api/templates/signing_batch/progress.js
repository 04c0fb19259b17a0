// Polls the batch's status every two seconds and updates the progress view; reloads the
// page once the batch has ended, so the server renders the download link. Without this
// script the page offers a refresh link instead.
(function () {
  "use strict";
  var root = document.getElementById("batch");
  if (!root) { return; }
  function poll() {
    fetch(root.dataset.statusUrl, {credentials: "same-origin", cache: "no-store"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) {
        if (!s) { return; }
        document.getElementById("progress").value = s.done;
        document.getElementById("count").textContent = s.count_text;
        s.files.forEach(function (f, i) {
          var cell = document.querySelector("#file-" + i + " .file-state");
          if (cell) { cell.textContent = f.label + (f.reason ? ": " + f.reason : ""); }
        });
        if (s.state !== "running") { window.location.reload(); } else { setTimeout(poll, 2000); }
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 1000);
}());
