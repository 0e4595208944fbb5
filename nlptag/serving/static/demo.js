// The nlptag web demo: lists the models, sends the text to the JSON API, renders the outputs.
// Everything is built with textContent (never innerHTML), so no input can inject markup.
"use strict";

const $ = (id) => document.getElementById(id);
const models = {};

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function headers() {
  const h = { "Content-Type": "application/json" };
  const key = $("api-key").value || sessionStorage.getItem("nlptag-key") || "";
  if (key) h.Authorization = "Bearer " + key;
  return h;
}

async function api(path, body) {
  const response = await fetch(path, {
    method: body ? "POST" : "GET",
    headers: headers(),
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await response.json();
  if (!response.ok) {
    const message = data.error ? data.error.message : response.statusText;
    throw new Error(response.status + ": " + message);
  }
  return data;
}

function status(text, isError) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "muted";
}

async function loadModels() {
  try {
    const data = await api("/v1/models");
    const select = $("model");
    select.replaceChildren();
    for (const model of data.models) {
      models[model.name] = model;
      select.append(new Option(model.name + " (" + model.task + ")", model.name));
    }
    if (!data.models.length) status("no model is loaded yet", true);
    showOptions();
    status("");
  } catch (error) {
    status(error.message + (error.message.startsWith("401") ? " (enter the API key)" : ""), true);
  }
}

function numberInput(name, label, value, step, min) {
  const wrap = el("label", "", label + " ");
  const input = el("input");
  Object.assign(input, { type: "number", id: "opt-" + name, value, step, min });
  input.style.width = "5em";
  wrap.append(input);
  return wrap;
}

function showOptions() {
  const model = models[$("model").value];
  const options = $("options");
  options.replaceChildren();
  if (!model) return;
  $("task").textContent = model.task;
  const placeholders = {
    tagging: "Type a sentence",
    ner: "Type a sentence with names",
    classification: "Type a text to classify",
    translation: "Type a sentence to translate",
    language_model: "Type the beginning of a text",
  };
  $("text").placeholder = placeholders[model.task] || "Type an input";
  if (model.task === "language_model") {
    options.append(numberInput("length", "length", 200, 10, 1));
    options.append(numberInput("temperature", "temperature", 0.8, 0.1, 0.1));
  } else if (model.task === "translation") {
    options.append(numberInput("beam", "beam", 3, 1, 1));
  }
}

function parameters(task) {
  const value = (name) => Number($("opt-" + name).value);
  if (task === "language_model") return { length: value("length"), temperature: value("temperature") };
  if (task === "translation") return { beam: value("beam"), attention: true };
  return {};
}

function hue(type) {
  let h = 0;
  for (const c of type) h = (h * 31 + c.charCodeAt(0)) % 360;
  return h;
}

function renderTags(output) {
  const row = el("div", "sentence");
  output.tokens.forEach((token, i) => {
    const box = el("span", "token");
    box.append(el("span", "word", token), el("span", "tag", output.tags[i]));
    box.append(el("span", "conf", output.confidences[i].toFixed(2)));
    row.append(box);
  });
  return row;
}

function renderEntities(output) {
  const wrap = el("div");
  const text = el("p", "entities");
  let i = 0;
  for (const entity of [...output.entities].sort((a, b) => a.start - b.start)) {
    if (entity.start > i) text.append(output.tokens.slice(i, entity.start).join(" ") + " ");
    const mark = el("mark", "entity", entity.text);
    mark.style.background = "hsl(" + hue(entity.type) + ", 70%, 82%)";
    mark.dataset.type = entity.type;
    mark.title = entity.type + " " + entity.confidence.toFixed(3);
    mark.append(el("sub", "", entity.type + " " + entity.confidence.toFixed(2)));
    text.append(mark, " ");
    i = entity.end;
  }
  if (i < output.tokens.length) text.append(output.tokens.slice(i).join(" "));
  wrap.append(text, renderTags(output));
  return wrap;
}

function renderProbabilities(output) {
  const bars = el("div", "bars");
  const sorted = Object.entries(output.probabilities).sort((a, b) => b[1] - a[1]);
  for (const [label, p] of sorted) {
    const bar = el("div", label === output.label ? "bar best" : "bar");
    bar.style.width = (100 * p).toFixed(1) + "%";
    bars.append(el("span", "label", label), bar, el("span", "muted", p.toFixed(3)));
  }
  return bars;
}

function renderAttention(output) {
  const wrap = el("div");
  wrap.append(el("p", "translation", output.translation));
  const table = el("table", "heatmap");
  const head = el("tr");
  head.append(el("th"));
  for (const token of output.source_tokens) head.append(el("th", "", token));
  table.append(el("thead"));
  table.tHead.append(head);
  output.weights.forEach((row, n) => {
    const tr = el("tr");
    tr.append(el("th", "", output.output_tokens[n]));
    for (const w of row) {
      const cell = el("td");
      cell.style.background = "rgba(35, 57, 93, " + w.toFixed(3) + ")";
      cell.title = w.toFixed(3);
      tr.append(cell);
    }
    table.append(tr);
  });
  wrap.append(table);
  return wrap;
}

function renderSample(prime, text) {
  const box = el("div", "generated");
  box.append(el("span", "prime", prime), text);
  return box;
}

async function run(event) {
  event.preventDefault();
  const model = models[$("model").value];
  const text = $("text").value;
  if (!model || !text.trim()) return;
  if ($("api-key").value) sessionStorage.setItem("nlptag-key", $("api-key").value);
  status("running…");
  const result = $("result");
  try {
    const data = await api("/v1/models/" + encodeURIComponent(model.name) + "/predict", {
      inputs: [text],
      parameters: parameters(model.task),
    });
    const output = data.outputs[0];
    const renderers = {
      tagging: renderTags,
      ner: renderEntities,
      classification: renderProbabilities,
      translation: renderAttention,
      language_model: (sample) => renderSample(text, sample),
    };
    result.replaceChildren(renderers[model.task](output));
    result.dataset.task = model.task;
    status("");
  } catch (error) {
    result.replaceChildren();
    status(error.message, true);
  }
}

$("model").addEventListener("change", showOptions);
$("form").addEventListener("submit", run);
$("api-key").addEventListener("change", loadModels);
loadModels();
