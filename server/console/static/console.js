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
  document.querySelectorAll("input[name='resolution']").forEach(function (radio) {
    radio.addEventListener("change", function () {
      var custom = document.getElementById("custom-value");
      if (custom) { custom.style.display = radio.value === "custom" && radio.checked ? "block" : "none"; }
    });
  });
});
