// The card desk: a tap on the box's reader (live.js fills #tapped-tag) or a keyboard-wedge
// reader's burst of keystrokes ending in Enter looks the card up at once.
(function () {
  "use strict";
  var input = document.getElementById("tapped-tag");
  var form = document.getElementById("tap-form");
  if (!input || !form) return;
  input.addEventListener("change", function () { if (input.value) form.submit(); });
  var times = [];
  input.addEventListener("keydown", function (event) {
    times.push(event.timeStamp);
    if (event.key !== "Enter") return;
    // A wedge reader types the whole UID in well under a second; a person is slower. Either
    // way Enter looks the card up; a burst also clears the field for the next card.
    var burst = times.length > 4 && (times[times.length - 1] - times[0]) / times.length < 40;
    times = [];
    if (burst) form.setAttribute("data-wedge", "1");
  });
  input.focus();
})();
