// The web UI's only script: the chat (streamed answers), citation dialogs, and the officer's decision form.
// Served from /static under a Content-Security-Policy of default-src 'self': no inline code, and user text
// only ever reaches the page through textContent.
"use strict";

(function () {
  const KIND_LABELS = {
    hs: "HS nomenclature",
    hts: "Tariff line",
    note: "Legal note",
    precedent: "Precedent (past classification)",
    gri: "General Rule of Interpretation",
    ruling: "Customs ruling",
  };

  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  // el("p", {class: "x", "aria-label": "y"}, "text", child, ...): a new element; strings become text nodes.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "hidden") node.hidden = Boolean(value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function pct(value) {
    return Math.round(Number(value || 0) * 100) + "%";
  }

  // ------------------------------------------------------------------ cited passages

  function setupPassageDialog() {
    const dialog = document.getElementById("passage-dialog");
    if (!dialog) return;
    let opener = null;
    document.addEventListener("click", (event) => {
      const chip = event.target.closest("[data-passage]");
      if (chip) {
        opener = chip;
        openPassage(dialog, chip);
      }
    });
    dialog.addEventListener("click", (event) => {
      if (event.target === dialog) dialog.close(); // a click on the backdrop
      if (event.target.closest("[data-close-dialog]")) dialog.close();
    });
    dialog.addEventListener("close", () => {
      if (opener && document.contains(opener)) opener.focus();
    });
  }

  async function openPassage(dialog, chip) {
    const title = dialog.querySelector("#passage-title");
    const meta = dialog.querySelector("#passage-meta");
    const text = dialog.querySelector("#passage-text");
    title.textContent = chip.textContent;
    meta.replaceChildren();
    text.textContent = "Loading the cited text…";
    if (!dialog.open) dialog.showModal();
    try {
      const response = await fetch("/web/passages/" + encodeURIComponent(chip.dataset.passage), {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      const body = await response.json();
      if (!response.ok) throw new Error(body.detail || response.statusText);
      showPassage(body, title, meta, text);
    } catch (error) {
      text.textContent = "The cited text could not be loaded: " + error.message;
    }
  }

  function showPassage(p, title, meta, text) {
    title.textContent = p.label;
    const rows = [["Source type", KIND_LABELS[p.kind] || p.kind], ["Edition", p.edition]];
    if (p.kind === "ruling") {
      rows.push(["Ruling number", p.ruling_number || p.label], ["Date", p.ruling_date || "not stated"]);
    }
    if (p.kind === "hs" || p.kind === "hts") {
      const none = p.kind === "hs" ? "none: the HS sets no duty rates (national tariffs do)" : "not printed for this line";
      rows.push(["Duty rate (general)", p.general_rate || none]);
      if (p.special_rate) rows.push(["Special rate", p.special_rate]);
      if (p.column2_rate) rows.push(["Column 2 rate", p.column2_rate]);
      if (p.units && p.units.length) rows.push(["Units", p.units.join(", ")]);
    }
    if (p.chapter) rows.push(["Chapter", p.chapter]);
    const official = p.ruling_url || p.url;
    if (official) rows.push(["Official source", el("a", { href: official, rel: "noopener noreferrer", target: "_blank" }, official.replace(/^https:\/\//, "").split("?")[0])]);
    meta.replaceChildren(...rows.map(([k, v]) => el("div", {}, el("dt", {}, k), el("dd", {}, v))));
    text.textContent = p.text;
  }

  // ------------------------------------------------------------------ chat

  function setupChat() {
    const form = document.getElementById("composer");
    if (!form) return;
    const ui = {
      form,
      thread: document.getElementById("thread"),
      stream: document.getElementById("stream"),
      message: document.getElementById("message"),
      label: document.getElementById("message-label"),
      help: document.getElementById("message-help"),
      extras: document.getElementById("extras"),
      send: document.getElementById("send"),
      newProduct: document.getElementById("new-product"),
      error: document.getElementById("composer-error"),
      panel: document.getElementById("case-panel-body"),
      reference: document.getElementById("reference"),
      declared: document.getElementById("declared_code"),
    };
    const state = { case: null, busy: false, panelHelp: ui.panel.cloneNode(true) };

    const data = document.getElementById("case-data");
    const initial = data ? JSON.parse(data.textContent || "null") : null;
    if (initial) showLoadedCase(ui, state, initial);

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      send(ui, state, ui.message.value);
    });
    ui.message.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        send(ui, state, ui.message.value);
      }
    });
    // "New product" never refines the open case: with text it classifies that text as a new case.
    ui.newProduct.addEventListener("click", () => {
      const text = ui.message.value;
      reset(ui, state);
      if (text.trim()) send(ui, state, text);
      else ui.message.focus();
    });
    ui.thread.addEventListener("click", (event) => {
      const reply = event.target.closest("[data-reply]");
      if (!reply) return;
      // "Don't know" says nothing about the goods: it is recorded as the question left open (the engine does not
      // search it, and does not ask the same question again), so the officer sees what the requester could not say.
      const open = reply.dataset.reply === OTHER && reply.closest(".quick-replies").querySelector(".question");
      send(ui, state, open ? `${OTHER}: ${open.textContent}` : reply.dataset.reply);
    });
  }

  const OTHER = "other / don't know"; // engines/query.py OTHER: offered with every clarifying question

  function isOpen(c) {
    return c && (c.status === "pending_review" || c.status === "needs_info");
  }

  function reset(ui, state) {
    state.case = null;
    ui.reference.value = ""; // the previous product's reference and declared code are not this one's
    ui.declared.value = "";
    ui.thread.replaceChildren();
    ui.stream.textContent = "";
    ui.stream.hidden = true;
    ui.panel.replaceChildren(...state.panelHelp.cloneNode(true).childNodes);
    setComposer(ui, state);
    history.replaceState(null, "", "/chat");
  }

  function setComposer(ui, state) {
    const followUp = isOpen(state.case);
    const asked = followUp && state.case.officer_question;
    ui.label.textContent = asked ? "Answer the officer's question" : followUp ? "Add a fact about this product, or describe a new product" : "Describe the product";
    ui.help.textContent = asked
      ? "Your answer is added to the case, which is re-classified and goes back to the officer for review."
      : followUp
        ? `“Add a fact” refines case ${state.case.id.slice(0, 8)} (e.g. “it is knitted”, “not leather”); “New product” opens a new case.`
        : "Material, how it is made, who it is for and what it is used for help most. Example: “Men's T-shirt, 100% cotton, knitted jersey”.";
    ui.send.textContent = asked ? "Send answer" : followUp ? "Add a fact" : "Classify";
    ui.extras.hidden = followUp;
    ui.newProduct.hidden = !state.case;
  }

  function showError(ui, message) {
    ui.error.textContent = message;
    ui.error.hidden = !message;
  }

  function userBubble(text) {
    return el("li", { class: "msg msg-user" }, el("div", { class: "bubble" }, el("span", { class: "sr-only" }, "You: "), text));
  }

  function officerBubble(text) {
    return el("li", { class: "msg msg-officer" },
      el("div", { class: "bubble" }, el("strong", {}, "The officer asks: "), text));
  }

  function showLoadedCase(ui, state, c) {
    state.case = c;
    ui.thread.replaceChildren(userBubble(c.description), ...c.context.map(userBubble));
    ui.thread.append(answerItem(c));
    if (c.officer_question) ui.thread.append(officerBubble(c.officer_question));
    updatePanel(ui, c);
    setComposer(ui, state);
  }

  async function send(ui, state, raw) {
    const text = (raw || "").trim();
    if (state.busy) return;
    if (!text) {
      showError(ui, "Type a description first.");
      ui.message.focus();
      return;
    }
    if (state.case && !isOpen(state.case)) reset(ui, state); // a decided case cannot change: start a new one
    showError(ui, "");
    const body = { message: text };
    if (state.case) body.case_id = state.case.id;
    else {
      if (ui.reference.value.trim()) body.reference = ui.reference.value.trim();
      if (ui.declared.value.trim()) body.declared_code = ui.declared.value.trim();
    }
    state.busy = true;
    ui.send.disabled = true;
    ui.form.setAttribute("aria-busy", "true");
    const bubble = userBubble(text);
    ui.thread.append(bubble);
    ui.message.value = "";
    ui.stream.hidden = false;
    ui.stream.className = "stream working";
    ui.stream.textContent = "Sending…";
    try {
      const response = await fetch("/web/chat", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "text/event-stream", "X-CSRF-Token": csrfToken() },
        body: JSON.stringify(body),
      });
      if (!response.ok) {
        const problem = await response.json().catch(() => ({ detail: response.statusText }));
        if (response.status === 401) window.location.assign("/signin?next=" + encodeURIComponent("/chat"));
        throw new Error(problem.detail || "the request failed");
      }
      await readEvents(response, (kind, payload) => onEvent(ui, state, kind, payload));
    } catch (error) {
      bubble.classList.add("msg-failed");
      ui.message.value = text;
      ui.stream.className = "stream";
      ui.stream.textContent = "";
      showError(ui, "Not sent: " + error.message);
    } finally {
      state.busy = false;
      ui.send.disabled = false;
      ui.form.removeAttribute("aria-busy");
      ui.message.focus({ preventScroll: true }); // the answer, not the composer, stays in view
    }
  }

  // Server-sent events read from a POST response: "event: NAME\ndata: JSON\n\n" blocks.
  async function readEvents(response, handle) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      buffer += decoder.decode(value || new Uint8Array(), { stream: !done });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        let kind = "message";
        let data = "";
        for (const line of block.split("\n")) {
          if (line.startsWith("event: ")) kind = line.slice(7);
          else if (line.startsWith("data: ")) data += line.slice(6);
        }
        if (data) handle(kind, JSON.parse(data));
      }
      if (done) return;
    }
  }

  function onEvent(ui, state, kind, payload) {
    if (kind === "status") {
      ui.stream.textContent = payload.text;
      ui.stream.dataset.tokens = "";
    } else if (kind === "token") {
      if (!ui.stream.dataset.tokens) ui.stream.textContent = "";
      ui.stream.dataset.tokens = "1";
      ui.stream.append(document.createTextNode(payload.text));
    } else if (kind === "case") {
      for (const old of ui.thread.querySelectorAll(".answer:not(.answer-old)")) retire(old);
      state.case = payload;
      const item = answerItem(payload);
      ui.thread.append(item);
      item.scrollIntoView({ block: "start" }); // the top suggestion in view, not the end of the evidence
      updatePanel(ui, payload);
      setComposer(ui, state);
      ui.stream.className = "stream done";
      ui.stream.textContent = summary(payload);
      history.replaceState(null, "", "/chat?case=" + encodeURIComponent(payload.id));
    } else if (kind === "error") {
      throw new Error(payload.detail || payload.error);
    }
  }

  function retire(card) {
    card.classList.add("answer-old");
    for (const q of card.querySelectorAll(".quick-replies")) q.remove();
    const head = card.querySelector(".answer-head");
    if (head) head.append(el("span", { class: "pill pill-info" }, "superseded by the refined answer below"));
  }

  function summary(c) {
    const best = c.suggestions[0];
    const lead = best && (best.headline || { value: best.confidence, label: "confidence" });
    const top = best ? `Best: ${best.display} ${best.description}, ${pct(lead.value)} ${lead.label}. ` : "No code found. ";
    return `${c.suggestions.length} suggestion${c.suggestions.length === 1 ? "" : "s"}. ${top}${c.status_label.text}.`;
  }

  // ------------------------------------------------------------------ rendering a case (mirrors macros.html)

  function statusBanner(c) {
    const label = c.status_label;
    const inner = el("div", {}, el("strong", { class: "status-text" }, label.text));
    if (label.final) {
      const line = c.final_line;
      inner.append(el("div", { class: "final-code" }, "Final code ", el("span", { class: "code" }, c.final_display),
        line ? el("span", { class: "final-line" }, ` ${line.description}${line.general_rate ? " · duty " + line.general_rate : ""}`) : null));
    }
    else inner.append(el("div", { class: "status-sub" }, label.explain));
    return el("div", { class: "status status-" + label.tone, role: "note" }, el("span", { class: "status-icon", "aria-hidden": "true" }), inner);
  }

  function outcome(c) {
    const o = c.outcome;
    if (!o || o.action === "request_info") return null;
    return el("div", { class: "officer-outcome outcome-" + o.action, role: "note" },
      el("p", {}, el("strong", {}, o.label), o.display ? " " : "", o.display ? el("span", { class: "code" }, o.display) : null,
        ` by ${o.officer} on ${o.when}`),
      o.reason ? el("p", { class: "outcome-reason" }, "Officer's reason: " + o.reason) : null);
  }

  function engineLine(c) {
    const parts = [el("p", { class: "engine-line" }, "Engine ", el("strong", {}, c.engine), c.model ? ` (${c.model})` : "",
      ` · ${c.edition} · corpus ${String(c.corpus_snapshot).slice(0, 12)} · round ${c.round}`)];
    if (c.language_notice) {
      parts.push(el("p", { class: "language-notice", role: "note" }, el("strong", {}, "Language: "), c.language_notice));
    }
    if (c.degraded) {
      parts.push(el("p", { class: "degraded", role: "note" }, el("strong", {}, "Degraded answer: "),
        c.degraded_reason || "the preferred engine was unavailable"));
    }
    return parts;
  }

  function suggestionItem(s, index) {
    const head = el("div", { class: "s-head" },
      el("span", { class: "rank", "aria-hidden": "true" }, String(index + 1)),
      el("span", { class: "code", "data-code": s.code }, s.display),
      el("span", { class: "s-desc" }, s.description),
      s.general_rate ? el("span", { class: "rate" }, "Duty " + s.general_rate) : null);
    // What the list is ordered by (case_payload's headline: the subheading's probability for the offline engine).
    const lead = s.headline || { value: s.confidence, label: "confidence" };
    const confidence = el("div", { class: "confidence" },
      el("meter", { min: "0", max: "1", value: String(lead.value), "aria-hidden": "true" }),
      el("span", { class: "pct" }, pct(lead.value)), " ", el("span", { class: "pct-label" }, lead.label));
    const path = el("ol", { class: "path", "aria-label": "Path from chapter to line" },
      ...s.steps.map((step) => el("li", {}, step.code ? el("span", { class: "code" }, step.code) : null, step.code ? " " : "", step.text)));
    // The evidence is collapsed: the ranked codes stay short; path, reasoning and sources open on demand.
    const evidence = el("details", { class: "evidence" }, el("summary", {}, "Why this code: path, reasoning and sources"),
      path, el("p", { class: "rationale" }, s.rationale));
    if (s.citations.length) {
      evidence.append(el("ul", { class: "chips", "aria-label": "Citations for " + s.display },
        ...s.citations.map((c) => el("li", {}, el("button", {
          type: "button", class: "chip chip-" + c.kind, "data-passage": c.source_id, title: "Open the cited text",
        }, c.label), c.kind === "ruling" && c.url
          ? el("a", { class: "ruling-link", href: c.url, rel: "noopener noreferrer", target: "_blank" }, "rulings.cbp.gov") : null))));
    }
    return el("li", { class: "suggestion" }, head, confidence, levelsLine(s), supportLine(s), evidence);
  }

  // Calibrated confidence per level: "heading 6109: 92 % · subheading 6109.10: 71 % · line 6109.10.00.12: 48 %".
  function levelsLine(s) {
    const names = { 4: "heading", 6: "subheading", 10: "line" };
    const parts = Object.entries(s.confidence_by_level || {}).map(([lv, p]) => `${names[lv] || lv} ${dotted(s.code.slice(0, Number(lv)))}: ${pct(p)}`);
    return parts.length ? el("p", { class: "levels small" }, parts.join(" · ")) : null;
  }

  function supportLine(s) {
    if (!s.support) return null;
    return el("p", { class: "support small" + (s.support.supported ? "" : " support-weak") }, s.support.summary);
  }

  function dotted(code) {
    if (code.length <= 4) return code;
    return [code.slice(0, 4), code.slice(4, 6), code.slice(6, 8), code.slice(8, 10)].filter(Boolean).join(".");
  }

  // The conformal set and the routing: "90 % set: 6109.10, 6109.90, 6105.10".
  function trustNote(c) {
    const cs = c.candidate_set;
    const routing = { quick_confirm: "quick confirm", review: "review", needs_information: "needs information" }[c.routing] || c.routing;
    const box = el("div", { class: "trust-note routing-" + c.routing, role: "note" },
      el("span", { class: "pill" }, "Routing: " + routing));
    if (cs) {
      box.append(el("span", { class: "candidate-set" }, ` ${Math.round(cs.coverage * 100)} % set: ${cs.codes.map(dotted).join(", ")}`,
        cs.open ? el("strong", {}, " — open: the right code may be none of these") : null));
    }
    return box;
  }

  function answerItem(c) {
    const card = el("article", { class: "answer", "aria-label": `Suggestions, round ${c.round}` },
      el("div", { class: "answer-head" }, el("span", { class: "answer-title" }, c.round > 1 ? `Refined answer (round ${c.round})` : "Answer"),
        el("a", { href: "/cases/" + c.id }, "Case " + c.id.slice(0, 8))),
      statusBanner(c), outcome(c), ...engineLine(c));
    if (c.abstained) {
      card.append(el("p", { class: "clarify-note needs-info" }, el("strong", {}, "Needs more information: "),
        "the description does not say what the goods are well enough to decide a chapter. The codes below are not confident."));
    }
    if (c.suggestions.length) {
      card.append(trustNote(c));
      card.append(el("ol", { class: "suggestions", "aria-label": "Suggested codes, best first" }, ...c.suggestions.map(suggestionItem)));
    } else {
      card.append(el("p", { class: "muted" }, "No tariff line matched. Add details: material, use, how it is made."));
    }
    if (c.clarifying_question && isOpen(c)) {
      const group = el("div", { class: "quick-replies", role: "group", "aria-labelledby": "q-" + c.id + "-" + c.round },
        el("p", { id: "q-" + c.id + "-" + c.round, class: "question" }, c.clarifying_question));
      const buttons = el("div", { class: "reply-buttons" },
        ...c.clarifying_options.map((option) => el("button", { type: "button", class: "btn btn-reply", "data-reply": option }, option)));
      group.append(buttons);
      card.append(group);
    }
    const last = c.context.length ? c.context[c.context.length - 1] : "";
    if (isOpen(c) && last.startsWith(OTHER + ":")) {
      card.append(el("p", { class: "clarify-note left-open", role: "note" }, el("strong", {}, "Left open: "),
        last.slice(OTHER.length + 1).trim() + " The answer stays advisory and an officer decides; a fact in your own "
        + "words (what it is made of, how it is made, what it is for) can still change it."));
    }
    return el("li", { class: "msg msg-assistant" }, card);
  }

  function updatePanel(ui, c) {
    const label = c.status_label;
    const rows = [
      ["Case", el("a", { href: "/cases/" + c.id }, c.id.slice(0, 8))],
      ["Round", String(c.round)],
      ["Engine", c.engine + (c.model ? ` (${c.model})` : "") + (c.degraded ? " — degraded" : "")],
      ["Edition", c.edition],
    ];
    if (c.reference) rows.splice(1, 0, ["Reference", c.reference]);
    if (label.final) rows.splice(2, 0, ["Final code", el("span", { class: "code code-final" }, c.final_display)]);
    const list = el("dl", { class: "panel-list" }, ...rows.map(([k, v]) => el("div", {}, el("dt", {}, k), el("dd", {}, v))));
    const note = isOpen(c)
      ? el("p", { class: "help" }, "Keep refining here; an officer reviews the latest round.")
      : el("p", { class: "help" }, "This case is decided. A new message starts a new classification.");
    const status = el("p", { class: "panel-status status-" + label.tone }, label.text);
    ui.panel.replaceChildren(status, list, note);
  }

  // ------------------------------------------------------------------ officer decision form

  function setupDecisionForm() {
    const form = document.getElementById("decision-form");
    if (!form) return;
    const sections = form.querySelectorAll("[data-for]");
    const sync = () => {
      const checked = form.querySelector('input[name="action"]:checked');
      const action = checked ? checked.value : "";
      for (const section of sections) section.hidden = section.dataset.for !== action;
      const reason = form.querySelector("#reason");
      const needed = "alwaysRequired" in reason.dataset || ["override", "reject", "request_info"].includes(action);
      reason.required = needed;
      reason.setAttribute("aria-required", needed ? "true" : "false");
      form.querySelector('label[for="reason"]').textContent =
        action === "request_info" ? "Question for the requester" : needed ? "Reason (required)" : "Reason (optional)";
    };
    form.addEventListener("change", (event) => {
      if (event.target.name === "action") sync();
    });
    sync();
    setupAutocomplete(form);
  }

  function setupAutocomplete(form) {
    const input = form.querySelector("#override_code");
    const list = form.querySelector("#code-options");
    const match = form.querySelector("#override_match");
    if (!input || !list) return;
    let timer = null;
    let serial = 0;
    input.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(async () => {
        const raw = input.value.trim();
        const digits = raw.replace(/[.\s-]/g, "");
        const query = /^\d+$/.test(digits) ? "prefix=" + encodeURIComponent(digits) : raw.length >= 3 ? "q=" + encodeURIComponent(raw) : "";
        if (!query || (/^\d+$/.test(digits) && digits.length < 2)) {
          list.replaceChildren();
          match.textContent = "";
          return;
        }
        const mine = ++serial;
        try {
          const response = await fetch("/web/codes?" + query, { headers: { Accept: "application/json" }, credentials: "same-origin" });
          const body = await response.json();
          if (mine !== serial) return; // a newer keystroke already asked again
          if (!response.ok) throw new Error(body.detail || response.statusText);
          list.replaceChildren(...body.items.map((item) => el("option", { value: item.display, label: `${item.description}${item.declarable ? "" : " (has subdivisions)"}` })));
          const exact = body.items.find((item) => item.code === digits);
          match.textContent = exact
            ? `${exact.display}: ${exact.full_text}${exact.declarable ? "" : " — has subdivisions, not declarable"}`
            : `${body.items.length} matching line${body.items.length === 1 ? "" : "s"} of ${body.edition}`;
        } catch (error) {
          match.textContent = "Lookup failed: " + error.message;
        }
      }, 200);
    });
  }

  // On a laptop the queue's filters are open; on a phone they fold away under the search box.
  function setupQueueFilters() {
    const more = document.getElementById("more-filters");
    if (more && window.matchMedia("(min-width: 641px)").matches) more.open = true;
  }

  document.addEventListener("DOMContentLoaded", () => {
    setupQueueFilters();
    setupPassageDialog();
    setupChat();
    setupDecisionForm();
  });
})();
