/* her2-cds sandbox EHR: vanilla JS, no build step, no external resources.
   Untrusted text (card fields, FHIR data) only ever goes into the DOM through textContent
   or setAttribute on safe attributes; never innerHTML. */
"use strict";

const SERVICE_ID = "her2-mbc-guidance";
const ASSESSMENT_KEY = "her2-cds-assessment";
const SVG_NS = "http://www.w3.org/2000/svg";
const state = { examples: [], discovery: null, current: null, lastRequest: null, lastResponse: null };

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

function safeUrl(url) {
  try {
    const parsed = new URL(String(url), window.location.href);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
  } catch (e) {
    return null;
  }
}

/* Inline markdown subset: **bold**, *italic*, `code`, [label](http(s) url). Returns DOM nodes. */
function inlineMarkdown(text) {
  const out = [];
  const pattern = /\*\*([^*]+)\*\*|`([^`]+)`|\[([^\]]+)\]\(([^)\s]+)\)|\*([^*]+)\*/g;
  let last = 0;
  let match;
  while ((match = pattern.exec(text)) !== null) {
    if (match.index > last) out.push(document.createTextNode(text.slice(last, match.index)));
    if (match[1] !== undefined) out.push(el("strong", { text: match[1] }));
    else if (match[2] !== undefined) out.push(el("code", { text: match[2] }));
    else if (match[3] !== undefined) {
      const href = safeUrl(match[4]);
      out.push(href ? el("a", { href, target: "_blank", rel: "noopener noreferrer", text: match[3] }) : document.createTextNode(match[3]));
    } else out.push(el("em", { text: match[5] }));
    last = pattern.lastIndex;
  }
  if (last < text.length) out.push(document.createTextNode(text.slice(last)));
  return out;
}

/* Block markdown subset: paragraphs, "- "/"* " bullets, "#" headings. Output is built with DOM APIs. */
function renderMarkdown(text) {
  const root = el("div", { class: "markdown" });
  let list = null;
  let para = [];
  const flush = () => {
    if (para.length) root.append(el("p", {}, ...inlineMarkdown(para.join(" "))));
    para = [];
  };
  for (const raw of String(text || "").split(/\r?\n/)) {
    const line = raw.trim();
    const bullet = /^[-*]\s+(.*)$/.exec(line);
    const numbered = /^(\d+)[.)]\s+(.*)$/.exec(line);
    const heading = /^#{1,6}\s+(.*)$/.exec(line);
    if (bullet && /^\s{2,}/.test(raw) && list && list.lastElementChild) {
      // an indented bullet belongs to the item above it (a nested list, as EHR markdown renders it)
      const item = list.lastElementChild;
      let nested = item.lastElementChild && item.lastElementChild.tagName === "UL" ? item.lastElementChild : null;
      if (!nested) { nested = el("ul", {}); item.append(nested); }
      nested.append(el("li", {}, ...inlineMarkdown(bullet[1])));
      continue;
    }
    if (bullet || numbered) {
      flush();
      const tag = bullet ? "UL" : "OL";
      if (!list || list.tagName !== tag) {
        list = el(tag.toLowerCase(), numbered ? { start: numbered[1] } : {});
        root.append(list);
      }
      list.append(el("li", {}, ...inlineMarkdown(bullet ? bullet[1] : numbered[2])));
      continue;
    }
    list = null;
    if (!line) { flush(); continue; }
    if (heading) { flush(); root.append(el("h4", {}, ...inlineMarkdown(heading[1]))); continue; }
    para.push(line);
  }
  flush();
  return root;
}
window.sandboxMarkdown = renderMarkdown;

async function getJson(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

function setStatus(text, isError) {
  const node = document.getElementById("status");
  node.textContent = text;
  node.className = isError ? "status error" : "status";
}

function showRaw() {
  document.getElementById("raw-request").textContent = state.lastRequest ? JSON.stringify(state.lastRequest, null, 2) : "";
  document.getElementById("raw-response").textContent = state.lastResponse ? JSON.stringify(state.lastResponse, null, 2) : "";
}

/* ---- chart ---------------------------------------------------------------------------------- */

function badge(value) {
  const kind = value === "positive" ? "pos" : value === "negative" || value === "zero" ? "neg" : "";
  return el("span", { class: `badge ${kind}`, text: value || "unknown" });
}

function days(iso) { return Date.parse(iso + "T00:00:00Z") / 86400000; }

function timelineSvg(history, today) {
  const width = 520, rowHeight = 26, top = 18, left = 56;
  const height = top + Math.max(history.length, 1) * rowHeight + 10;
  const root = svg("svg", { class: "timeline", width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "Lines of therapy" });
  if (!history.length) {
    root.append(svg("text", { x: 4, y: 30 }, "No line of therapy recorded"));
    return root;
  }
  const start = Math.min(...history.map((h) => days(h.start)));
  const end = Math.max(days(today), ...history.map((h) => days(h.end || today)));
  const span = Math.max(end - start, 1);
  const x = (d) => left + ((d - start) / span) * (width - left - 10);
  root.append(svg("text", { x: left, y: 12 }, history[0].start));
  root.append(svg("text", { x: width - 70, y: 12 }, today));
  const colours = { progression: "#c62828", toxicity: "#e6a100", completed: "#2e7d32", unknown: "#7a8591" };
  history.forEach((h, i) => {
    const y = top + i * rowHeight;
    const x0 = x(days(h.start));
    const x1 = x(days(h.end || today));
    root.append(svg("text", { x: 4, y: y + 15 }, `Line ${h.line}`));
    const bar = svg("rect", {
      class: "line-bar", "data-line": h.line, x: x0, y: y + 2, width: Math.max(x1 - x0, 3), height: rowHeight - 8, rx: 3,
      fill: h.end ? "#9fb7cf" : "#1f4e79", stroke: colours[h.endReason] || "none", "stroke-width": h.endReason ? 2 : 0,
    });
    bar.append(svg("title", {}, `Line ${h.line}: ${h.agents.join(" + ")} ${h.start} to ${h.end || "ongoing"}${h.endReason ? " (" + h.endReason + ")" : ""}`));
    root.append(bar);
    root.append(svg("text", { x: x0 + 4, y: y + 15, fill: h.end ? "#1d2733" : "#fff", style: `fill:${h.end ? "#1d2733" : "#fff"}` }, h.agents.join(" + ")));
  });
  return root;
}

function lvefPoints(example) {
  const bundle = example.prefetch.cardiac;
  const points = [];
  for (const entry of (bundle && bundle.entry) || []) {
    const r = entry.resource || {};
    const value = r.valueQuantity && r.valueQuantity.value;
    const when = (r.effectiveDateTime || (r.effectivePeriod || {}).start || "").slice(0, 10);
    if (typeof value === "number" && when) points.push({ when, value });
  }
  return points.sort((a, b) => a.when.localeCompare(b.when));
}

function lvefSvg(points) {
  const width = 520, height = 120, left = 34, bottom = 20;
  const root = svg("svg", { class: "lvef", width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "LVEF trend" });
  const lo = 20, hi = 80;
  const t0 = days(points[0].when), t1 = Math.max(days(points[points.length - 1].when), t0 + 1);
  const x = (d) => left + ((days(d) - t0) / (t1 - t0)) * (width - left - 20);
  const y = (v) => (height - bottom) - ((v - lo) / (hi - lo)) * (height - bottom - 10);
  for (const v of [30, 50, 70]) {
    root.append(svg("line", { x1: left, x2: width - 10, y1: y(v), y2: y(v), stroke: v === 50 ? "#e6a100" : "#dde2e8", "stroke-dasharray": v === 50 ? "4 3" : "" }));
    root.append(svg("text", { x: 4, y: y(v) + 3 }, `${v}%`));
  }
  root.append(svg("polyline", { points: points.map((p) => `${x(p.when)},${y(p.value)}`).join(" "), fill: "none", stroke: "#1f4e79", "stroke-width": 2 }));
  points.forEach((p, i) => {
    const circle = svg("circle", { cx: x(p.when), cy: y(p.value), r: 3, fill: p.value < 50 ? "#c62828" : "#1f4e79" });
    circle.append(svg("title", {}, `LVEF ${p.value}% on ${p.when}`));
    root.append(circle);
    const changed = i === 0 || i === points.length - 1 || p.value !== points[i - 1].value;
    if (changed) root.append(svg("text", { x: x(p.when) - 6, y: y(p.value) - 6 }, String(p.value)));
  });
  root.append(svg("text", { x: left, y: height - 4 }, points[0].when));
  root.append(svg("text", { x: width - 80, y: height - 4 }, points[points.length - 1].when));
  return root;
}

function renderChart(example, assessment) {
  const chart = document.getElementById("chart");
  chart.replaceChildren();
  chart.append(el("h2", { text: `${example.name}` }));
  const facts = el("dl", { class: "facts" });
  const add = (label, value) => facts.append(el("dt", { text: label }), el("dd", {}, value));
  add("Patient id", document.createTextNode(example.id));
  add("Sex / born", document.createTextNode(`${example.gender || "?"} / ${example.birthDate || "?"}`));
  if (assessment) {
    add("HER2", badge(assessment.her2));
    add("HR", badge(assessment.hormoneReceptor));
    add("Metastatic", document.createTextNode(assessment.metastatic ? "yes" : "no"));
    add("Sites", el("span", { class: "sites", text: (assessment.metastaticSites || []).join(", ") || "none recorded" }));
    const lot = assessment.lineOfTherapy || {};
    add("Line of therapy", document.createTextNode(`${lot.current} (${lot.status}${lot.earlyRelapse ? ", early relapse" : ""})`));
    if (assessment.recommendedLine) add("Next line", document.createTextNode(String(assessment.recommendedLine)));
  } else {
    add("Assessment", document.createTextNode("not returned by the service"));
  }
  chart.append(facts);
  chart.append(el("h3", { text: "Lines of therapy" }));
  const history = (assessment && assessment.lineOfTherapy && assessment.lineOfTherapy.history) || [];
  const today = state.evaluated || new Date().toISOString().slice(0, 10);
  chart.append(timelineSvg(history, today));
  const points = lvefPoints(example);
  if (points.length) {
    chart.append(el("h3", { text: "LVEF trend" }));
    chart.append(lvefSvg(points));
  }
}

/* ---- cards ---------------------------------------------------------------------------------- */

async function sendFeedback(card, item, container) {
  const body = { feedback: [Object.assign({ card: card.uuid, outcomeTimestamp: new Date().toISOString() }, item)] };
  document.getElementById("raw-feedback").textContent = JSON.stringify(body, null, 2);
  const response = await fetch(`/cds-services/${SERVICE_ID}/feedback`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  const done = el("span", { class: "done", "data-feedback": response.ok ? "ok" : "error",
    text: response.ok ? (item.outcome === "accepted" ? "Accepted; feedback sent" : "Dismissed; feedback sent") : `Feedback failed: HTTP ${response.status}` });
  container.replaceChildren(done);
  container.closest(".card").dataset.outcome = item.outcome;
}

function renderCard(card, index) {
  const indicator = ["info", "warning", "critical"].includes(card.indicator) ? card.indicator : "info";
  const node = el("article", { class: `card indicator-${indicator}`, "data-uuid": card.uuid || "", "data-index": index });
  node.append(el("div", { class: "summary", text: card.summary || "" }));
  if (card.detail) node.append(el("div", { class: "detail" }, renderMarkdown(card.detail)));
  if (card.source && card.source.label) {
    const href = card.source.url ? safeUrl(card.source.url) : null;
    const icon = card.source.icon ? safeUrl(card.source.icon) : null;
    const topic = card.source.topic && card.source.topic.display ? ` · ${card.source.topic.display}` : "";
    node.append(el("div", { class: "source" },
      icon ? el("img", { class: "source-icon", src: icon, alt: "", width: "20", height: "20" }) : "",
      "Source: ",
      href ? el("a", { href, target: "_blank", rel: "noopener noreferrer", text: card.source.label }) : document.createTextNode(card.source.label),
      topic));
  }
  if (card.links && card.links.length) {
    const links = el("div", { class: "links" });
    for (const link of card.links) {
      const href = safeUrl(link.url);
      if (href) links.append(el("a", { href, target: "_blank", rel: "noopener noreferrer", text: link.label }));
    }
    node.append(links);
  }
  const actions = el("div", { class: "actions" });
  for (const suggestion of card.suggestions || []) {
    actions.append(el("button", {
      class: `suggestion${suggestion.isRecommended ? " recommended" : ""}`, "data-suggestion": suggestion.uuid || "",
      text: suggestion.label, title: (suggestion.actions || []).map((a) => a.description).join("; "),
      onclick: () => sendFeedback(card, { outcome: "accepted", acceptedSuggestions: [{ id: suggestion.uuid }] }, actions),
    }));
  }
  const reasons = card.overrideReasons || [];
  let select = null;
  if (reasons.length) {
    select = el("select", { class: "override-reason", "aria-label": "Override reason" }, el("option", { value: "", text: "Reason (optional)" }));
    reasons.forEach((r, i) => select.append(el("option", { value: String(i), text: r.display || r.code })));
    actions.append(select);
  }
  const comment = el("input", { class: "override-comment", type: "text", placeholder: "Comment", size: 14 });
  if (reasons.length) actions.append(comment);
  actions.append(el("button", {
    class: "dismiss", text: "Dismiss",
    onclick: () => {
      const item = { outcome: "overridden" };
      const picked = select && select.value !== "" ? reasons[Number(select.value)] : null;
      if (picked || comment.value) item.overrideReason = { reason: picked, userComment: comment.value || null };
      return sendFeedback(card, item, actions);
    },
  }));
  node.append(actions);
  return node;
}

function renderCards(cards) {
  const box = document.getElementById("cards");
  box.replaceChildren(...cards.map(renderCard));
  if (!cards.length) box.append(el("p", { class: "placeholder", text: "No cards." }));
}
window.sandboxRenderCards = renderCards;

/* ---- flow ----------------------------------------------------------------------------------- */

function uuid4() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  return "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx".replace(/[xy]/g, (c) => {
    const r = (Math.random() * 16) | 0;
    return (c === "x" ? r : (r & 0x3) | 0x8).toString(16);
  });
}

async function openPatient(example) {
  state.current = example;
  document.querySelectorAll(".patients button").forEach((b) => b.classList.toggle("selected", b.dataset.patient === example.id));
  document.body.dataset.state = "loading";
  setStatus(`Calling ${SERVICE_ID} for ${example.id}...`);
  const service = state.discovery.services.find((s) => s.id === SERVICE_ID);
  const prefetch = {};
  for (const key of Object.keys(service.prefetch || {})) if (key in example.prefetch) prefetch[key] = example.prefetch[key];
  const request = {
    hook: service.hook,
    hookInstance: uuid4(),
    context: { userId: "Practitioner/sandbox", patientId: example.id },
    prefetch,
  };
  state.lastRequest = request;
  const started = performance.now();
  const response = await fetch(`/cds-services/${SERVICE_ID}`, {
    method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json" }, body: JSON.stringify(request),
  });
  const body = await response.json().catch(() => null);
  state.lastResponse = body;
  showRaw();
  if (!response.ok || !body) {
    setStatus(`The service answered HTTP ${response.status}`, true);
    renderCards([]);
    renderChart(example, null);
    document.body.dataset.state = "error";
    return;
  }
  const cards = body.cards || [];
  const first = cards.find((c) => c.extension && c.extension[ASSESSMENT_KEY]);
  setStatus(`${cards.length} card(s) in ${Math.round(performance.now() - started)} ms`);
  renderChart(example, first ? first.extension[ASSESSMENT_KEY] : null);
  renderCards(cards);
  document.body.dataset.state = "ready";
}

async function main() {
  document.getElementById("raw-toggle").addEventListener("change", (event) => {
    document.getElementById("raw").hidden = !event.target.checked;
  });
  try {
    const [discovery, examples] = await Promise.all([getJson("/cds-services"), getJson("/sandbox/api/examples")]);
    state.discovery = discovery;
    state.examples = examples.examples;
    state.evaluated = examples.evaluationDate || null;
  } catch (error) {
    setStatus(String(error), true);
    return;
  }
  const list = document.getElementById("patient-list");
  for (const example of state.examples) {
    list.append(el("li", {}, el("button", { "data-patient": example.id, onclick: () => openPatient(example) },
      el("span", { text: example.name }), el("span", { class: "pid", text: example.id }))));
  }
  document.body.dataset.state = "idle";
}

main();
