// The PIN keypad: a touch display in a car has no keyboard.
(function () {
  "use strict";
  var pin = document.getElementById("pin");
  var user = document.getElementById("user");
  document.querySelectorAll(".keypad button").forEach(function (b) {
    b.addEventListener("click", function () {
      var k = b.dataset.key;
      if (k === "⌫") pin.value = pin.value.slice(0, -1);
      else if (k === "✓") document.getElementById("login").requestSubmit();
      else pin.value += k;
    });
  });
  (user.value ? pin : user).focus();
})();
