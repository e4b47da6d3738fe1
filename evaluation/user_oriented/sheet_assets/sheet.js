/* The rating sheet: one item at a time, A-D by mouse or keyboard, everything kept in
   localStorage under this sheet's id, exported as JSON for `import-ratings`. No network.
   With DATA.questions (the data-quality sheet) each item gets yes/no answers to those
   questions instead of one grade; the rest of the page works the same. */
(function () {
  "use strict";
  var DATA = JSON.parse(document.getElementById("sheet-data").textContent);
  var ITEMS = DATA.items;
  var GRADES = ["A", "B", "C", "D"];
  var QUESTIONS = DATA.questions || null;
  var EXPORT_FORMAT = DATA.export_format || "selfinstruct-user-oriented-ratings";
  var STORE_KEY = "selfinstruct-sheet:" + DATA.sheet_id;
  var $ = function (id) { return document.getElementById(id); };

  var storageOk = true;
  var state = { rater: "", index: 0, ratings: {}, autoAdvance: true };
  try {
    var saved = window.localStorage.getItem(STORE_KEY);
    if (saved) {
      var parsed = JSON.parse(saved);
      if (parsed && typeof parsed === "object" && parsed.ratings) { state = Object.assign(state, parsed); }
    }
  } catch (e) { storageOk = false; }
  if (!(state.index >= 0 && state.index < ITEMS.length)) { state.index = 0; }

  function save() {
    if (!storageOk) { return; }
    try { window.localStorage.setItem(STORE_KEY, JSON.stringify(state)); }
    catch (e) { storageOk = false; $("storage-warning").hidden = false; }
  }

  function entry(key) {
    if (!state.ratings[key]) { state.ratings[key] = { rating: null, note: "" }; }
    return state.ratings[key];
  }

  function answeredCount(r) {
    var n = 0;
    if (r && r.answers) { QUESTIONS.forEach(function (q) { if (r.answers[q.key]) { n++; } }); }
    return n;
  }

  function isDone(r) {
    if (!r) { return false; }
    return QUESTIONS ? answeredCount(r) === QUESTIONS.length : !!r.rating;
  }

  function ratedCount() {
    var n = 0;
    for (var i = 0; i < ITEMS.length; i++) {
      if (isDone(state.ratings[ITEMS[i].key])) { n++; }
    }
    return n;
  }

  function setText(id, text, emptyLabel) {
    var el = $(id);
    el.textContent = text ? text : emptyLabel;
    el.classList.toggle("empty", !text);
  }

  function render() {
    var item = ITEMS[state.index];
    var r = state.ratings[item.key] || { rating: null, note: "" };
    $("position").textContent = "Item " + (state.index + 1) + " of " + ITEMS.length;
    $("item-meta").textContent = DATA.blind ? "" : ("task " + item.id + " \u00b7 model " + item.model);
    setText("instruction", item.instruction, "(no instruction)");
    setText("input", item.input, "(no input)");
    setText("reference", item.reference, "(no reference)");
    setText("response", item.response, "(empty response)");
    var buttons = document.querySelectorAll(".grade");
    for (var i = 0; i < buttons.length; i++) {
      var selected = QUESTIONS ? (r.answers || {})[buttons[i].getAttribute("data-q")] === buttons[i].getAttribute("data-a")
                               : buttons[i].getAttribute("data-grade") === r.rating;
      buttons[i].classList.toggle("selected", selected);
      buttons[i].setAttribute("aria-pressed", selected ? "true" : "false");
    }
    if (document.activeElement !== $("note")) { $("note").value = r.note || ""; }
    $("saved-flag").hidden = !isDone(r);
    var done = ratedCount();
    $("progress-text").textContent = done + " / " + ITEMS.length + " rated";
    $("progress-bar").style.width = (ITEMS.length ? (100 * done / ITEMS.length) : 0) + "%";
    $("prev").disabled = state.index === 0;
    $("next").disabled = state.index === ITEMS.length - 1;
    $("rater-name").value = state.rater || "";
    $("auto-advance").checked = state.autoAdvance !== false;
    document.body.setAttribute("data-index", String(state.index));
    document.body.setAttribute("data-rated", String(done));
  }

  function go(index) {
    state.index = Math.max(0, Math.min(ITEMS.length - 1, index));
    save();
    render();
    window.scrollTo(0, 0);
  }

  function rate(grade) {
    var e = entry(ITEMS[state.index].key);
    e.rating = grade;
    if (QUESTIONS && !grade) { e.answers = {}; }
    e.updated = new Date().toISOString();
    save();
    if (grade && state.autoAdvance !== false && state.index < ITEMS.length - 1) { go(state.index + 1); }
    else { render(); }
  }

  function answer(key, value) {
    var e = entry(ITEMS[state.index].key);
    e.answers = e.answers || {};
    e.answers[key] = value;
    e.updated = new Date().toISOString();
    save();
    if (isDone(e) && state.autoAdvance !== false && state.index < ITEMS.length - 1) { go(state.index + 1); }
    else { render(); }
  }

  function nextUnrated() {
    for (var step = 1; step <= ITEMS.length; step++) {
      var i = (state.index + step) % ITEMS.length;
      if (!isDone(state.ratings[ITEMS[i].key])) { go(i); return; }
    }
  }

  function exportRatings() {
    var out = [];
    for (var i = 0; i < ITEMS.length; i++) {
      var item = ITEMS[i];
      var r = state.ratings[item.key];
      if (!r || (!r.rating && !answeredCount(QUESTIONS ? r : null) && !r.note)) { continue; }
      var row = { key: item.key, rating: r.rating || null, note: r.note || "", updated: r.updated || null };
      if (QUESTIONS) { row.answers = r.answers || {}; }
      if (!DATA.blind) { row.id = item.id; row.model = item.model; }
      out.push(row);
    }
    var payload = {
      format: EXPORT_FORMAT, version: 1, sheet_id: DATA.sheet_id,
      blind: DATA.blind, rater: state.rater || "", exported_at: new Date().toISOString(),
      items: ITEMS.length, ratings: out
    };
    var text = JSON.stringify(payload, null, 2);
    $("export-json").value = text;
    $("export-panel").hidden = false;
    try {
      var url = URL.createObjectURL(new Blob([text], { type: "application/json" }));
      var a = el("a");
      var who = (state.rater || "rater").replace(/[^A-Za-z0-9_-]+/g, "_");
      a.href = url;
      a.download = "ratings-" + who + "-" + DATA.sheet_id + ".json";
      document.body.appendChild(a);
      a.click();
      document.body.removeChild(a);
      setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
    } catch (e) { /* the text box above still has everything */ }
    return text;
  }

  function el(tag, text) {
    var node = document.createElement(tag);
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function buildQuestionButtons() {
    var box = $("grade-buttons");
    box.className = "questions";
    document.querySelector(".reference").hidden = true;
    document.querySelector(".response h2").textContent = DATA.response_label || "Output";
    document.querySelector(".help p").textContent = "Click yes or no for each question \u00b7 \u2190/p previous \u00b7 " +
      "\u2192/n next \u00b7 u next unanswered \u00b7 x clear \u00b7 Enter edit the note \u00b7 e export";
    QUESTIONS.forEach(function (q, i) {
      var row = el("div");
      row.className = "question";
      row.appendChild(el("p", (i + 1) + ". " + q.text));
      ["yes", "no"].forEach(function (a) {
        var b = el("button", a);
        b.type = "button";
        b.className = "grade answer";
        b.id = "answer-" + q.key + "-" + a;
        b.setAttribute("data-q", q.key);
        b.setAttribute("data-a", a);
        b.addEventListener("click", function () { answer(q.key, a); });
        row.appendChild(b);
      });
      box.appendChild(row);
      $("scale").appendChild(el("dt", String(i + 1)));
      $("scale").appendChild(el("dd", q.text));
    });
  }

  function buildGradeButtons() {
    if (QUESTIONS) { buildQuestionButtons(); return; }
    var box = $("grade-buttons");
    var scale = $("scale");
    GRADES.forEach(function (g, i) {
      var b = el("button");
      b.type = "button";
      b.className = "grade";
      b.id = "grade-" + g;
      b.setAttribute("data-grade", g);
      b.title = "Rate " + g + " (" + g.toLowerCase() + " or " + (i + 1) + ")";
      b.appendChild(el("b", g));
      b.appendChild(el("span", DATA.grades[g]));
      b.addEventListener("click", function () { rate(g); });
      box.appendChild(b);
      scale.appendChild(el("dt", g));
      scale.appendChild(el("dd", DATA.grades[g]));
    });
  }

  function onKey(ev) {
    var t = ev.target;
    var typing = t && (t.tagName === "TEXTAREA" || (t.tagName === "INPUT" && t.type === "text"));
    if (typing) {
      if (ev.key === "Escape") { t.blur(); ev.preventDefault(); }
      return;
    }
    if (ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
    var k = ev.key;
    var lower = k.length === 1 ? k.toLowerCase() : k;
    var idx = "abcd".indexOf(lower);
    if (idx < 0) { idx = "1234".indexOf(k); }
    if (QUESTIONS) { idx = -1; }
    if (k.length === 1 && idx >= 0) { rate(GRADES[idx]); ev.preventDefault(); return; }
    if (k === "ArrowRight" || lower === "n") { go(state.index + 1); ev.preventDefault(); }
    else if (k === "ArrowLeft" || lower === "p") { go(state.index - 1); ev.preventDefault(); }
    else if (lower === "u") { nextUnrated(); ev.preventDefault(); }
    else if (lower === "x") { rate(null); ev.preventDefault(); }
    else if (lower === "e") { exportRatings(); ev.preventDefault(); }
    else if (k === "Enter") { $("note").focus(); ev.preventDefault(); }
  }

  buildGradeButtons();
  if (!storageOk) { $("storage-warning").hidden = false; }
  $("prev").addEventListener("click", function () { go(state.index - 1); });
  $("next").addEventListener("click", function () { go(state.index + 1); });
  $("next-unrated").addEventListener("click", nextUnrated);
  $("clear-rating").addEventListener("click", function () { rate(null); });
  $("export").addEventListener("click", exportRatings);
  $("note").addEventListener("input", function () {
    var e = entry(ITEMS[state.index].key);
    e.note = $("note").value;
    e.updated = new Date().toISOString();
    save();
  });
  $("rater-name").addEventListener("input", function () { state.rater = $("rater-name").value.trim(); save(); });
  $("auto-advance").addEventListener("change", function () { state.autoAdvance = $("auto-advance").checked; save(); });
  document.addEventListener("keydown", onKey);
  window.selfinstructSheet = { exportRatings: exportRatings, state: function () { return state; } };
  render();
})();
