// gitboot status page: live updates over Server-Sent Events (/events),
// filtering, sorting, ages and the timeline panel. The page works without it.
//
// The node table may have 10,000 rows in <tbody> chunks of 100 (row.go),
// which the browser lays out only while on screen. So nothing here touches
// every row at load: one listener per table (event delegation), ages tick
// for the chunks on screen, the filter's index (name and stage of each row)
// is built when the browser is idle or at the first filter, and updates
// from the server are applied once a frame, changing only the cells that
// differ.
(function () {
  "use strict";
  var ROW = 24; // px, a row's height: style.css (#nodes td), rowPx in row.go
  var body = document.body;
  var interval = +body.dataset.interval || 60;
  var skew = (+body.dataset.now || Date.now()) - Date.now(); // server clock - ours
  var table = document.getElementById("nodes");
  var chunks = Array.prototype.slice.call(table.tBodies);
  var sizes = chunks.map(function (c) { return c.rows.length; }); // rows per chunk, kept by sorting
  var total = sizes.reduce(function (a, b) { return a + b; }, 0);
  var filter = document.getElementById("filter");
  var shown = document.getElementById("shown");
  var live = document.getElementById("live");
  var selected = new URLSearchParams(location.search).get("node") || "";
  var sortCol = -1, sortDir = 1, query = "";

  // The index: one entry per row in table order, {tr, key, c (its chunk),
  // hid (hidden by the filter)}, and byId from a row's id to its entry.
  var index = null, byId = null;
  function keyOf(tr) {
    return (tr.cells[0].textContent + " " + tr.cells[1].textContent).toLowerCase();
  }
  function buildIndex() {
    if (index) return;
    index = [];
    byId = new Map();
    for (var c = 0; c < chunks.length; c++) {
      var rows = chunks[c].rows;
      for (var i = 0; i < rows.length; i++) {
        var e = { tr: rows[i], key: keyOf(rows[i]), c: c, hid: rows[i].hidden };
        index.push(e);
        byId.set(rows[i].id, e);
      }
    }
  }
  function matches(e) { return !query || e.key.indexOf(query) >= 0; }

  // sizeChunks hides the chunks with no row shown and gives the others the
  // placeholder height of the rows they show.
  function sizeChunks() {
    var n = chunks.map(function () { return 0; }), shownRows = 0;
    for (var i = 0; i < index.length; i++) {
      if (!index[i].hid) { n[index[i].c]++; shownRows++; }
    }
    for (var c = 0; c < chunks.length; c++) {
      var h = n[c] * ROW + "px";
      if (chunks[c].hidden !== !n[c]) chunks[c].hidden = !n[c];
      if (chunks[c].style.containIntrinsicSize !== h) chunks[c].style.containIntrinsicSize = h;
    }
    shown.textContent = query ? shownRows + " of " + total + " shown" : total + " nodes";
  }
  // show sets whether an entry's row passes the filter; true if that changed.
  function show(e) {
    var hid = !matches(e);
    if (e.hid === hid) return false;
    e.hid = hid;
    e.tr.hidden = hid;
    return true;
  }
  function applyFilter() {
    var q = filter.value.trim().toLowerCase();
    if (q === query) return;
    query = q;
    buildIndex();
    for (var i = 0; i < index.length; i++) show(index[i]);
    sizeChunks();
  }
  filter.addEventListener("input", applyFilter);

  function sortKey(tr, col, num) {
    var t = tr.cells[col].textContent;
    if (!num) return t;
    return t === "--" ? Infinity : +t;
  }
  // sortRows orders the rows by the sorted column and deals them out to the
  // chunks, each keeping its number of rows.
  function sortRows() {
    if (sortCol < 0) return;
    buildIndex();
    var num = !!table.tHead.rows[0].cells[sortCol].dataset.num, col = sortCol, dir = sortDir;
    var keyed = index.map(function (e, i) { return { e: e, k: sortKey(e.tr, col, num), i: i }; });
    keyed.sort(function (a, b) {
      return (a.k < b.k ? -1 : a.k > b.k ? 1 : 0) * dir || a.i - b.i;
    });
    var pos = 0;
    for (var c = 0; c < chunks.length; c++) {
      var frag = document.createDocumentFragment();
      for (var j = 0; j < sizes[c]; j++, pos++) {
        var e = keyed[pos].e;
        e.c = c;
        index[pos] = e;
        frag.appendChild(e.tr);
      }
      chunks[c].appendChild(frag);
    }
    sizeChunks();
  }
  table.tHead.addEventListener("click", function (ev) {
    var th = ev.target.closest("th");
    if (!th) return;
    var col = +th.dataset.col;
    sortDir = col === sortCol ? -sortDir : 1;
    sortCol = col;
    var ths = table.tHead.rows[0].cells;
    for (var i = 0; i < ths.length; i++) ths[i].classList.remove("asc", "desc");
    th.classList.add(sortDir > 0 ? "asc" : "desc");
    sortRows();
  });

  // Ages tick every second from each row's last-seen time (server clock),
  // for the chunks on screen only (an IntersectionObserver keeps that set):
  // a 10,000-node table costs a chunk or two of updates a second.
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
  function ageChunk(c, now) {
    for (var i = 0, rows = c.rows; i < rows.length; i++) age(rows[i], now);
  }
  var io = window.IntersectionObserver ? new IntersectionObserver(function (entries) {
    var now = Date.now() + skew;
    entries.forEach(function (e) {
      if (e.isIntersecting) { visible.add(e.target); ageChunk(e.target, now); } else visible.delete(e.target);
    });
  }) : null;
  if (io) chunks.forEach(function (c) { io.observe(c); });
  setInterval(function () {
    var now = Date.now() + skew;
    (io ? visible : chunks).forEach(function (c) { ageChunk(c, now); });
  }, 1000);

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
  table.addEventListener("click", function (e) {
    var a = e.target.closest("tbody a");
    if (!a || e.button !== 0 || e.ctrlKey || e.metaKey) return;
    e.preventDefault();
    showTimeline(a.textContent, true);
  });
  panel.addEventListener("click", function (e) {
    if (e.target.classList.contains("close")) { e.preventDefault(); showTimeline("", true); }
  });

  // Updates: each message is merged into pending (the newest row of a node
  // and part wins) and pending is applied once, in the next frame.
  var PARTS = { header: "hdr", counts: "counts", hist: "hist", unknown: "unknown" };
  var pending = null;
  function onUpdate(ev) {
    var d = JSON.parse(ev.data);
    if (d.reload) { location.reload(); return; }
    if (d.now) skew = d.now - Date.now();
    if (!pending) {
      pending = { parts: {}, rows: new Map(), timeline: false };
      requestAnimationFrame(flush);
    }
    for (var k in PARTS) if (d[k]) pending.parts[k] = d[k];
    var rows = d.rows || [], names = d.changed || [];
    for (var i = 0; i < rows.length; i++) {
      pending.rows.set(names[i], rows[i]);
      if (names[i] === selected) pending.timeline = true;
    }
  }
  // patch makes row old like row tr, touching only what differs; it
  // returns the set of cells changed, a bit each.
  function patch(old, tr) {
    if (old.className !== tr.className) old.className = tr.className;
    if (old.dataset.seen !== tr.dataset.seen) old.dataset.seen = tr.dataset.seen;
    var changed = 0;
    for (var c = 0; c < tr.cells.length && c < old.cells.length; c++) {
      var html = tr.cells[c].innerHTML;
      if (old.cells[c].innerHTML !== html) { old.cells[c].innerHTML = html; changed |= 1 << c; }
    }
    return changed;
  }
  var tpl = document.createElement("template");
  function flush() {
    var p = pending;
    pending = null;
    for (var k in p.parts) document.getElementById(PARTS[k]).innerHTML = p.parts[k];
    if (p.rows.size) {
      tpl.innerHTML = Array.from(p.rows.values()).join("");
      var fresh = tpl.content.children, refilter = false, resort = false;
      for (var i = 0; i < fresh.length; i++) {
        var old = document.getElementById(fresh[i].id);
        if (!old || old.tagName !== "TR") continue;
        var cells = patch(old, fresh[i]);
        if (sortCol >= 0 && cells & (1 << sortCol)) resort = true;
        var e = byId && byId.get(old.id);
        if (e) {
          e.key = keyOf(old);
          if (show(e)) refilter = true;
        }
      }
      tpl.innerHTML = "";
      if (resort) sortRows(); // sizes the chunks too
      else if (refilter) sizeChunks();
    }
    if (p.timeline) showTimeline(selected, false);
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
  shown.textContent = total + " nodes";
  connect();
  // The filter's index, before anyone types.
  if (window.requestIdleCallback) requestIdleCallback(buildIndex, { timeout: 10000 });
})();
