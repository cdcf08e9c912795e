// The on-screen keyboard: the car's touch display has no keyboard, and the kiosk (cage + Chromium) has
// no system one. Touching a text field opens this panel at the bottom of the screen; the page above it
// shrinks so the field and its form stay visible. Plate fields (autocapitalize="characters") type capitals,
// other fields lower case until the shift key is held on. The keys never take the focus from the field.
(function () {
  "use strict";
  var ROWS = [
    "1234567890".split(""),
    "qwertyuiop".split(""),
    "asdfghjkl-".split(""),
    ["shift"].concat("zxcvbnm".split("")).concat(["back"]),
    ["*", "?", ",", ".", "/", " ", "done"],
  ];
  var LABELS = { shift: "⇧", back: "⌫", " ": "space", done: "Done" };
  var CLOSE_AFTER_MS = 250;
  var osk = document.createElement("div");
  osk.id = "osk";
  osk.hidden = true;
  osk.setAttribute("aria-label", "on-screen keyboard");
  var field = null, shift = false;

  function editable(el) {
    if (!el || el.disabled || el.readOnly) return false;
    if (el.tagName === "TEXTAREA") return true;
    return el.tagName === "INPUT" && ["text", "search", "number", ""].indexOf(el.getAttribute("type") || "") >= 0;
  }
  function capitals() { return shift !== (field !== null && field.getAttribute("autocapitalize") === "characters"); }
  function relabel() {
    osk.querySelectorAll("button[data-key]").forEach(function (b) {
      var k = b.dataset.key;
      if (k.length === 1) b.textContent = capitals() ? k.toUpperCase() : k;
    });
    osk.querySelector("[data-key=shift]").classList.toggle("on", shift);
  }
  function changed() { field.dispatchEvent(new Event("input", { bubbles: true })); }
  function noCaret() { return field.type === "number" || field.selectionStart === null; }   // nothing to ask
  function insert(text) {
    var max = field.maxLength > 0 ? field.maxLength : Infinity;
    if (noCaret()) {
      if (field.value.length < max) field.value += text;
    } else {
      var a = field.selectionStart, b = field.selectionEnd;
      if (field.value.length - (b - a) >= max) return;
      field.setRangeText(text, a, b, "end");
    }
    changed();
  }
  function backspace() {
    if (noCaret()) field.value = field.value.slice(0, -1);
    else {
      var a = field.selectionStart, b = field.selectionEnd;
      if (a === b && a > 0) a -= 1;
      field.setRangeText("", a, b, "end");
    }
    changed();
  }
  function press(key) {
    if (!field) return;
    if (key === "shift") { shift = !shift; relabel(); return; }
    if (key === "back") { backspace(); return; }
    if (key === "done") { field.blur(); return; }
    insert(capitals() ? key.toUpperCase() : key);
  }
  ROWS.forEach(function (row) {
    row.forEach(function (key) {
      var b = document.createElement("button");
      b.type = "button";
      b.dataset.key = key;
      b.textContent = LABELS[key] || key;
      if (key === " ") b.className = "space";
      if (key === "back" || key === "done") b.className = "double";
      b.addEventListener("pointerdown", function (e) { e.preventDefault(); });   // keep the field's focus
      b.addEventListener("mousedown", function (e) { e.preventDefault(); });
      b.addEventListener("click", function () { press(key); });
      osk.appendChild(b);
    });
  });
  document.body.appendChild(osk);

  function open(el) {
    field = el;
    shift = false;
    relabel();
    osk.hidden = false;
    document.body.classList.add("osk-open");
    setTimeout(function () {   // the field, and its form's button too where both fit above the keyboard
      if (!field) return;
      var submit = field.form && field.form.querySelector("[type=submit]");
      if (submit) submit.scrollIntoView({ block: "nearest" });
      field.scrollIntoView({ block: "nearest" });
    }, 0);
  }
  function close() {
    field = null;
    osk.hidden = true;
    document.body.classList.remove("osk-open");
  }
  // Closing waits for the tap that moved the focus to end: a touch's mousedown moves the focus before its
  // click, and the page growing back under the finger would move the button it is pressing.
  var closing = null;
  document.addEventListener("focusin", function (e) {
    if (!editable(e.target)) return;
    clearTimeout(closing);
    open(e.target);
  });
  document.addEventListener("focusout", function (e) {
    if (editable(e.relatedTarget)) return;
    clearTimeout(closing);
    closing = setTimeout(function () { if (!editable(document.activeElement)) close(); }, CLOSE_AFTER_MS);
  });
  if (editable(document.activeElement)) open(document.activeElement);   // focused before this script ran
  window.__osk = { open: function () { return !osk.hidden; } };
})();
