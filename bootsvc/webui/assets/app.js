// gitboot status page: live updates over Server-Sent Events (/events),
// filtering, sorting, ages and the timeline panel. The page works without it.
(function () {
  "use strict";
  var body = document.body;
  var interval = +body.dataset.interval || 60;
  var skew = (+body.dataset.now || Date.now()) - Date.now(); // server clock - ours
  var tbody = document.querySelector("#nodes tbody");
  var filter = document.getElementById("filter");
  var shown = document.getElementById("shown");
  var live = document.getElementById("live");
  var selected = new URLSearchParams(location.search).get("node") || "";
  var sortCol = -1, sortDir = 1;

  function matches(tr, q) {
    if (!q) return true;
    return (tr.cells[0].textContent + " " + tr.cells[1].textContent).toLowerCase().indexOf(q) >= 0;
  }
  var filtered = false; // some rows may be hidden
  function applyFilter() {
    var q = filter.value.trim().toLowerCase(), n = 0, rows = tbody.rows;
    if (!q && !filtered) { shown.textContent = rows.length + " nodes"; return; }
    filtered = !!q;
    for (var i = 0; i < rows.length; i++) {
      var ok = matches(rows[i], q);
      rows[i].hidden = !ok;
      if (ok) n++;
    }
    shown.textContent = q ? n + " of " + rows.length + " shown" : rows.length + " nodes";
  }
  filter.addEventListener("input", applyFilter);

  function key(tr, col, num) {
    var t = tr.cells[col].textContent;
    if (!num) return t;
    return t === "--" ? Infinity : +t;
  }
  function sortRows() {
    if (sortCol < 0) return;
    var num = !!document.querySelector('#nodes th[data-col="' + sortCol + '"]').dataset.num;
    var rows = Array.prototype.slice.call(tbody.rows);
    rows.sort(function (a, b) {
      var x = key(a, sortCol, num), y = key(b, sortCol, num);
      return (x < y ? -1 : x > y ? 1 : 0) * sortDir;
    });
    var frag = document.createDocumentFragment();
    rows.forEach(function (r) { frag.appendChild(r); });
    tbody.appendChild(frag);
  }
  document.querySelectorAll("#nodes th").forEach(function (th) {
    th.addEventListener("click", function () {
      var col = +th.dataset.col;
      sortDir = col === sortCol ? -sortDir : 1;
      sortCol = col;
      document.querySelectorAll("#nodes th").forEach(function (h) { h.classList.remove("asc", "desc"); });
      th.classList.add(sortDir > 0 ? "asc" : "desc");
      sortRows();
    });
  });

  // Ages tick every second from each row's last-seen time (server clock),
  // for the rows on screen only: an IntersectionObserver keeps that set, so
  // a 10,000-node table costs a screenful of updates a second.
  var visible = new Set();
  function age(tr, now) {
    var seen = +tr.dataset.seen;
    if (!seen) return;
    var a = Math.max(0, Math.floor((now - seen) / 1000));
    var cell = tr.cells[3], s = String(a);
    if (cell.textContent !== s) cell.textContent = s;
    var cls = a >= 2 * interval ? "lost" : a >= interval + 5 ? "late" : "";
    if (tr.className !== cls) tr.className = cls;
  }
  var io = window.IntersectionObserver ? new IntersectionObserver(function (entries) {
    var now = Date.now() + skew;
    entries.forEach(function (e) {
      if (e.isIntersecting) { visible.add(e.target); age(e.target, now); } else visible.delete(e.target);
    });
  }) : null;
  function watchRow(tr) { if (io) io.observe(tr); }
  function unwatchRow(tr) { if (io) { io.unobserve(tr); visible.delete(tr); } }
  function tick() {
    var now = Date.now() + skew;
    if (io) { visible.forEach(function (tr) { age(tr, now); }); return; }
    for (var i = 0; i < tbody.rows.length; i++) age(tbody.rows[i], now);
  }
  for (var r = 0; r < tbody.rows.length; r++) watchRow(tbody.rows[r]);
  setInterval(tick, 1000);

  // The timeline panel: a click on a node's name shows it without a reload.
  var panel = document.getElementById("timeline");
  function showTimeline(name, push) {
    selected = name;
    if (!name) { panel.innerHTML = ""; if (push) history.replaceState(null, "", "./"); return; }
    fetch("?node=" + encodeURIComponent(name) + "&part=timeline", { cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        panel.innerHTML = html;
        if (push) history.replaceState(null, "", "?node=" + encodeURIComponent(name) + "#timeline");
      })
      .catch(function () {});
  }
  tbody.addEventListener("click", function (e) {
    var a = e.target.closest("a");
    if (!a || e.button !== 0 || e.ctrlKey || e.metaKey) return;
    e.preventDefault();
    showTimeline(a.textContent, true);
  });
  panel.addEventListener("click", function (e) {
    if (e.target.classList.contains("close")) { e.preventDefault(); showTimeline("", true); }
  });

  var tpl = document.createElement("template");
  function setPart(id, html) {
    if (html) document.getElementById(id).innerHTML = html;
  }
  function onUpdate(e) {
    var d = JSON.parse(e.data);
    if (d.reload) { location.reload(); return; }
    if (d.now) skew = d.now - Date.now();
    setPart("hdr", d.header);
    setPart("counts", d.counts);
    setPart("hist", d.hist);
    setPart("unknown", d.unknown);
    var rows = d.rows || [], q = filter.value.trim().toLowerCase();
    for (var i = 0; i < rows.length; i++) {
      tpl.innerHTML = rows[i];
      var tr = tpl.content.firstElementChild;
      if (!tr) continue;
      var old = document.getElementById(tr.id);
      if (!old) continue;
      tr.hidden = !matches(tr, q);
      unwatchRow(old);
      old.replaceWith(tr);
      watchRow(tr);
    }
    if (rows.length && sortCol >= 0) sortRows();
    if (selected && (d.changed || []).indexOf(selected) >= 0) showTimeline(selected, false);
  }

  var opened = false;
  function connect() {
    if (!window.EventSource) return;
    var es = new EventSource("events");
    es.addEventListener("update", onUpdate);
    es.onopen = function () {
      if (opened) { location.reload(); return; } // missed updates while away
      opened = true;
      live.textContent = "live";
      live.classList.add("on");
    };
    es.onerror = function () {
      live.textContent = "reconnecting…";
      live.classList.remove("on");
    };
  }
  applyFilter();
  connect();
})();
