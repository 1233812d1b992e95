// ruhu clerk console: select-all boxes and confirmations; everything works without it too.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-select-all]").forEach(function (box) {
    box.addEventListener("change", function () {
      document.querySelectorAll("input[name='" + box.dataset.selectAll + "']").forEach(function (b) {
        b.checked = box.checked;
      });
    });
  });
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      if (!window.confirm(form.dataset.confirm)) { ev.preventDefault(); }
    });
  });
  var custom = document.getElementById("custom-value");
  function showCustom() {
    var picked = document.querySelector("input[name='resolution']:checked");
    if (custom) { custom.style.display = picked && picked.value === "custom" ? "block" : "none"; }
  }
  document.querySelectorAll("input[name='resolution']").forEach(function (radio) {
    radio.addEventListener("change", showCustom);
  });
  showCustom();
});
