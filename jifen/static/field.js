/* The grid worker's offline capture (issue 14; docs/decisions.md, "Issue 14: offline capture").
   The phone keeps, in IndexedDB: the grid's households and the rules in force ("meta": data), the
   form being filled in ("meta": draft) and the queue of captured records ("queue"), each with its
   own Idempotency-Key and its photos as Blobs. The queue is sent, oldest first, whenever the
   network is there (on load, on "online", after each capture); an answer of 201 marks a record
   sent, a refusal keeps it with the reasons by field to fix and send again. A record whose answer
   was lost (page closed mid-sync) is still waiting and goes again with the same key: the server
   answers the stored answer, so it is recorded once. The store belongs to one user: another user's
   page wipes it (and signing out clears it, Clear-Site-Data). */
(function () {
  "use strict";
  var root = document.getElementById("field-app");
  if (!root || !window.indexedDB) return;
  var T = JSON.parse(document.getElementById("fd-text").textContent);
  var form = document.getElementById("fd-form");
  var DB = "jifen-field", db = null, data = null, csrf = null, syncing = false, editing = null;

  function $(id) { return document.getElementById(id); }
  function fmt(s, v) { return s.replace(/\{(\w+)\}/g, function (_m, k) { return v[k]; }); }
  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return "k" + Date.now().toString(36) + Math.random().toString(36).slice(2);
  }

  // --- IndexedDB ------------------------------------------------------------------------------------
  function open() {
    return new Promise(function (resolve, reject) {
      var req = indexedDB.open(DB, 1);
      req.onupgradeneeded = function () {
        req.result.createObjectStore("meta");
        req.result.createObjectStore("queue", { keyPath: "id" });
      };
      req.onsuccess = function () { resolve(req.result); };
      req.onerror = function () { reject(req.error); };
    });
  }
  function tx(store, mode, fn) {
    return new Promise(function (resolve, reject) {
      var t = db.transaction(store, mode), out;
      var req = fn(t.objectStore(store));
      if (req) req.onsuccess = function () { out = req.result; };
      t.oncomplete = function () { resolve(out); };
      t.onerror = t.onabort = function () { reject(t.error); };
    });
  }
  function getMeta(k) { return tx("meta", "readonly", function (s) { return s.get(k); }); }
  function setMeta(k, v) { return tx("meta", "readwrite", function (s) { return s.put(v, k); }); }
  function allQueued() {
    return tx("queue", "readonly", function (s) { return s.getAll(); }).then(function (rows) {
      return rows.sort(function (a, b) { return a.created - b.created; });
    });
  }
  function putQueued(row) { return tx("queue", "readwrite", function (s) { return s.put(row); }); }
  function dropQueued(id) { return tx("queue", "readwrite", function (s) { return s.delete(id); }); }
  function wipe() {
    return Promise.all([tx("meta", "readwrite", function (s) { return s.clear(); }),
                        tx("queue", "readwrite", function (s) { return s.clear(); })]);
  }

  // --- the kept data and the form -------------------------------------------------------------------
  function household(id) { return data && data.households.filter(function (h) { return h.id === id; })[0]; }
  function village(id) { return data && data.villages.filter(function (v) { return v.id === id; })[0]; }
  function kind() { return form.elements.kind.value; }

  function option(select, value, label) {
    var o = document.createElement("option");
    o.value = value; o.textContent = label; select.appendChild(o);
    return o;
  }

  function fillHouseholds() {
    var sel = form.elements.household_id, keep = sel.value;
    sel.textContent = "";
    option(sel, "", T.choose);
    (data ? data.households : []).forEach(function (h) { option(sel, h.id, h.head_name + " " + h.door_plate); });
    sel.value = keep;
  }

  function fillItems() {
    var sel = form.elements.item_id, keep = sel.value, h = household(form.elements.household_id.value);
    var v = h && village(h.village_id);
    sel.textContent = "";
    option(sel, "", T.choose);
    (v ? v.items : []).forEach(function (it) {
      if (kind() === "proxy" && !it.household_applies) return;
      var sign = it.direction === "award" ? "+" : "−";
      option(sel, it.id, it.title + " (" + sign + it.points + ")" + (it.photo_needed ? " · " + T.photo_needed : ""));
    });
    sel.value = keep;
    $("fd-points-field").hidden = kind() === "proxy";
  }

  function showKept() {
    $("fd-kept").textContent = data ? fmt(T.kept, { households: data.households.length,
                                                    villages: data.villages.length, day: data.today }) : T.no_data;
    if (data && !form.elements.occurred_on.value) form.elements.occurred_on.value = data.today;
  }

  function draftOf() {
    var f = form.elements;
    return { kind: kind(), household_id: f.household_id.value, item_id: f.item_id.value, points: f.points.value,
             occurred_on: f.occurred_on.value, description: f.description.value };
  }
  function restore(d) {
    var f = form.elements;
    f.kind.value = d.kind || "record";
    f.household_id.value = d.household_id || "";
    fillItems();
    f.item_id.value = d.item_id || "";
    f.points.value = d.points || "";
    f.occurred_on.value = d.occurred_on || (data ? data.today : "");
    f.description.value = d.description || "";
  }

  function fieldErrors(errors) {
    form.querySelectorAll("[data-error]").forEach(function (p) {
      var msgs = (errors || {})[p.getAttribute("data-error")];
      p.textContent = msgs ? msgs.join(" ") : "";
      p.closest(".field").classList.toggle("has-error", !!msgs);
    });
  }

  // --- the queue ------------------------------------------------------------------------------------
  function label(row) {
    return (row.kind === "proxy" ? T.proxy : T.record) + " · " + row.household_label + " · " + row.item_label +
      " · " + row.occurred_on + (row.photos && row.photos.length ? " · 📷" + row.photos.length : "");
  }

  function button(text, fn) {
    var b = document.createElement("button");
    b.type = "button"; b.className = "link"; b.textContent = text;
    b.addEventListener("click", fn);
    return b;
  }

  function render() {
    return allQueued().then(function (rows) {
      var lists = { waiting: $("fd-waiting"), refused: $("fd-refused"), sent: $("fd-sent") };
      var n = { waiting: 0, refused: 0, sent: 0 };
      Object.keys(lists).forEach(function (k) { lists[k].textContent = ""; });
      rows.slice().reverse().forEach(function (row) {
        var li = document.createElement("li");
        li.className = "card fd-row fd-" + row.state;
        li.setAttribute("data-state", row.state);
        var p = document.createElement("p");
        p.textContent = label(row);
        li.appendChild(p);
        if (row.description) { var d = document.createElement("p"); d.className = "hint"; d.textContent = row.description; li.appendChild(d); }
        if (row.state === "refused") {
          var ul = document.createElement("ul");
          ul.className = "fd-reasons";
          var errors = row.errors || {}, names = Object.keys(errors);
          if (!names.length) names = [""];
          names.forEach(function (name) {
            var r = document.createElement("li");
            r.className = "error";
            r.textContent = (name ? (T.fields[name] || name) + ": " + errors[name].join(" ") : row.message || "");
            ul.appendChild(r);
          });
          li.appendChild(ul);
          li.appendChild(button(T.fix, function () { edit(row); }));
          li.appendChild(button(T.resend, function () { requeue(row); }));
          li.appendChild(button(T.delete, function () { if (confirm(T.confirm_delete)) dropQueued(row.id).then(render); }));
        } else if (row.state === "sent" && row.url) {
          var a = document.createElement("a");
          a.href = row.url; a.textContent = T.open + (row.state_label ? " (" + row.state_label + ")" : "");
          li.appendChild(a);
        }
        n[row.state] += 1;
        lists[row.state].appendChild(li);
      });
      Object.keys(n).forEach(function (k) { $("fd-n-" + k).textContent = n[k]; });
    });
  }

  function edit(row) {
    editing = row;
    restore(row);
    fieldErrors(row.errors);
    form.scrollIntoView({ behavior: "smooth" });
  }

  function requeue(row) {
    row.state = "waiting"; row.key = uuid(); row.errors = null; row.message = "";
    return putQueued(row).then(render).then(sync);
  }

  function capture(e) {
    e.preventDefault();
    var d = draftOf(), errors = {};
    if (!d.household_id) errors.household_id = [T.need_household];
    if (!d.item_id) errors.item_id = [T.need_item];
    fieldErrors(errors);
    if (Object.keys(errors).length) return;
    var h = household(d.household_id), v = h && village(h.village_id);
    var it = v && v.items.filter(function (i) { return i.id === d.item_id; })[0];
    var chosen = Array.prototype.slice.call(form.elements.photos.files || []);
    Promise.all(chosen.map(shrink)).then(function (photos) { keep(d, h, it, chosen, photos); });
  }

  var EDGE = 1280, QUALITY = 0.8;

  function shrink(file) {
    /* A phone photo of several MB goes up at most 1280 px, JPEG 0.8 (as the pages do, jifen.js);
       a browser that can't keeps the file as it is and the server shrinks it. */
    if (!window.createImageBitmap || !HTMLCanvasElement.prototype.toBlob) return Promise.resolve(file);
    return createImageBitmap(file).then(function (img) {
      var scale = Math.min(1, EDGE / Math.max(img.width, img.height));
      var canvas = document.createElement("canvas");
      canvas.width = Math.round(img.width * scale); canvas.height = Math.round(img.height * scale);
      canvas.getContext("2d").drawImage(img, 0, 0, canvas.width, canvas.height);
      return new Promise(function (resolve) {
        canvas.toBlob(function (blob) { resolve(blob || file); }, "image/jpeg", QUALITY);
      });
    }, function () { return file; });
  }

  function keep(d, h, it, chosen, photos) {
    var row = editing || { id: uuid(), created: Date.now(), photos: [] };
    Object.keys(d).forEach(function (k) { row[k] = d[k]; });
    if (row.kind === "proxy") row.points = "";
    row.household_label = h ? h.head_name + " " + h.door_plate : "";
    row.item_label = it ? it.title : "";
    if (chosen.length) row.photos = photos.map(function (f) { return new Blob([f], { type: f.type }); });
    row.photo_names = chosen.length ? chosen.map(function (f) { return f.name.replace(/\.\w+$/, "") + ".jpg"; })
                                    : (row.photo_names || []);
    row.state = "waiting"; row.key = uuid(); row.errors = null; row.message = "";
    editing = null;
    putQueued(row).then(function () {
      form.elements.description.value = ""; form.elements.points.value = ""; form.elements.photos.value = "";
      form.elements.item_id.value = "";
      $("fd-photo-count").textContent = "";
      return setMeta("draft", draftOf());
    }).then(render).then(sync);
  }

  // --- talking to the server ------------------------------------------------------------------------
  function showNet(text) { $("fd-net").textContent = text || (navigator.onLine ? T.online : T.offline);
                           $("fd-net").className = "fd-net " + (navigator.onLine ? "fd-on" : "fd-off"); }

  function refresh() {
    if (!navigator.onLine) return Promise.resolve(false);
    return fetch(root.getAttribute("data-data-url"), { credentials: "same-origin", cache: "no-store" })
      .then(function (resp) {
        var json = (resp.headers.get("Content-Type") || "").indexOf("application/json") === 0;
        if (!resp.ok || resp.redirected || !json) { showNet(T.sign_in); return false; }
        return resp.json().then(function (fresh) {
          csrf = fresh.csrf_token;
          delete fresh.csrf_token;
          data = fresh;
          return setMeta("data", fresh).then(function () {
            fillHouseholds(); fillItems(); showKept(); return true;
          });
        });
      }, function () { return false; });
  }

  function send(row) {
    var body = new FormData();
    ["household_id", "item_id", "occurred_on", "description"].forEach(function (k) { body.append(k, row[k] || ""); });
    if (row.kind === "record" && row.points) body.append("points", row.points);
    (row.photos || []).forEach(function (blob, i) {
      body.append("photos", blob, (row.photo_names || [])[i] || "photo-" + (i + 1) + ".jpg");
    });
    var url = root.getAttribute(row.kind === "proxy" ? "data-proxy-url" : "data-records-url");
    return fetch(url, { method: "POST", body: body, credentials: "same-origin", redirect: "manual",
                        headers: { "X-CSRFToken": csrf, "Idempotency-Key": row.key, "Accept": "application/json" } })
      .then(function (resp) {
        var json = (resp.headers.get("Content-Type") || "").indexOf("application/json") === 0;
        if (!json) return "stop";  // signed out, or the token went stale: keep it waiting
        return resp.json().then(function (answer) {
          if (resp.status === 201 || resp.status === 200) {
            row.state = "sent"; row.url = answer.url; row.state_label = answer.state_label; row.photos = [];
          } else if (resp.status === 400 && answer.errors && answer.errors["Idempotency-Key"]) {
            row.key = uuid();
          } else {
            row.state = "refused"; row.errors = answer.errors || {}; row.message = answer.message || "";
          }
          return putQueued(row).then(function () { return "next"; });
        });
      });
  }

  function sync() {
    if (syncing || !navigator.onLine) return Promise.resolve();
    syncing = true;
    showNet(T.sending);
    var stopped = false;
    return refresh().then(function (ok) {
      if (!ok) { stopped = true; return; }
      return allQueued().then(function (rows) {
        var waiting = rows.filter(function (r) { return r.state === "waiting"; });
        return waiting.reduce(function (p, row) {
          return p.then(function () {
            if (stopped || !navigator.onLine) return;
            return send(row).then(function (how) { if (how === "stop") { stopped = true; showNet(T.sign_in); } },
                                  function () { stopped = true; })  // the network went: try again later
              .then(render);
          });
        }, Promise.resolve());
      });
    }).then(function () { syncing = false; if (!stopped) showNet(); return render(); },
            function () { syncing = false; showNet(); });
  }

  // --- start ----------------------------------------------------------------------------------------
  open().then(function (opened) {
    db = opened;
    return getMeta("owner");
  }).then(function (owner) {
    var me = root.getAttribute("data-user");
    return (owner && owner !== me ? wipe() : Promise.resolve()).then(function () { return setMeta("owner", me); });
  }).then(function () { return getMeta("data"); }).then(function (kept) {
    data = kept || null;
    fillHouseholds(); fillItems(); showKept();
    return getMeta("draft");
  }).then(function (draft) {
    if (draft) restore(draft);
    showNet();
    form.addEventListener("change", function (e) {
      if (e.target.name === "kind" || e.target.name === "household_id") fillItems();
      if (e.target.name === "photos") $("fd-photo-count").textContent = fmt(T.photos, { n: e.target.files.length });
      setMeta("draft", draftOf());
    });
    form.addEventListener("input", function () { setMeta("draft", draftOf()); });
    form.addEventListener("submit", capture);
    window.addEventListener("online", function () { showNet(); sync(); });
    window.addEventListener("offline", function () { showNet(); });
    root.setAttribute("data-ready", "1");
    return render();
  }).then(sync);

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register(root.getAttribute("data-worker-url"), { scope: root.getAttribute("data-scope") })
      .then(function () { return navigator.serviceWorker.ready; })
      .then(function () {  // the shell and the files it loaded, for the next visit without signal
        var urls = [root.getAttribute("data-scope")];
        document.querySelectorAll("link[rel=stylesheet][href], script[src]").forEach(function (el) {
          urls.push(el.getAttribute("href") || el.getAttribute("src"));
        });
        return caches.open("jifen-field-v1").then(function (c) { return c.addAll(urls); });
      })
      .then(function () { root.setAttribute("data-offline-ready", "1"); })  // the next visit works without signal
      .catch(function () { /* no service worker (not a secure context): the page still works while open */ });
  }
})();
