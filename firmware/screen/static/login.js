// The keypad: a touch display in a car has no keyboard. It types into the field last touched (badge
// numbers as user ids, and the PIN); the PIN field is the default.
(function () {
  "use strict";
  var pin = document.getElementById("pin");
  var user = document.getElementById("user");
  var target = pin;
  [user, pin].forEach(function (f) { f.addEventListener("focus", function () { target = f; }); });
  document.querySelectorAll(".keypad button").forEach(function (b) {
    b.addEventListener("pointerdown", function (e) { e.preventDefault(); });   // keep the field's focus
    b.addEventListener("click", function () {
      var k = b.dataset.key;
      if (k === "⌫") target.value = target.value.slice(0, -1);
      else if (k === "✓") document.getElementById("login").requestSubmit();
      else target.value += k;
    });
  });
  (user.value ? pin : user).focus();
})();
