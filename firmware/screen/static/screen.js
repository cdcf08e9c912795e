// The officer's screen: live reads, status, and hits that take the whole screen until answered.
// Plain JS, no framework, nothing from the internet. Data arrives by Server-Sent Events; after any
// reconnect (a daemon restart included) the page fetches its whole state again.
(function () {
  "use strict";
  var BOOT = JSON.parse(document.body.dataset.boot);
  var CAN = BOOT.can || {};
  var state = { reads: [], hits: [], confirmed: [], choices: null, malfunctions: [] };
  var queue = [];            // hit items waiting for the officer, most urgent first
  var deferred = {};         // keys the officer put aside with "Later" (still listed under Hits)
  var answered = {};         // keys disposed on this page
  var shown = null;          // the item on screen
  var mode = "alert";        // alert | verify
  var es = null;
  var serverStarted = null;
  var lastTouch = 0;
  window.__alpr = { shown: [], events: 0, connected: false, refreshes: 0, refreshFailures: 0 };

  // ---- helpers ------------------------------------------------------------------------------
  function $(sel) { return document.querySelector(sel); }
  function el(tag, attrs) {
    var node = document.createElement(tag);
    if (attrs) Object.keys(attrs).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "on") Object.keys(attrs.on).forEach(function (e) { node.addEventListener(e, attrs.on[e]); });
      else if (attrs[k] !== null && attrs[k] !== undefined && attrs[k] !== false) node.setAttribute(k, attrs[k]);
    });
    function add(x) {
      if (x === null || x === undefined) return;
      if (Array.isArray(x)) { x.forEach(add); return; }
      node.appendChild(typeof x === "string" ? document.createTextNode(x) : x);
    }
    for (var i = 2; i < arguments.length; i++) add(arguments[i]);
    return node;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
  function api(method, path, body) {
    var opts = { method: method, credentials: "same-origin", headers: {} };
    if (body !== undefined) { opts.body = JSON.stringify(body); opts.headers["Content-Type"] = "application/json"; }
    return fetch(path, opts).then(function (r) {
      if (r.status === 401) { location.href = "/login"; throw new Error("logged out"); }
      return r.json().then(function (j) { j._http = r.status; return j; });
    });
  }
  function hhmmss(iso) { return iso ? iso.replace(/^.*T(\d\d:\d\d:\d\d).*$/, "$1") : "-"; }
  function age(s) {
    if (s === null || s === undefined) return "?";
    if (s < 90) return Math.round(s) + " s";
    if (s < 5400) return Math.round(s / 60) + " min";
    return (s / 3600).toFixed(s < 36000 ? 1 : 0) + " h";
  }
  function charName(c) { return /[0-9]/.test(c) ? "digit " + c : "letter " + c; }
  function prioClass(p) { return p <= 10 ? "p-urgent" : p <= 30 ? "p-high" : p <= 60 ? "p-medium" : "p-low"; }
  function ordinal(n) { return n + (n % 10 === 1 && n !== 11 ? "st" : n % 10 === 2 && n !== 12 ? "nd" : n % 10 === 3 && n !== 13 ? "rd" : "th"); }
  function note(a, keys) {
    a = a || {};
    for (var i = 0; i < keys.length; i++) if (a[keys[i]]) return a[keys[i]];
    return null;
  }

  // ---- hit items ------------------------------------------------------------------------------
  function keyOf(readId, h) { return readId + "|" + h.list_name + "|" + h.entry_plate; }
  function itemFromAlert(data, h) {
    return { key: keyOf(data.read_id, h), read_id: data.read_id, hit_id: null, plate: data.plate,
      read_state: data.state, captured_at: data.captured_at, camera_id: data.camera_id, list_name: h.list_name,
      entry_plate: h.entry_plate, entry_state: h.entry_state, category: h.category, priority: h.priority,
      match: h.match, positions: h.positions || [], possible: h.possible, annotations: h.annotations || {},
      list_age_s: h.list_age_s, status: "new", checks: [], checks_latest: {}, arrived: Date.now() };
  }
  function itemFromDetail(d) {
    var it = { key: keyOf(d.read_id, d), hit_id: d.id, arrived: Date.parse(d.created_at) || Date.now() };
    ["read_id", "plate", "read_state", "captured_at", "camera_id", "list_name", "entry_plate", "entry_state",
     "category", "priority", "match", "positions", "possible", "annotations", "list_age_s", "status", "checks",
     "checks_latest", "dispositions", "outcomes", "disposition"].forEach(function (k) { it[k] = d[k]; });
    it.checks = it.checks || []; it.checks_latest = it.checks_latest || {};
    return it;
  }
  function merge(item) {
    for (var i = 0; i < queue.length; i++) {
      if (queue[i].key === item.key) {
        var keep = queue[i];
        Object.keys(item).forEach(function (k) {
          if (item[k] !== null && item[k] !== undefined && !(k === "checks" && !item.checks.length && keep.checks.length)) keep[k] = item[k];
        });
        return keep;
      }
    }
    queue.push(item);
    return item;
  }
  function sortQueue() {
    // an amendment the officer opened stays in front; then the most urgent list, then the oldest
    queue.sort(function (a, b) { return (!!b.amend - !!a.amend) || (a.priority - b.priority) || (a.arrived - b.arrived); });
  }
  function pending() {
    return queue.filter(function (it) { return !deferred[it.key] && !answered[it.key]; });
  }
  function showNext() {
    var p = pending();
    var next = p.length ? p[0] : null;
    if (next !== shown) { shown = next; mode = "alert"; }
    renderAlert();
  }

  function onHit(data) {
    if (!CAN["hits.view"]) return;
    var items = (data.hits || []).map(function (h) { return merge(itemFromAlert(data, h)); });
    sortQueue();
    var before = shown, p = pending();
    // A hit takes the screen when none is up, or from an alert not yet started on when it is the more
    // urgent; never from a verification under way (nor from a hit the officer opened): it waits, announced.
    if (!shown || (mode === "alert" && p.length && items.indexOf(p[0]) >= 0)) showNext(); else renderAlert();
    if (shown && shown !== before) {
      var t = performance.timeOrigin + performance.now();
      requestAnimationFrame(function () {
        window.__alpr.shown.push({ read_id: data.read_id, sent_at_ms: data.sent_at_ms, committed_at_ms: data.committed_at_ms,
          received_at_ms: t, shown_at_ms: performance.timeOrigin + performance.now() });
      });
    }
    if (data.audible) beep(items.length ? items[0].priority : 50);
    api("GET", "/api/reads/" + encodeURIComponent(data.read_id) + "/hits").then(function (j) {
      (j.hits || []).forEach(function (d) { merge(itemFromDetail(d)); });
      sortQueue(); renderAlert(); renderHits();
    }).catch(function () {});
    renderHits();
  }

  var audio = null;
  function beep(priority) {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      var n = priority <= 20 ? 3 : 1;
      for (var i = 0; i < n; i++) {
        var o = audio.createOscillator(), g = audio.createGain();
        o.frequency.value = 880; g.gain.value = 0.2; o.connect(g); g.connect(audio.destination);
        o.start(audio.currentTime + i * 0.3); o.stop(audio.currentTime + i * 0.3 + 0.18);
      }
    } catch (e) { /* no sound device: the buzzer and the screen still alert */ }
  }

  // ---- the alert ----------------------------------------------------------------------------
  function plateSpans(text, marks) {
    var set = {};
    (marks || []).forEach(function (p) { set[p] = true; });
    return el("div", { class: "plate-big" }, text.split("").map(function (ch, i) {
      return el("span", { class: set[i] ? "diff" : null, text: ch });
    }));
  }
  function entryMarks(item) {
    if (item.match === "equivalent") return item.positions;
    if (item.match === "wildcard") {
      return item.entry_plate.split("").map(function (c, i) { return c === "*" ? i : -1; }).filter(function (i) { return i >= 0; });
    }
    return [];
  }
  function howMatched(item) {
    var pos = item.positions || [];
    var where = pos.map(function (p) { return ordinal(p + 1); }).join(", ");
    var text;
    if (item.match === "exact") text = "Exact match";
    else if (item.match === "equivalent") {
      text = "Look-alike, " + pos.map(function (p) {
        return ordinal(p + 1) + " character: read " + charName(item.plate[p]) + ", entry " + charName(item.entry_plate[p]);
      }).join("; ");
    } else if (item.match === "wildcard") text = "Wildcard entry: * stands for the " + where + " character";
    else if (item.match === "length") text = "One character " + (item.plate.length > item.entry_plate.length ? "extra" : "missing") + " at the " + where;
    else text = item.match;
    if (item.possible) text += " - STATE DIFFERS";
    return text;
  }
  function stateBox(s, other) {
    var differs = s && other && s !== other;
    return el("span", { class: "st" + (differs ? " diff" : "") + (s ? "" : " unknown"), text: s || "?" });
  }
  function compare(item) {
    return [
      el("div", { class: "cmp" }, el("span", { class: "lbl", text: "READ" }), plateSpans(item.plate, item.positions),
        stateBox(item.read_state, item.entry_state)),
      el("div", { class: "cmp" }, el("span", { class: "lbl", text: "ENTRY" }), plateSpans(item.entry_plate, entryMarks(item)),
        stateBox(item.entry_state, item.read_state)),
    ];
  }
  function facts(item) {
    var a = item.annotations || {};
    var ncic = note(a, ["NIC", "nic", "NCIC", "ncic", "ncic_number"]);
    var reason = note(a, ["reason", "Reason", "MIS", "mis"]);
    var vehicle = [note(a, ["VehicleColor", "VCO", "vco", "colour", "color"]), note(a, ["VehicleMake", "VMA", "MKE", "make"])]
      .filter(Boolean).join(" ");
    var old = item.list_age_s !== null && item.list_age_s !== undefined && item.list_age_s > 86400;
    var stateText = !item.entry_state ? "entry has no state: check the plate's state" :
      !item.read_state ? "CHECK: entry " + item.entry_state + ", not read" :
      item.read_state === item.entry_state ? item.read_state + " (read and entry agree)" :
      "DIFFERS: read " + item.read_state + ", entry " + item.entry_state;
    var rows = [["List", item.list_name + " (priority " + item.priority + ")"],
      ["State", stateText, item.read_state !== item.entry_state || !item.read_state],
      ["NCIC", ncic || "-"], ["List age", age(item.list_age_s) + (old ? " - OLDER THAN 24 h" : ""), old]];
    if (vehicle) rows.push(["Vehicle", vehicle]);
    rows.push(["Reason", reason || "-"]);
    rows.push(["Seen", hhmmss(item.captured_at) + " " + (item.camera_id || "")]);
    return el("dl", { class: "facts" }, rows.map(function (r) {
      return [el("dt", { text: r[0] }), el("dd", { class: r[2] ? "warn" : null, text: r[1] })];
    }));
  }
  function images(item, withOverview) {
    var base = "/api/reads/" + encodeURIComponent(item.read_id);
    return el("div", { class: "alert-images" },
      el("img", { class: "crop", src: base + "/crop.jpg", alt: "plate photo" }),
      withOverview ? el("img", { class: "overview", src: base + "/overview.jpg", alt: "vehicle photo" }) : null);
  }
  // The alert is drawn anew on every refresh (each 5 s and on each hit change) while the officer may be
  // typing a note in it by touch: the field they are in keeps its focus (so the keyboard stays up), its
  // caret, and the panel its scroll, when the same item is drawn again.
  function keepingFocus(box, draw) {
    var was = document.activeElement, same = box.dataset.key === (shown && shown.key) && box.dataset.mode === mode;
    var keep = same && was && was.id && box.contains(was) ? { id: was.id, a: was.selectionStart, b: was.selectionEnd } : null;
    var top = same ? box.scrollTop : 0;
    draw();
    var again = keep && document.getElementById(keep.id);
    if (again && box.contains(again)) {
      again.hidden = false;
      again.focus({ preventScroll: true });
      if (keep.a !== null && again.setSelectionRange) again.setSelectionRange(keep.a, keep.b);
    }
    box.scrollTop = top;
  }
  function renderAlert() {
    var box = $("#alert");
    keepingFocus(box, function () { drawAlert(box); });
  }
  // A panel that has just come up (a hit arriving, the next one after an answer, Verify pressed) takes
  // no tap for a moment: a tap then was aimed at what was there before (a jolt's second tap, a finger
  // already on its way), and must not put aside or answer a hit the officer has not seen.
  var SETTLE_MS = 1000, MODE_SETTLE_MS = 400, settleUntil = 0, settleTimer = null;
  function settle(box, item) {
    var now = Date.now(), changed = box.hidden || box.dataset.key !== item.key;
    if (changed || box.dataset.mode !== mode) {
      settleUntil = now + (changed ? SETTLE_MS : MODE_SETTLE_MS);
      clearTimeout(settleTimer);
      settleTimer = setTimeout(function () {
        box.querySelectorAll("button[data-settling]").forEach(function (b) { b.disabled = false; b.removeAttribute("data-settling"); });
      }, settleUntil - now);
    }
    return now < settleUntil;
  }
  function urgentWaiting(item, p) {   // a more urgent hit the officer is not on (they are verifying this one)
    for (var i = 0; i < p.length; i++) if (p[i] !== item && p[i].priority < item.priority) return p[i];
    return null;
  }
  function drawAlert(box) {
    if (!shown) { box.hidden = true; clear(box); return; }
    var item = shown, p = pending(), settling = settle(box, item), waiting = urgentWaiting(item, p);
    box.hidden = false;
    box.className = prioClass(item.priority);
    clear(box);
    box.dataset.key = item.key;
    box.dataset.mode = mode;
    box.appendChild(el("header", { class: "alert-head" },
      el("span", { class: "what", text: "HIT: " + (item.category || item.list_name) }),
      waiting ? el("button", { id: "urgent-waiting", class: "urgent", on: { click: function () {
        shown = waiting; mode = "alert"; renderAlert();
      } } }, "More urgent hit waiting: show it") : null,
      el("span", { class: "queue", text: p.length > 1 ? (p.indexOf(item) + 1) + " of " + p.length : "" })));
    if (mode === "alert") {
      box.appendChild(el("div", { class: "alert-body" }, images(item, true),
        el("div", { class: "alert-facts" }, compare(item), el("div", { class: "how", text: howMatched(item) }), facts(item))));
      box.appendChild(el("div", { class: "notice", text: "A hit is not confirmation: verify plate and state, confirm with dispatch." }));
      box.appendChild(el("footer", { class: "alert-foot" },
        el("button", { class: "primary", id: "verify", on: { click: function () { mode = "verify"; renderAlert(); } } }, "Verify"),
        el("button", { id: "later", on: { click: later } }, "Later")));
    } else {
      var msg = el("p", { class: item.say ? item.say[0] : "msg", id: "step-msg", role: "status", text: item.say ? item.say[1] : null });
      box.appendChild(el("div", { class: "verify-body" }, verifyTop(item, msg), steps(item)));
      box.appendChild(el("footer", { class: "alert-foot" },
        el("button", { id: "back", on: { click: function () { mode = "alert"; renderAlert(); } } }, "Back to alert"),
        el("button", { id: "later", on: { click: later } }, "Later")));
    }
    if (settling) box.querySelectorAll("button").forEach(function (b) { b.disabled = true; b.setAttribute("data-settling", ""); });
  }
  function later() {
    if (shown) deferred[shown.key] = true;
    showNext(); renderHits();
  }

  // ---- verification steps ---------------------------------------------------------------------
  var CHECK_BUTTONS = {
    plate: [["match", "Match"], ["mismatch", "No match"]],
    state: [["match", "Match"], ["mismatch", "No match"], ["not_visible", "Not visible"]],
    dispatch: [["confirmed", "Confirmed"], ["not_confirmed", "Not confirmed"], ["not_current", "Not current"]],
  };
  var CHECK_LABELS = { plate: "1. Plate characters match the photo", state: "2. State matches",
    dispatch: "3. Dispatch confirms status" };
  function lastCheck(item, name) {
    var found = null;
    (item.checks || []).forEach(function (c) { if (c.check_name === name) found = c; });
    return found;
  }
  function shortLabel(label) { return label.split(/[:(]/)[0].trim(); }
  function checksPassed(item) {
    var last = {};
    (item.checks || []).forEach(function (c) { last[c.check_name] = c.result; });
    return last.plate === "match" && last.state === "match" && last.dispatch === "confirmed";
  }
  function steps(item) {
    var rows = Object.keys(CHECK_BUTTONS).map(function (name) {
      var last = lastCheck(item, name);
      return el("div", { class: "step", "data-check": name },
        el("span", { class: "q" }, CHECK_LABELS[name], el("span", { class: "stamp" + (last ? " done" : ""), text: last ?
          "✓ " + last.result.replace("_", " ") + " " + hhmmss(last.at) + " by " + last.user : "not recorded yet" })),
        el("span", { class: "btns" }, CHECK_BUTTONS[name].map(function (b) {
          return el("button", { class: last && last.result === b[0] ? "chosen" : null, "data-result": b[0],
            on: { click: function () { record(item, "check", { check: name, result: b[0] }); } } }, b[1]);
        })));
    });
    var dispositions = (state.choices && state.choices.dispositions) || {};
    var ready = checksPassed(item);
    var noteBox = el("input", { id: "step-note", maxlength: "200", value: item.noteDraft || null,
      on: { input: function () { item.noteDraft = noteBox.value; } },
      placeholder: item.amend ? "Why amend (required; the earlier disposition is kept)" : "Note (needed for Other)" });
    var dispo = el("div", { class: "dispo" }, Object.keys(dispositions).map(function (code) {
      var d = dispositions[code];
      var locked = d.kind === "confirm" && !ready;
      return el("button", { class: d.kind + (locked ? " locked" : ""), "data-disposition": code, title: d.label,
        on: { click: function () {
          var text = noteBox.value.trim();
          if ((d.needs_note || item.amend) && !text) { item.wantsNote = true; noteBox.hidden = false; noteBox.focus(); say(item, "msg bad", "Say why in the note, then press it again."); return; }
          record(item, "disposition", { disposition: code, note: text || null, amend: !!item.amend });
        } } }, (d.kind === "confirm" ? "CONFIRMED: " + shortLabel(d.label.split(":").slice(1).join(":") || d.label) : shortLabel(d.label)));
    }));
    noteBox.hidden = !(item.amend || item.noteDraft || item.wantsNote);
    return el("div", { class: "steps" }, rows, dispo, noteBox);
  }
  function verifyTop(item, msg) {
    return el("div", { class: "verify-top" },
      el("img", { class: "crop", src: "/api/reads/" + encodeURIComponent(item.read_id) + "/crop.jpg", alt: "plate photo" }),
      el("div", { class: "verify-cmp" },
        el("div", {}, el("span", { class: "lbl", text: "READ " }), el("b", { class: "plate-text", text: item.plate + " " + (item.read_state || "?") })),
        el("div", {}, el("span", { class: "lbl", text: "ENTRY " }), el("b", { class: "plate-text", text: item.entry_plate + " " + (item.entry_state || "") }))),
      msg);
  }
  // What the step line says belongs to the hit, not to the element drawn: the panel is redrawn (each
  // refresh, each hit change) while a write waits, and "Saving…", "Recorded." or a failure must survive it.
  function say(item, cls, text) {
    item.say = [cls, text];
    var m = $("#step-msg");
    if (m && shown === item && mode === "verify") { m.className = cls; m.textContent = text; }
  }
  // One write per hit at a time: a tap while one waits (the unit busy, a jolt's second tap) is not sent
  // again, and the same step pressed again within JOLT_MS of the last is taken for the same press.
  var JOLT_MS = 1500;
  // The guard both steps and outcomes keep on their holder (a hit, an outcome row): "busy" while a write
  // waits, "repeat" for the same press again within JOLT_MS of a stored one, else the write may go.
  function pressing(holder, what) {
    if (holder.saving) return "busy";
    if (holder.stored === what && Date.now() - holder.storedAt < JOLT_MS) return "repeat";
    holder.saving = true;
    return "go";
  }
  function pressed(holder, what, stored) {
    holder.saving = false;
    if (stored) { holder.stored = what; holder.storedAt = Date.now(); }   // a failed one may be pressed again at once
  }
  function record(item, step, body) {
    if (!item.hit_id) { say(item, "msg bad", "Still loading this hit; press again."); return; }
    var what = step + JSON.stringify(body), go = pressing(item, what);
    if (go === "busy") say(item, "msg", "Saving… (still waiting for the unit)");
    if (go !== "go") return;
    say(item, "msg", "Saving…");
    function done(cls, text, stored) {
      pressed(item, what, stored);
      say(item, cls, text);
    }
    api("POST", "/api/hits/" + encodeURIComponent(item.hit_id) + "/" + step, body).then(function (j) {
      if (!j.ok) { done("msg bad", j.error || "Refused"); return; }
      return api("GET", "/api/hits/" + encodeURIComponent(item.hit_id)).catch(function () { return {}; }).then(function (d) {
        if (d.ok && item.amend) {
          var fresh = itemFromDetail(d.hit);
          Object.keys(fresh).forEach(function (k) { if (k !== "key" && k !== "status") item[k] = fresh[k]; });
        } else if (d.ok) merge(itemFromDetail(d.hit));
        done("msg good", "Recorded.", true);
        if (step === "disposition") {
          answered[item.key] = true;
          if (item.amend) queue = queue.filter(function (q) { return q !== item; });
          showNext(); refresh(); return;
        }
        renderAlert();
      });
    }, function () {
      done("msg bad", "Not saved: the unit did not answer. Check the stamp, then press again.");
    });
  }

  // ---- views ------------------------------------------------------------------------------------
  function renderBar(status) {
    var chips = clear($("#chips"));
    if (!status) return;
    status.cameras.forEach(function (c) {
      chips.appendChild(el("span", { class: "chip" + (c.stalled || c.frozen ? " bad" : "") },
        "CAM " + c.id + (c.stalled ? " STALLED" : c.frozen ? " FROZEN" : " " + (c.fps || 0).toFixed(1) + "/s")));
    });
    var g = status.gps || {};
    var gpsBad = g.connected === false || g.fix_age_s === null || g.fix_age_s > 10;
    chips.appendChild(el("span", { class: "chip" + (gpsBad ? " warn" : "") },
      "GPS " + (g.connected === false ? "OFF" : g.fix_age_s === null ? "NO FIX" : g.fix_age_s <= 3 ? "OK" : age(g.fix_age_s) + " old")));
    if (status.hotlists.length) {
      var stale = status.hotlists.filter(function (l) { return l.stale; });
      var oldest = Math.max.apply(null, status.hotlists.map(function (l) { return l.age_s || 0; }));
      chips.appendChild(el("span", { class: "chip" + (stale.length ? " warn" : "") },
        (status.hotlists.length === 1 ? "LIST " : status.hotlists.length + " LISTS ") + (stale.length ? "STALE " : "") + age(oldest)));
    } else chips.appendChild(el("span", { class: "chip bad" }, "NO LISTS"));
    if (status.sync) chips.appendChild(el("span", { class: "chip" }, "SYNC " + (status.sync.queued || 0)));
    if (status.disk_free_mb !== null) chips.appendChild(el("span", { class: "chip" }, "DISK " + (status.disk_free_mb >= 10240 ? Math.round(status.disk_free_mb / 1024) + " GB" : status.disk_free_mb + " MB")));
  }
  function renderBanner(list) {
    var b = $("#banner");
    clear(b);
    if (!list || !list.length) { b.hidden = true; document.body.classList.remove("has-banner"); return; }
    b.hidden = false;
    b.className = list.some(function (m) { return m.severity === "critical"; }) ? "critical" : "";
    var shownList = list.slice(0, 2);
    shownList.forEach(function (m) { b.appendChild(el("div", { "data-source": m.source, text: "⚠ " + m.message })); });
    if (list.length > 2) b.appendChild(el("div", { text: "and " + (list.length - 2) + " more" }));
    document.body.classList.add("has-banner");
    document.body.style.setProperty("--banner-h", b.offsetHeight + "px");
  }
  function readState(s) {   // as the hit screen's state box: the code, or a dashed "?" when not read
    return el("span", { class: "st" + (s ? "" : " unknown"), title: s ? "state read" : "state not read", text: s || "?" });
  }
  function readCard(r) {
    var hit = r.hits && r.hits.length;
    return el("div", { class: "read" + (hit ? " is-hit" : ""), "data-read": r.id },
      r.has_crop ? el("img", { src: "/api/reads/" + encodeURIComponent(r.id) + "/crop.jpg", alt: "", loading: "lazy" }) : el("span"),
      el("div", { class: "plate-line" }, el("span", { class: "plate-text", text: r.plate }), readState(r.state)),
      el("span", { class: "meta", text: hhmmss(r.captured_at) + " · " + r.camera_id + " · " + Math.round(r.confidence * 100) +
        "% · " + (r.position_method === "none" ? "NO GPS" : r.position_method) + (hit ? " · HIT" : "") }));
  }
  function renderReads() {
    var box = clear($("#reads"));
    if (!CAN["reads.view"]) { box.appendChild(el("p", { class: "empty", text: "Your role sees the unit's health only." })); return; }
    if (!state.reads.length) { box.appendChild(el("p", { class: "empty", text: "No reads yet." })); return; }
    state.reads.forEach(function (r) { box.appendChild(readCard(r)); });
  }
  function statusOf(it) { return it.status || "new"; }
  function renderHits() {
    var box = clear($("#hit-list"));
    var open = queue.filter(function (it) { return !answered[it.key]; });
    var unack = open.filter(function (it) { return statusOf(it) === "unacknowledged"; }).length;
    $("#hit-count").textContent = open.length ? String(open.length) : "";
    if (!open.length && !state.confirmed.length) { box.appendChild(el("p", { class: "empty", text: "No open hits." })); }
    if (unack) box.appendChild(el("p", { class: "msg bad", id: "unack-note", text: unack + " unacknowledged: nobody answered in time. Answer each one." }));
    open.forEach(function (it) {
      box.appendChild(el("div", { class: "hit-row " + prioClass(it.priority), "data-key": it.key, "data-status": statusOf(it) },
        el("span", { class: "plate-text", text: it.plate }),
        el("span", { class: "grow" }, (it.category || it.list_name) + " · " + hhmmss(it.captured_at) + " · ", el("span", { class: "tag " + statusOf(it), text: statusOf(it).replace("_", " ") })),
        el("button", { class: "primary", on: { click: function () { delete deferred[it.key]; queue.splice(queue.indexOf(it), 1); queue.unshift(it); shown = it; mode = "alert"; renderAlert(); } } }, "Open")));
    });
    if (state.confirmed.length) box.appendChild(el("h3", { text: "Confirmed: record the outcome when known" }));
    state.confirmed.forEach(function (h) {
      var outcomes = (state.choices && state.choices.outcomes) || {};
      box.appendChild(el("div", { class: "hit-row " + prioClass(h.priority), "data-hit": h.id },
        el("span", { class: "plate-text", text: h.plate }),
        el("span", { class: "grow", text: (h.category || h.list_name) + " · " + (h.disposition || "").replace(/_/g, " ") +
          (h.outcomes && h.outcomes.length ? " · " + h.outcomes.map(function (o) { return o.outcome; }).join(", ") : "") }),
        CAN["hits.amend"] ? el("button", { "data-amend": h.id, on: { click: function () { openAmend(h); } } }, "Amend") : null,
        Object.keys(outcomes).map(function (o) {
          return el("button", { "data-outcome": o, on: { click: function () { recordOutcome(h, o); } } },
            o.charAt(0).toUpperCase() + o.slice(1));
        }),
        outcomeWrites[h.id] && outcomeWrites[h.id].say ? el("p", { class: outcomeWrites[h.id].say[0] + " outcome-msg",
          role: "status", text: outcomeWrites[h.id].say[1] }) : null));
    });
  }
  // An outcome is written as a step is (record): one write per hit at a time, the same outcome pressed
  // again within JOLT_MS of a stored one taken for the same press, and what happened said in the row
  // (kept across the list's redraws), never in a modal dialog the kiosk would put over the screen.
  var outcomeWrites = {};
  function recordOutcome(h, o) {
    var w = outcomeWrites[h.id] || (outcomeWrites[h.id] = {});
    if (pressing(w, o) !== "go") return;
    w.say = ["msg", "Saving…"]; renderHits();
    api("POST", "/api/hits/" + encodeURIComponent(h.id) + "/outcome", { outcome: o }).then(function (j) {
      pressed(w, o, j.ok);
      w.say = j.ok ? ["msg good", "Recorded: " + o] : ["msg bad", j.error || "Refused"];
      renderHits(); refresh();
    }, function () {
      pressed(w, o, false); w.say = ["msg bad", "Not saved: the unit did not answer. Check the outcomes shown, then press again."];
      renderHits();
    });
  }
  function openAmend(h) {
    var it = itemFromDetail(h);
    it.key = "amend|" + h.id; it.amend = true; it.status = "amending";
    queue = queue.filter(function (q) { return q.key !== it.key; });
    queue.unshift(it); delete answered[it.key]; delete deferred[it.key];
    shown = it; mode = "verify"; renderAlert();
  }
  function renderAll() { renderReads(); renderHits(); renderAlert(); }

  function refresh() {
    return api("GET", "/api/state").then(function (s) {
      // an answer that is not the state (the unit busy or failing: 5xx) is not an empty state: keep the
      // hits, the verification under way and the note typed, and ask again at the next refresh
      if (s._http !== 200) { window.__alpr.refreshFailures++; return; }
      state.reads = s.reads || [];
      state.choices = s.choices || state.choices;
      state.confirmed = s.confirmed || [];
      state.malfunctions = s.malfunctions || [];
      if (s.purposes && !$("#purposes").childElementCount) {
        s.purposes.forEach(function (p) { $("#purposes").appendChild(el("option", { value: p })); });
      }
      renderBar(s.status);
      renderBanner(s.malfunctions);
      $("#health").textContent = JSON.stringify(s.status, null, 1);
      var live = {};
      (s.hits || []).forEach(function (d) {
        var it = merge(itemFromDetail(d));
        live[it.key] = true;
      });
      queue = queue.filter(function (it) { return live[it.key] || it.amend || (!it.hit_id && !answered[it.key]); });
      sortQueue();
      if (!shown || !live[shown.key]) showNext(); else renderAlert();
      renderReads(); renderHits();
      window.__alpr.refreshes++;
    }).catch(function (e) { if (e && e.message !== "logged out") console.error("refresh failed", e); });
  }

  // ---- live stream ----------------------------------------------------------------------------
  function connect() {
    if (es) es.close();
    es = new EventSource("/api/events");
    es.addEventListener("hello", function (e) {
      var d = JSON.parse(e.data);
      window.__alpr.connected = true;
      $("#conn").hidden = true;
      if (serverStarted !== null && serverStarted !== d.server_started_ms) window.__alpr.restarts = (window.__alpr.restarts || 0) + 1;
      serverStarted = d.server_started_ms;
      refresh();
    });
    es.addEventListener("hit", function (e) { window.__alpr.events++; onHit(JSON.parse(e.data)); });
    es.addEventListener("read", function (e) {
      window.__alpr.events++;
      state.reads.unshift(JSON.parse(e.data));
      state.reads = state.reads.slice(0, 24);
      renderReads();
    });
    es.addEventListener("hits_changed", function () { refresh(); });
    es.addEventListener("session_end", function () { location.href = "/login"; });
    es.onerror = function () {
      window.__alpr.connected = false;
      $("#conn").hidden = false;
      if (es.readyState === 2) {   // closed for good (e.g. 401): find out why, then try again
        api("GET", "/api/state").catch(function () {}).then(function () { setTimeout(connect, 1500); });
      }
    };
  }

  // ---- navigation, theme, idle ---------------------------------------------------------------
  function showView(name) {
    document.querySelectorAll(".view").forEach(function (v) { v.hidden = v.id !== "view-" + name; });
    document.querySelectorAll("#tabs button").forEach(function (b) { b.classList.toggle("on", b.dataset.view === name); });
    if (name === "manual") loadManual();
  }
  document.querySelectorAll("#tabs button").forEach(function (b) {
    b.addEventListener("click", function () { showView(b.dataset.view); });
  });
  $("#theme-toggle").addEventListener("click", function () {
    var next = document.documentElement.className === "theme-night" ? "day" : "night";
    localStorage.setItem("alpr-theme", next);
    document.documentElement.className = "theme-" + next;
  });
  function touched() {
    var now = Date.now();
    if (now - lastTouch > 15000) { lastTouch = now; api("POST", "/api/touch").catch(function () {}); }
  }
  ["pointerdown", "keydown"].forEach(function (e) { document.addEventListener(e, touched, true); });
  setInterval(function () {
    if (Date.now() - lastTouch > BOOT.idle_s * 1000 + 2000) refresh();   // the server decides; 401 -> login
  }, 10000);

  // ---- manual entries and search -------------------------------------------------------------
  function formData(form) {
    var out = {};
    Array.prototype.forEach.call(form.elements, function (e) { if (e.name) out[e.name] = e.value.trim(); });
    return out;
  }
  function loadManual() {
    if (!CAN["hotlist.manual_view"]) return;
    api("GET", "/api/manual").then(function (j) {
      var box = clear($("#manual-list"));
      if (!j.entries || !j.entries.length) { box.appendChild(el("p", { class: "empty", text: "No manual entries." })); return; }
      box.appendChild(el("table", { class: "list" }, el("tr", {}, ["Plate", "Reason", "By", "Expires", ""].map(function (h) { return el("th", { text: h }); })),
        j.entries.map(function (e) {
          return el("tr", { "data-entry": e.id }, el("td", { class: "plate-text", text: e.plate + (e.state ? " " + e.state : "") }),
            el("td", { text: e.reason }), el("td", { text: e.added_by }), el("td", { text: (e.expires_at || "").slice(0, 10) }),
            el("td", {}, el("button", { on: { click: function () { extend(e); } } }, "Extend")));
        })));
    });
  }
  function extend(entry) {   // an inline form, not window.prompt: the kiosk's keyboard types into the page only
    var row = document.querySelector("#manual-list tr[data-entry='" + entry.id + "']");
    var open = document.getElementById("extend-row");
    if (open) open.remove();
    var why = el("input", { id: "extend-why", name: "justification", maxlength: "200", required: "required",
                            placeholder: "why must " + entry.plate + " stay on the list?" });
    var form = el("form", { class: "extend" }, why,
      el("button", { type: "submit", class: "primary", id: "extend-send" }, "Extend 30 days"),
      el("button", { type: "button", on: { click: function () { tr.remove(); } } }, "Cancel"));
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var m = $("#manual-msg");
      submitOnce(form, m, function () { return api("POST", "/api/manual/" + entry.id + "/extend", { days: 30, justification: why.value.trim() }).then(function (j) {
        m.className = "msg " + (j.ok ? "good" : "bad");
        m.textContent = j.ok ? "Extended to " + j.result.expires_at.slice(0, 10) : j.error;
        if (j.ok) loadManual();
      }); });
    });
    var tr = el("tr", { id: "extend-row" }, el("td", { colspan: "5" }, form));
    row.parentNode.insertBefore(tr, row.nextSibling);
    why.focus();
  }
  // A form is sent once until the unit answers (a jolt's second tap, a press while the unit is busy: two
  // manual entries, two audited searches), and a unit that does not answer is said, not silent.
  function submitOnce(form, msg, send) {
    if (form.dataset.busy) return;
    form.dataset.busy = "1";
    msg.className = "msg"; msg.textContent = "Sending…";
    send().catch(function (e) {
      if (e && e.message === "logged out") return;
      msg.className = "msg bad"; msg.textContent = "Not sent: the unit did not answer. Try again.";
    }).then(function () { delete form.dataset.busy; });
  }
  $("#manual-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var form = e.target, body = formData(form), m = $("#manual-msg");
    submitOnce(form, m, function () { return api("POST", "/api/manual", body).then(function (j) {
      m.className = "msg " + (j.ok ? "good" : "bad");
      m.textContent = j.ok ? "Added " + j.result.plate + ", expires " + j.result.expires_at.slice(0, 10) : j.error;
      if (j.ok) form.reset();
      loadManual();
    }); });
  });
  $("#search-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var m = $("#search-msg"), box = $("#search-results"), form = e.target;
    submitOnce(form, m, function () { return api("POST", "/api/search", formData(form)).then(function (j) {
      clear(box);
      m.className = "msg " + (j.ok ? "good" : "bad");
      if (!j.ok) { m.textContent = j.error; return; }
      m.textContent = j.reads.length + " read(s) for purpose \"" + j.purpose + "\" (logged)";
      if (!j.reads.length) return;
      // the state as on the live cards: the code read off the plate, or a dashed "?" when none was legible
      box.appendChild(el("table", { class: "list" },
        el("tr", {}, ["Plate", "State", "Captured (UTC)", "Camera", "Position", "Hit"].map(function (h) { return el("th", { text: h }); })),
        j.reads.map(function (r) {
          return el("tr", { "data-read": r.id }, el("td", { class: "plate-text", text: r.plate }), el("td", {}, readState(r.state)),
            el("td", { text: r.captured_at }), el("td", { text: r.camera_id }),
            el("td", { text: r.lat !== null ? r.lat.toFixed(5) + "," + r.lon.toFixed(5) : "no position" }),
            el("td", { text: (r.hits || []).map(function (h) { return h.list_name + " (" + h.match + ")"; }).join(", ") }));
        })));
    }); });
  });

  if (!CAN["reads.view"]) {
    document.querySelectorAll("#tabs button").forEach(function (b) { if (b.dataset.view !== "live") b.hidden = true; });
    $("#view-live").hidden = true; $("#view-health").hidden = false;
  }
  if (!CAN["reads.search"]) $("#tabs [data-view=search]").hidden = true;
  if (!CAN["hotlist.manual_add"]) $("#tabs [data-view=manual]").hidden = true;
  lastTouch = Date.now();
  renderAll();
  connect();
  setInterval(refresh, 5000);
})();
