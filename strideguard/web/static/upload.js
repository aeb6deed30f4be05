// Strideguard upload page: drag and drop many files, one request per file (so each file has
// its own progress bar), then poll the job until its findings are ready. Every name coming
// from a file or the server is set with textContent, never as HTML.
(function () {
  "use strict";
  var zone = document.getElementById("dropzone");
  var input = document.getElementById("files");
  var list = document.getElementById("uploads");
  var done = document.getElementById("done");
  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.getAttribute("content") : "";
  var queue = [];
  var active = 0;
  var pending = 0;
  var CONCURRENCY = 2;

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function addRow(file) {
    var li = el("li", "upload");
    li.appendChild(el("div", "name", file.name));
    var bar = el("progress");
    bar.max = 100;
    bar.value = 0;
    li.appendChild(bar);
    var status = el("div", "result", "waiting");
    li.appendChild(status);
    list.appendChild(li);
    return { li: li, bar: bar, status: status };
  }

  function showFiles(row, job) {
    row.status.textContent = "";
    job.files.forEach(function (f) {
      var line = el("div", "status-" + f.status);
      line.textContent = f.name + ": " + f.status + (f.error ? " (" + f.error + ")" : "");
      row.status.appendChild(line);
    });
    if (job.status === "failed" && job.error) {
      row.status.appendChild(el("div", "status-failed", job.error));
    }
    if (job.findings_ready) {
      row.status.appendChild(el("div", "findings-ready", "Findings ready: " + job.findings + "."));
    }
  }

  function finish() {
    pending -= 1;
    active -= 1;
    if (pending === 0) done.hidden = false;
    next();
  }

  function poll(row, id) {
    fetch("/api/uploads/" + encodeURIComponent(id), { credentials: "same-origin" })
      .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
      .then(function (res) {
        if (!res.ok) { row.status.textContent = res.body.detail || "Could not read the upload status."; finish(); return; }
        var job = res.body;
        if (job.status === "done" || job.status === "failed") { showFiles(row, job); row.li.dataset.state = job.status; finish(); }
        else { row.status.textContent = job.status === "running" ? "importing…" : "queued…"; setTimeout(function () { poll(row, id); }, 600); }
      })
      .catch(function () { row.status.textContent = "Lost contact with the server."; finish(); });
  }

  function send(item) {
    active += 1;
    var row = item.row;
    var xhr = new XMLHttpRequest();
    var form = new FormData();
    form.append("files", item.file, item.file.name);
    xhr.open("POST", "/api/uploads");
    xhr.setRequestHeader("X-CSRF-Token", csrf);
    xhr.upload.onprogress = function (e) {
      if (e.lengthComputable) row.bar.value = Math.round((100 * e.loaded) / e.total);
      row.status.textContent = "uploading…";
    };
    xhr.onload = function () {
      row.bar.value = 100;
      var body = {};
      try { body = JSON.parse(xhr.responseText); } catch (err) { body = {}; }
      if (xhr.status === 202) { row.status.textContent = "received"; poll(row, body.id); }
      else { row.status.textContent = body.detail || ("Upload failed (" + xhr.status + ")."); row.status.className = "result status-failed"; finish(); }
    };
    xhr.onerror = function () { row.status.textContent = "The upload failed: network error."; finish(); };
    xhr.send(form);
  }

  function next() {
    while (active < CONCURRENCY && queue.length) send(queue.shift());
  }

  function add(files) {
    done.hidden = true;
    Array.prototype.forEach.call(files, function (file) {
      pending += 1;
      queue.push({ file: file, row: addRow(file) });
    });
    next();
  }

  input.addEventListener("change", function () { add(input.files); input.value = ""; });
  ["dragenter", "dragover"].forEach(function (name) {
    zone.addEventListener(name, function (e) { e.preventDefault(); zone.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (name) {
    zone.addEventListener(name, function (e) { e.preventDefault(); zone.classList.remove("over"); });
  });
  zone.addEventListener("drop", function (e) { if (e.dataTransfer) add(e.dataTransfer.files); });
}());
