/* The decision-table editor: rows × condition and result columns, test cases, simulation.
 *
 * No library and nothing from the internet. The grid is drawn in one pass (one HTML string,
 * one innerHTML) and every edit is handled by a few listeners on the table (event delegation),
 * so a table of 200 rows and 20 columns stays responsive: typing changes the model only, a
 * structural change (row added, moved, removed; column added, removed) redraws the body once.
 * Save posts the whole document; the console answers with the saved version and its analysis
 * findings, or with every cell error, each shown next to its cell.
 */
(function () {
  "use strict";

  var cfg = JSON.parse(document.getElementById("editor-config").textContent);
  var T = cfg.text;
  var editable = cfg.editable;
  var csrf = document.getElementById("csrf-token").value;
  var doc = clone(cfg.version.document);
  var tests = clone(cfg.version.tests || []);
  var findings = cfg.version.findings || [];
  // Cell errors per row object (so they follow a row that moves): row -> {column: message}.
  var rowErrors = new WeakMap();
  var testResults = [];
  var dirty = false;
  var factsByName = {};
  cfg.facts.forEach(function (f) { factsByName[f.name] = f; });
  var outputsByName = {};
  cfg.outputs.forEach(function (o) { outputsByName[o.name] = o; });

  var grid = document.getElementById("grid");
  var testsTable = document.getElementById("tests");
  var saveState = document.getElementById("save-state");
  var saveErrors = document.getElementById("save-errors");
  var api = { renderMs: 0, renders: 0 };
  window.rulesEditor = api;

  // --- helpers -------------------------------------------------------------------------------

  function clone(value) { return JSON.parse(JSON.stringify(value)); }

  function esc(value) {
    if (value === null || value === undefined) { return ""; }
    return String(value).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function fill(text, values) {
    return text.replace(/\{(\w+)\}/g, function (_, key) { return values[key]; });
  }

  function post(url, body) {
    var options = {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrf, "Accept": "application/json" }
    };
    if (body instanceof FormData) {
      options.body = body;
    } else {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body || {});
    }
    return fetch(url, options).then(function (response) {
      return response.json().catch(function () { return { message: response.statusText }; })
        .then(function (data) { return { ok: response.ok, status: response.status, data: data }; });
    });
  }

  function markDirty() {
    dirty = true;
    saveState.textContent = T.unsaved;
    saveState.className = "text-warning";
  }

  function outputValue(column, text) {
    if (text === "") { return null; }
    if (column.type === "number" || column.type === "integer") {
      var trimmed = text.trim();
      return /^[-+]?\d+(\.\d+)?$/.test(trimmed) ? Number(trimmed) : text;
    }
    if (column.type === "boolean") { return text === "true"; }
    return text;
  }

  function factValue(fact, text) {
    if (fact && (fact.type === "number" || fact.type === "integer")) {
      var trimmed = text.trim();
      return /^[-+]?\d+(\.\d+)?$/.test(trimmed) ? Number(trimmed) : text;
    }
    if (fact && fact.type === "boolean") { return text === "true"; }
    return text;
  }

  function shown(value) {
    if (value === null || value === undefined) { return ""; }
    return typeof value === "string" ? value : JSON.stringify(value);
  }

  function factTitle(name) {
    var fact = factsByName[name];
    return fact ? fact.label : name;
  }

  function choiceOptions(values, selected, blankLabel) {
    var html = '<option value=""' + (selected === null || selected === undefined || selected === "" ? " selected" : "") + ">" + esc(blankLabel) + "</option>";
    values.forEach(function (value) {
      html += '<option value="' + esc(value) + '"' + (String(selected) === String(value) ? " selected" : "") + ">" + esc(value) + "</option>";
    });
    return html;
  }

  // --- the grid ------------------------------------------------------------------------------

  function columnKey(kind, name) { return kind + ":" + name; }

  function headHtml() {
    var inputs = doc.inputs, outputs = doc.outputs;
    var h = "<thead><tr>";
    h += '<th rowspan="2">#</th><th rowspan="2">' + esc(T.row_id) + "</th>";
    h += '<th class="col-in" colspan="' + inputs.length + '">' + esc(T.inputs) + "</th>";
    h += '<th class="col-out" colspan="' + outputs.length + '">' + esc(T.outputs) + "</th>";
    h += '<th rowspan="2">' + esc(T.annotation) + "</th>";
    if (editable) { h += '<th rowspan="2">' + esc(T.actions) + "</th>"; }
    h += "</tr><tr>";
    inputs.forEach(function (column, i) {
      var fact = factsByName[column.fact] || { label: column.fact, unit: "", type_label: column.type };
      h += '<th class="col-in" data-input="' + esc(column.fact) + '" title="' + esc(fact.type_label) + '">' + esc(fact.label);
      if (fact.unit) { h += ' <span class="col-unit">(' + esc(fact.unit) + ")</span>"; }
      h += "<br><code>" + esc(column.fact) + "</code>";
      if (editable) {
        h += ' <span class="col-tools"><button type="button" class="btn btn-link" data-action="remove-input" data-i="' + i + '" title="' + esc(T.remove_column) + '">&times;</button></span>';
      }
      h += "</th>";
    });
    outputs.forEach(function (column, i) {
      var spec = outputsByName[column.name];
      h += '<th class="col-out" data-output="' + esc(column.name) + '">' + esc(spec ? spec.label : column.name);
      h += "<br><code>" + esc(column.name) + "</code>";
      if (editable && !(spec && spec.required)) {
        h += ' <span class="col-tools"><button type="button" class="btn btn-link" data-action="remove-output" data-i="' + i + '" title="' + esc(T.remove_column) + '">&times;</button></span>';
      }
      h += "</th>";
    });
    return h + "</tr></thead>";
  }

  function errorHtml(errors, key) {
    return errors && errors[key] ? '<div class="cell-msg">' + esc(errors[key]) + "</div>" : "";
  }

  function cellTd(r, key, control, errors) {
    var bad = errors && errors[key];
    return '<td data-r="' + r + '" data-key="' + esc(key) + '"' + (bad ? ' class="has-error"' : "") + ">" + control + errorHtml(errors, key) + "</td>";
  }

  function outputControl(column, value) {
    if (!editable) { return '<span class="ro">' + esc(shown(value)) + "</span>"; }
    if (column.type === "enum") {
      return '<select data-out="' + esc(column.name) + '">' + choiceOptions(column.values || [], value, T.none) + "</select>";
    }
    if (column.type === "boolean") {
      return '<select data-out="' + esc(column.name) + '">' + choiceOptions(["true", "false"], value === null || value === undefined ? null : String(value), T.none) + "</select>";
    }
    return '<input type="text" data-out="' + esc(column.name) + '" value="' + esc(shown(value)) + '">';
  }

  function rowHtml(row, r) {
    var errors = rowErrors.get(row);
    var h = '<tr id="row-' + esc(row.id) + '" data-r="' + r + '">';
    h += '<td class="rownum">' + (r + 1) + "</td>";
    h += cellTd(r, "id", editable ? '<input type="text" data-field="id" value="' + esc(row.id) + '">' : '<span class="ro">' + esc(row.id) + "</span>", errors);
    var when = row.when || {};
    doc.inputs.forEach(function (column) {
      var text = when[column.fact] === undefined ? "-" : when[column.fact];
      var control = editable
        ? '<input type="text" class="cell" data-in="' + esc(column.fact) + '" value="' + esc(text) + '">'
        : '<span class="ro">' + esc(text) + "</span>";
      h += cellTd(r, columnKey("in", column.fact), control, errors);
    });
    var then = row.then || {};
    doc.outputs.forEach(function (column) {
      h += cellTd(r, columnKey("out", column.name), outputControl(column, then[column.name]), errors);
    });
    h += "<td>" + (editable ? '<input type="text" data-field="annotation" value="' + esc(row.annotation || "") + '">' : "<small>" + esc(row.annotation || "") + "</small>") + "</td>";
    if (editable) {
      h += '<td class="row-actions">' +
        '<button type="button" class="btn btn-xs btn-default" data-action="up" title="' + esc(T.move_up) + '"><i class="fa fa-arrow-up"></i></button>' +
        '<button type="button" class="btn btn-xs btn-default" data-action="down" title="' + esc(T.move_down) + '"><i class="fa fa-arrow-down"></i></button>' +
        '<button type="button" class="btn btn-xs btn-default" data-action="copy" title="' + esc(T.duplicate_row) + '"><i class="fa fa-copy"></i></button>' +
        '<button type="button" class="btn btn-xs btn-danger" data-action="remove" title="' + esc(T.remove_row) + '"><i class="fa fa-trash"></i></button></td>';
    }
    return h + "</tr>";
  }

  function renderGrid() {
    var started = performance.now();
    var parts = [headHtml(), "<tbody>"];
    for (var r = 0; r < doc.rows.length; r++) { parts.push(rowHtml(doc.rows[r], r)); }
    parts.push("</tbody>");
    grid.innerHTML = parts.join("");
    api.renderMs = performance.now() - started;
    api.renders += 1;
    renderColumnChoices();
  }

  function renderColumnChoices() {
    if (!editable) { return; }
    var used = {};
    doc.inputs.forEach(function (c) { used[c.fact] = true; });
    var html = '<option value="">' + esc(document.getElementById("add-input").options[0].text) + "</option>";
    cfg.facts.forEach(function (fact) {
      if (!used[fact.name]) {
        html += '<option value="' + esc(fact.name) + '">' + esc(fact.label + (fact.unit ? " (" + fact.unit + ")" : "") + " · " + fact.name + " · " + fact.type_label) + "</option>";
      }
    });
    document.getElementById("add-input").innerHTML = html;
    var outs = {};
    doc.outputs.forEach(function (c) { outs[c.name] = true; });
    html = '<option value="">' + esc(document.getElementById("add-output").options[0].text) + "</option>";
    cfg.outputs.forEach(function (output) {
      if (!outs[output.name]) {
        html += '<option value="' + esc(output.name) + '">' + esc(output.label + " · " + output.name + " · " + output.type_label) + "</option>";
      }
    });
    document.getElementById("add-output").innerHTML = html;
  }

  function setCellError(row, key, message) {
    var errors = rowErrors.get(row) || {};
    if (message) { errors[key] = message; } else { delete errors[key]; }
    rowErrors.set(row, errors);
    var r = doc.rows.indexOf(row);
    var td = r < 0 ? null : grid.querySelector('td[data-r="' + r + '"][data-key="' + cssEscape(key) + '"]');
    if (!td) { return; }
    var old = td.querySelector(".cell-msg");
    if (old) { old.remove(); }
    td.classList.toggle("has-error", Boolean(message));
    if (message) { td.insertAdjacentHTML("beforeend", errorHtml(errors, key)); }
  }

  function cssEscape(text) { return window.CSS && CSS.escape ? CSS.escape(text) : text; }

  function nextRowId() {
    var used = {};
    doc.rows.forEach(function (row) { used[row.id] = true; });
    var n = doc.rows.length + 1;
    while (used["R" + n]) { n += 1; }
    return "R" + n;
  }

  function blankRow() {
    var row = { id: nextRowId(), when: {}, then: {} };
    doc.inputs.forEach(function (c) { row.when[c.fact] = "-"; });
    doc.outputs.forEach(function (c) { row.then[c.name] = null; });
    return row;
  }

  function gridInput(event) {
    var target = event.target;
    var td = target.closest("td[data-r]");
    if (!td) { return; }
    var row = doc.rows[Number(td.dataset.r)];
    if (target.dataset.in) {
      row.when[target.dataset.in] = target.value;
    } else if (target.dataset.out) {
      var column = doc.outputs.filter(function (c) { return c.name === target.dataset.out; })[0];
      row.then[column.name] = outputValue(column, target.value);
    } else if (target.dataset.field === "id") {
      row.id = target.value.trim();
    } else if (target.dataset.field === "annotation") {
      if (target.value) { row.annotation = target.value; } else { delete row.annotation; }
    }
    markDirty();
  }

  function validateCell(event) {
    var target = event.target;
    if (!target.dataset || !target.dataset.in) { return; }
    var td = target.closest("td[data-r]");
    var checked = target.dataset.checked !== undefined ? target.dataset.checked : target.defaultValue;
    if (target.value === checked && !td.classList.contains("has-error")) { return; }
    target.dataset.checked = target.value;
    var row = doc.rows[Number(td.dataset.r)];
    var key = columnKey("in", target.dataset.in);
    var text = target.value;
    post(cfg.urls.validate, { fact: target.dataset.in, text: text }).then(function (answer) {
      if (row.when[target.dataset.in] !== text) { return; } // changed again since
      setCellError(row, key, answer.ok && answer.data.ok === false ? answer.data.message : (answer.ok ? null : answer.data.message));
    }).catch(function () { /* the save reports it */ });
  }

  function gridClick(event) {
    var button = event.target.closest("button[data-action]");
    if (!button) { return; }
    var action = button.dataset.action;
    if (action === "remove-input") {
      var fact = doc.inputs[Number(button.dataset.i)].fact;
      doc.inputs.splice(Number(button.dataset.i), 1);
      doc.rows.forEach(function (row) { delete row.when[fact]; });
    } else if (action === "remove-output") {
      var name = doc.outputs[Number(button.dataset.i)].name;
      doc.outputs.splice(Number(button.dataset.i), 1);
      doc.rows.forEach(function (row) { delete row.then[name]; });
    } else {
      var r = Number(button.closest("tr").dataset.r);
      var rows = doc.rows;
      if (action === "up" && r > 0) {
        rows.splice(r - 1, 0, rows.splice(r, 1)[0]);
      } else if (action === "down" && r < rows.length - 1) {
        rows.splice(r + 1, 0, rows.splice(r, 1)[0]);
      } else if (action === "copy") {
        var copy = clone(rows[r]);
        copy.id = nextRowId();
        rows.splice(r + 1, 0, copy);
      } else if (action === "remove" && rows.length > 0) {
        rows.splice(r, 1);
      } else {
        return;
      }
    }
    markDirty();
    renderGrid();
    renderTests();
  }

  // --- findings ------------------------------------------------------------------------------

  function renderFindings() {
    var box = document.getElementById("findings");
    var counts = {};
    findings.forEach(function (f) { counts[f.kind] = (counts[f.kind] || 0) + 1; });
    document.getElementById("findings-summary").innerHTML = Object.keys(counts).map(function (kind) {
      var style = kind === "overlap" || kind === "type_conflict" ? "danger" : "warning";
      return '<span class="label label-' + style + '">' + esc(cfg.findings[kind] || kind) + " " + counts[kind] + "</span>";
    }).join("");
    if (!findings.length) {
      box.innerHTML = '<p class="text-success" id="no-findings"><i class="fa fa-check"></i> ' + esc(T.no_findings) + "</p>";
      return;
    }
    box.innerHTML = findings.map(function (f) {
      var example = f.example ? Object.keys(f.example).map(function (k) {
        return esc(factTitle(k)) + " <code>" + esc(k) + " = " + esc(JSON.stringify(f.example[k])) + "</code>";
      }).join(", ") : "";
      var style = f.kind === "overlap" || f.kind === "type_conflict" ? "danger" : "warning";
      return '<div class="finding alert alert-' + style + '" data-kind="' + esc(f.kind) + '">' +
        "<strong>" + esc(cfg.findings[f.kind] || f.kind) + "</strong> · " + esc(T.rows) + ": " +
        (f.rows || []).map(function (id) { return '<a href="#row-' + esc(id) + '">' + esc(id) + "</a>"; }).join(", ") +
        "<br>" + esc(f.message || "") +
        (example ? "<br><small>" + esc(T.example) + ": " + example + "</small>" : "") + "</div>";
    }).join("");
  }

  // --- saving --------------------------------------------------------------------------------

  function showSaveErrors(messages) {
    if (!messages.length) { saveErrors.hidden = true; saveErrors.innerHTML = ""; return; }
    saveErrors.hidden = false;
    saveErrors.innerHTML = messages.map(function (m) { return "<div>" + esc(m) + "</div>"; }).join("");
  }

  function save() {
    if (!editable) { return Promise.resolve(true); }
    var sentRows = doc.rows.slice();
    saveState.textContent = T.saving;
    saveState.className = "text-muted";
    return post(cfg.urls.save, { document: doc, tests: tests }).then(function (answer) {
      if (answer.ok) {
        cfg.version = answer.data.version;
        doc = clone(answer.data.version.document);
        tests = clone(answer.data.version.tests || []);
        findings = answer.data.version.findings || [];
        rowErrors = new WeakMap();
        dirty = false;
        saveState.textContent = T.saved;
        saveState.className = "text-success";
        showSaveErrors([]);
        renderGrid();
        renderFindings();
        renderTests();
        return true;
      }
      rowErrors = new WeakMap();
      var general = [answer.data.message || T.save_failed];
      (answer.data.errors || []).forEach(function (error) {
        var row = error.index !== null && error.index !== undefined ? sentRows[error.index] : null;
        if (row && error.column) {
          var key = error.column === "id" ? "id" : (outputsOf(error.column) ? columnKey("out", error.column) : columnKey("in", error.column));
          var errors = rowErrors.get(row) || {};
          errors[key] = error.message;
          rowErrors.set(row, errors);
        } else {
          general.push([error.row, error.column, error.message].filter(Boolean).join(" · "));
        }
      });
      if (answer.data.errors && answer.data.errors.length) {
        general[0] = fill(T.cell_errors, { count: answer.data.errors.length }) + " — " + general[0];
      }
      saveState.textContent = T.save_failed;
      saveState.className = "text-danger";
      showSaveErrors(general);
      renderGrid();
      return false;
    }).catch(function () {
      saveState.textContent = T.network;
      saveState.className = "text-danger";
      return false;
    });
  }

  function outputsOf(name) {
    return doc.outputs.some(function (c) { return c.name === name; }) &&
      !doc.inputs.some(function (c) { return c.fact === name; });
  }

  // --- test cases ----------------------------------------------------------------------------

  function testInputs() { return doc.inputs.map(function (c) { return c.fact; }); }

  function renderTests() {
    var facts = testInputs();
    var outputs = doc.outputs;
    var h = "<thead><tr><th>" + esc(T.test_name) + "</th>";
    facts.forEach(function (name) {
      h += '<th class="col-in" title="' + esc(T.test_facts_hint) + '">' + esc(factTitle(name)) + "<br><code>" + esc(name) + "</code></th>";
    });
    outputs.forEach(function (column) {
      var spec = outputsByName[column.name];
      h += '<th class="col-out" title="' + esc(T.expect_hint) + '">' + esc(T.expect) + ": " + esc(spec ? spec.label : column.name) + "<br><code>" + esc(column.name) + "</code></th>";
    });
    h += '<th title="' + esc(T.expect_rows_hint) + '">' + esc(T.expect_rows) + "</th>";
    h += "<th>" + esc(T.expect_no_match) + "</th><th>" + esc(T.result) + "</th>" + (editable ? "<th></th>" : "") + "</tr></thead><tbody>";
    if (!tests.length) {
      h += '<tr><td colspan="' + (facts.length + outputs.length + 5) + '" class="text-muted" id="no-tests">' + esc(T.no_tests) + "</td></tr>";
    }
    tests.forEach(function (test, t) {
      var result = testResults[t];
      h += '<tr data-t="' + t + '" class="test-row">';
      h += "<td>" + (editable ? '<input type="text" data-test-field="name" value="' + esc(test.name) + '">' : esc(test.name)) + "</td>";
      facts.forEach(function (name) {
        var value = test.facts ? test.facts[name] : undefined;
        var fact = factsByName[name];
        var control;
        if (!editable) {
          control = esc(shown(value));
        } else if (fact && (fact.type === "enum" || fact.type === "boolean")) {
          var values = fact.type === "enum" ? fact.values : ["true", "false"];
          control = '<select data-test-fact="' + esc(name) + '">' + choiceOptions(values, value === undefined || value === null ? null : String(value), "") + "</select>";
        } else {
          control = '<input type="text" data-test-fact="' + esc(name) + '" value="' + esc(shown(value)) + '">';
        }
        h += "<td>" + control + "</td>";
      });
      var noMatch = test.expect === null;
      if (Array.isArray(test.expect)) {
        // COLLECT: several hits expected; shown (and edited) as their JSON.
        h += '<td colspan="' + outputs.length + '" title="' + esc(T.collect_expect) + '">' + (editable
          ? '<input type="text" data-test-field="expect-json" value="' + esc(JSON.stringify(test.expect)) + '">'
          : "<code>" + esc(JSON.stringify(test.expect)) + "</code>") + "</td>";
      }
      outputs.forEach(function (column) {
        if (Array.isArray(test.expect)) { return; }
        var value = test.expect ? test.expect[column.name] : undefined;
        var control;
        if (!editable) {
          control = esc(shown(value));
        } else if (column.type === "enum" || column.type === "boolean") {
          var values = column.type === "enum" ? column.values : ["true", "false"];
          control = '<select data-test-expect="' + esc(column.name) + '"' + (noMatch ? " disabled" : "") + ">" + choiceOptions(values, value === undefined || value === null ? null : String(value), "") + "</select>";
        } else {
          control = '<input type="text" data-test-expect="' + esc(column.name) + '" value="' + esc(shown(value)) + '"' + (noMatch ? " disabled" : "") + ">";
        }
        h += "<td>" + control + "</td>";
      });
      var rowsText = Array.isArray(test.expect_rows) ? test.expect_rows.join(", ") : "";
      h += "<td>" + (editable ? '<input type="text" data-test-field="expect-rows" value="' + esc(rowsText) + '">' : esc(rowsText)) + "</td>";
      h += '<td><input type="checkbox" data-test-field="no-match"' + (noMatch ? " checked" : "") + (editable ? "" : " disabled") + "></td>";
      h += '<td class="test-result">';
      if (result) {
        h += result.passed ? '<span class="passed">✓ ' + esc(T.passed) + "</span>" :
          '<span class="failed">✗ ' + esc(T.failed) + "</span> <small>" + esc(result.message || "") +
          (result.got !== undefined && result.got !== null ? "<br>" + esc(T.got) + ": <code>" + esc(JSON.stringify(result.got)) + "</code>" : "") + "</small>";
      }
      h += "</td>";
      if (editable) { h += '<td><button type="button" class="btn btn-xs btn-danger" data-test-action="remove"><i class="fa fa-trash"></i></button></td>'; }
      h += "</tr>";
    });
    testsTable.innerHTML = h + "</tbody>";
  }

  function testInput(event) {
    var target = event.target;
    var tr = target.closest("tr[data-t]");
    if (!tr) { return; }
    var test = tests[Number(tr.dataset.t)];
    test.facts = test.facts || {};
    if (target.dataset.testField === "name") {
      test.name = target.value;
    } else if (target.dataset.testField === "no-match") {
      if (target.checked) { test.expect = null; } else { delete test.expect; }
      tidyExpect(test);
      renderTests();
    } else if (target.dataset.testField === "expect-rows") {
      var ids = target.value.split(/[\s,，、;；]+/).filter(Boolean);
      if (target.value.trim() === "") { delete test.expect_rows; } else { test.expect_rows = ids; }
      tidyExpect(test);
    } else if (target.dataset.testField === "expect-json") {
      try { test.expect = JSON.parse(target.value); } catch (e) { /* kept as typed until valid */ }
    } else if (target.dataset.testFact) {
      var name = target.dataset.testFact;
      if (target.value === "") { delete test.facts[name]; } else { test.facts[name] = factValue(factsByName[name], target.value); }
    } else if (target.dataset.testExpect) {
      var output = target.dataset.testExpect;
      var column = doc.outputs.filter(function (c) { return c.name === output; })[0];
      test.expect = test.expect || {};
      if (target.value === "") { delete test.expect[output]; } else { test.expect[output] = outputValue(column, target.value); }
      tidyExpect(test);
    }
    testResults = [];
    markDirty();
  }

  // An empty expectation is left out when the expected rows say what is expected (an empty
  // "expect" object is not a test), and kept otherwise so the run says what is missing.
  function tidyExpect(test) {
    var empty = test.expect && !Array.isArray(test.expect) && Object.keys(test.expect).length === 0;
    if (test.expect === undefined && test.expect_rows === undefined) { test.expect = {}; }
    if (empty && test.expect_rows !== undefined) { delete test.expect; }
  }

  function testClick(event) {
    var button = event.target.closest("button[data-test-action]");
    if (!button) { return; }
    tests.splice(Number(button.closest("tr").dataset.t), 1);
    testResults = [];
    markDirty();
    renderTests();
  }

  function uniqueTestName(base) {
    var names = {};
    tests.forEach(function (t) { names[t.name] = true; });
    if (!names[base]) { return base; }
    var n = 2;
    while (names[base + " (" + n + ")"]) { n += 1; }
    return base + " (" + n + ")";
  }

  function runTests() {
    var summary = document.getElementById("tests-summary");
    summary.textContent = "…";
    var body = editable ? { document: doc, tests: tests } : {};
    return post(cfg.urls.run_tests, body).then(function (answer) {
      if (!answer.ok) {
        summary.innerHTML = '<span class="text-danger">' + esc(answer.data.message) + "</span>";
        return;
      }
      testResults = answer.data.results;
      summary.innerHTML = '<span class="' + (answer.data.failed ? "text-danger" : "text-success") + '" id="tests-result">' +
        esc(fill(T.tests_summary, { passed: answer.data.passed, failed: answer.data.failed })) + "</span>";
      renderTests();
    });
  }

  function uploadTests(event) {
    var file = event.target.files[0];
    if (!file) { return; }
    var form = new FormData();
    form.append("file", file);
    var report = document.getElementById("upload-report");
    post(cfg.urls.upload_tests, form).then(function (answer) {
      event.target.value = "";
      if (!answer.ok) {
        report.hidden = false;
        report.className = "alert alert-danger";
        report.textContent = answer.data.message;
        return;
      }
      answer.data.tests.forEach(function (test) {
        test.name = uniqueTestName(test.name);
        tests.push(test);
      });
      var lines = [fill(T.uploaded, { count: answer.data.tests.length })];
      answer.data.errors.forEach(function (e) {
        lines.push(fill(T.upload_row, { row: e.row }) + (e.column ? " · " + e.column : "") + ": " + e.reason);
      });
      report.hidden = false;
      report.className = answer.data.errors.length ? "alert alert-warning" : "alert alert-success";
      report.innerHTML = lines.map(function (l) { return "<div>" + esc(l) + "</div>"; }).join("");
      testResults = [];
      markDirty();
      renderTests();
      if (answer.data.tests.length) { save(); }
    });
  }

  // --- simulation ----------------------------------------------------------------------------

  var polling = null;

  function renderSimulation(state) {
    var bar = document.getElementById("simulation-progress");
    var label = document.getElementById("simulation-state");
    var progress = state.progress || {};
    if (state.state === "queued" || state.state === "started" || state.state === "deferred" || state.state === "scheduled") {
      bar.hidden = false;
      var percent = progress.total ? Math.round(100 * progress.done / progress.total) : 0;
      bar.firstElementChild.style.width = percent + "%";
      bar.firstElementChild.textContent = progress.total ? progress.done + " / " + progress.total : "";
      label.textContent = state.state === "queued" ? T.queued : T.running + " " + percent + "%";
      return false;
    }
    bar.hidden = true;
    if (state.state === "failed") {
      label.innerHTML = '<span class="text-danger">' + esc(state.reason || T.failed_job) + "</span>";
    } else if (state.state === "unavailable") {
      label.textContent = T.unavailable;
    } else {
      label.textContent = state.result ? T.finished : "";
    }
    if (state.result) { renderSimulationResult(state.result); }
    return true;
  }

  function table(headers, rows, id) {
    return '<table class="table table-condensed table-bordered"' + (id ? ' id="' + id + '"' : "") + "><thead><tr>" +
      headers.map(function (h) { return "<th>" + esc(h) + "</th>"; }).join("") + "</tr></thead><tbody>" +
      rows.map(function (cells) { return "<tr>" + cells.map(function (c) { return "<td>" + esc(shown(c)) + "</td>"; }).join("") + "</tr>"; }).join("") +
      "</tbody></table>";
  }

  function renderSimulationResult(result) {
    var box = document.getElementById("simulation-result");
    var L = cfg.labels;
    if (result.error) {
      box.innerHTML = '<div class="alert alert-danger" id="simulation-error">' + esc(result.error) + "</div>";
      return;
    }
    var h = "";
    if (result.draft && result.draft.checksum && result.draft.checksum !== cfg.version.checksum) {
      h += '<div class="alert alert-warning" id="simulation-stale">' + esc(T.stale) + "</div>";
    }
    h += '<p id="simulation-summary">' + esc(T.evaluated) + ': <b id="simulation-cases">' + esc(result.cases) + "</b>";
    h += " · " + esc(T.running_version) + ": <b>" + esc(result.running ? result.running.name + " v" + result.running.version : T.none) + "</b>";
    h += " · " + esc(T.as_of) + " " + esc(result.as_of || "") + "</p>";
    var changed = result.changed || {};
    var transitions = result.transitions || {};
    var order = ["any", "rows", "team", "collector", "priority_level", "priority_score", "strategy", "next_action", "segment", "arm", "alerts"];
    var keys = order.filter(function (k) { return k in changed; }).concat(Object.keys(changed).filter(function (k) { return order.indexOf(k) < 0; }));
    h += table([T.field, T.changed, T.transitions], keys.map(function (k) {
      var top = (transitions[k] || {}).top || [];
      var text = top.slice(0, 5).map(function (t) { return shown(t.from) + " → " + shown(t.to) + " (" + t.cases + ")"; }).join("; ");
      return [L[k] || k, changed[k], text];
    }), "simulation-changes");
    var workload = result.workload || {};
    var sections = [["teams", T.team], ["collectors", T.collector]];
    sections.forEach(function (section) {
      var list = workload[section[0]] || [];
      if (!list.length) { return; }
      h += "<h4>" + esc(T.workload) + " · " + esc(section[1]) + "</h4>";
      h += '<table class="table table-condensed table-bordered" id="simulation-workload-' + section[0] + '"><thead><tr>' +
        [section[1], T.now, T.before, T.after, T.capacity].map(function (x) { return "<th>" + esc(x) + "</th>"; }).join("") + "</tr></thead><tbody>";
      list.forEach(function (e) {
        var name = (e.name || "") + (e.code ? " (" + e.code + ")" : "");
        h += "<tr" + (e.over_after ? ' class="danger"' : "") + "><td>" + esc(name) + "</td><td>" + esc(e.current) + "</td><td>" + esc(e.before) +
          "</td><td>" + esc(e.after) + (e.over_after ? " ⚠" : "") + "</td><td>" + esc(e.capacity) + "</td></tr>";
      });
      h += "</tbody></table>";
    });
    var sample = result.sample || [];
    if (sample.length) {
      h += "<h4>" + esc(T.sample) + "</h4>";
      h += '<table class="table table-condensed table-bordered" id="simulation-sample"><thead><tr>' +
        [T.case_no, T.field, T.before, T.after].map(function (x) { return "<th>" + esc(x) + "</th>"; }).join("") + "</tr></thead><tbody>";
      sample.forEach(function (entry) {
        var fields = Object.keys(entry.after || {}).filter(function (f) { return f !== "version" && f !== "rows" && f !== "applied" && f !== "error"; });
        var rows = function (side) { return ((side || {}).rows || []).map(function (r) { return r.row; }).join(", "); };
        var first = true;
        fields.concat(["rows"]).forEach(function (field) {
          var before = field === "rows" ? rows(entry.before) : shown((entry.before || {})[field]);
          var after = field === "rows" ? rows(entry.after) : shown((entry.after || {})[field]);
          var changedField = before !== after;
          h += "<tr" + (changedField ? ' class="warning"' : "") + ">";
          if (first) {
            h += '<td rowspan="' + (fields.length + 1) + '"><a href="' + esc(cfg.urls.workbench + entry.case_id) + '">' + esc(entry.case_no) + "</a></td>";
            first = false;
          }
          h += "<td>" + esc(L[field] || field) + "</td><td>" + esc(before) + "</td><td>" + esc(after) + "</td></tr>";
        });
      });
      h += "</tbody></table>";
    }
    var errors = result.errors || {};
    var counts = ["facts_refused", "unique_overlap", "fact_type"].filter(function (k) { return errors[k]; });
    if (counts.length) {
      h += '<div class="alert alert-warning" id="simulation-errors">' + counts.map(function (k) { return esc(k) + ": " + esc(errors[k]); }).join(" · ") +
        (errors.examples || []).map(function (e) { return "<div><small>" + esc(e.case_no) + " (" + esc(e.side) + "): " + esc(e.error) + "</small></div>"; }).join("") + "</div>";
    }
    box.innerHTML = h;
  }

  function poll() {
    fetch(cfg.urls.simulation, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.json(); })
      .then(function (state) {
        if (renderSimulation(state)) { polling = null; return; }
        polling = setTimeout(poll, 1000);
      })
      .catch(function () { polling = setTimeout(poll, 3000); });
  }

  function runSimulation() {
    var start = function () {
      document.getElementById("simulation-result").innerHTML = "";
      renderSimulation({ state: "queued" });
      post(cfg.urls.simulate, {}).then(function (answer) {
        if (!answer.ok) {
          document.getElementById("simulation-progress").hidden = true;
          document.getElementById("simulation-state").innerHTML = '<span class="text-danger">' + esc(answer.data.message) + "</span>";
          return;
        }
        if (polling) { clearTimeout(polling); }
        poll();
      });
    };
    if (dirty) { save().then(function (ok) { if (ok) { start(); } }); } else { start(); }
  }

  // --- wiring --------------------------------------------------------------------------------

  var policy = document.getElementById("hit-policy");
  policy.innerHTML = cfg.hit_policies.map(function (p) {
    return '<option value="' + esc(p[0]) + '"' + (p[0] === doc.hit_policy ? " selected" : "") + ">" + esc(p[1]) + "</option>";
  }).join("");
  document.querySelectorAll("input.description").forEach(function (input) {
    input.value = (doc.description || {})[input.dataset.lang] || "";
    input.addEventListener("input", function () {
      doc.description = doc.description || {};
      if (input.value) { doc.description[input.dataset.lang] = input.value; } else { delete doc.description[input.dataset.lang]; }
      markDirty();
    });
  });

  if (editable) {
    policy.addEventListener("change", function () { doc.hit_policy = policy.value; markDirty(); });
    grid.addEventListener("input", gridInput);
    grid.addEventListener("change", gridInput);
    grid.addEventListener("focusout", validateCell);
    grid.addEventListener("click", gridClick);
    document.getElementById("add-row").addEventListener("click", function () {
      doc.rows.push(blankRow());
      markDirty();
      renderGrid();
      var last = grid.querySelector("tbody tr:last-child input[data-in]");
      if (last) { last.focus(); }
    });
    document.getElementById("add-input").addEventListener("change", function (event) {
      var fact = factsByName[event.target.value];
      if (!fact) { return; }
      doc.inputs.push({ fact: fact.name, type: fact.type });
      doc.rows.forEach(function (row) { row.when[fact.name] = "-"; });
      markDirty();
      renderGrid();
      renderTests();
    });
    document.getElementById("add-output").addEventListener("change", function (event) {
      var output = outputsByName[event.target.value];
      if (!output) { return; }
      var column = { name: output.name, type: output.type };
      if (output.values && output.values.length) { column.values = output.values.slice(); }
      doc.outputs.push(column);
      doc.rows.forEach(function (row) { row.then[output.name] = null; });
      markDirty();
      renderGrid();
      renderTests();
    });
    document.getElementById("save-table").addEventListener("click", save);
    testsTable.addEventListener("input", testInput);
    testsTable.addEventListener("change", function (event) {
      if (event.target.tagName === "SELECT" || event.target.type === "checkbox") { testInput(event); }
    });
    testsTable.addEventListener("click", testClick);
    document.getElementById("add-test").addEventListener("click", function () {
      var test = { name: uniqueTestName("T" + (tests.length + 1)), facts: {}, expect: {} };
      tests.push(test);
      testResults = [];
      markDirty();
      renderTests();
      var input = testsTable.querySelector("tbody tr:last-child input[data-test-field=name]");
      if (input) { input.focus(); input.select(); }
    });
    document.getElementById("upload-tests").addEventListener("change", uploadTests);
    // Submitting saves first: what is submitted is what the page shows.
    document.querySelectorAll(".submit-guard form").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!dirty) { return; }
        event.preventDefault();
        save().then(function (ok) { if (ok) { form.submit(); } });
      });
    });
  }
  document.getElementById("run-tests").addEventListener("click", runTests);
  var simulate = document.getElementById("run-simulation");
  if (simulate) { simulate.addEventListener("click", runSimulation); }

  renderGrid();
  renderFindings();
  renderTests();
  if (cfg.simulation_job_id || cfg.simulation) { poll(); }
  if (location.hash.indexOf("#row-") === 0) {
    var target = document.getElementById(decodeURIComponent(location.hash.slice(1)));
    if (target) { target.classList.add("highlight"); target.scrollIntoView({ block: "center" }); }
  }
  api.save = save;
  api.runTests = runTests;
  api.document = function () { return doc; };
  api.tests = function () { return tests; };
  api.isDirty = function () { return dirty; };
})();
