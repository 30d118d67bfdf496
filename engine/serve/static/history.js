// The call history: the recorded calls (/calls), and one call replayed over its graph (/calls/{id}).
// Everything comes from /api/calls and /api/calls/{id}; the replay steps are the server's, in the
// order they happened, each saying which agent and state were active and which edges it took.
(function () {
  "use strict";

  const { $, el, pretty } = window.engineDom;
  const oneLine = (value, limit = 160) => {
    const text = (typeof value === "string" ? value : JSON.stringify(value)).replace(/\s+/g, " ");
    return text.length > limit ? text.slice(0, limit - 1) + "…" : text;
  };
  const when = (iso) => {
    if (!iso) return "—";
    const d = new Date(iso);
    const pad = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  };
  const duration = (seconds) => {
    if (seconds === null || seconds === undefined) return "—";
    const s = Math.round(seconds);
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  };
  const offset = (ms) => `+${(ms / 1000).toFixed(2)}s`;
  const where = (agent, state) => (state ? `${agent} · ${state}` : agent || "");

  const state = { calls: [], doc: null, steps: [], pos: 0, graph: null, view: null, timer: null, error: null, follow: true, shown: -1 };
  window.historyState = state;  // for tests and the curious

  async function getJSON(url) {
    const res = await fetch(url, { headers: { Accept: "application/json" } });
    let body = null;
    try { body = await res.json(); } catch (_) { /* not JSON */ }
    if (!res.ok) throw new Error((body && body.error) || `${url}: HTTP ${res.status}`);
    return body;
  }
  function problem(text) {
    state.error = text;
    $("problem").hidden = !text;
    $("problem").textContent = text || "";
  }

  // --- the list ---------------------------------------------------------------------------------
  async function showList(before) {
    $("list-view").hidden = false;
    $("title").textContent = "recorded calls";
    let data;
    try {
      data = await getJSON(`/api/calls?limit=50${before ? `&before=${encodeURIComponent(before)}` : ""}`);
    } catch (err) {
      problem(err.message);
      return;
    }
    state.calls.push(...data.calls);
    for (const call of data.calls) $("calls").append(callRow(call));
    $("empty").hidden = state.calls.length > 0;
    $("list-count").textContent = state.calls.length ? `${state.calls.length}${data.next_before ? "+" : ""}` : "";
    const older = $("older");
    older.hidden = !data.next_before;
    older.onclick = () => { older.hidden = true; showList(data.next_before); };
  }
  function callRow(call) {
    const row = el("tr");
    row.dataset.id = call.id;
    const href = `/calls/${encodeURIComponent(call.id)}`;
    const started = el("td", "when");
    const link = el("a", "", when(call.started_at));
    link.href = href;
    started.append(link, el("span", "id", call.id));
    const frontend = el("td");
    frontend.append(el("span", `tag ${call.frontend}`, call.frontend));
    const graph = el("td", "", call.graph);
    if (call.scenario && call.scenario.status !== "same") {
      graph.append(el("div", "gone", call.scenario.status === "changed" ? "graph changed since" : "graph not served"));
    }
    const agents = el("td", "path", call.agents.join(" → ") || "—");
    const end = el("td", "", call.end_reason || (call.ended_at ? "" : "running, or lost"));
    row.append(started, el("td", "", duration(call.duration_s)), frontend, el("td", "", call.caller || "—"), graph, agents, end);
    row.onclick = (e) => { if (e.target !== link) location.href = href; };
    return row;
  }

  // --- one call ---------------------------------------------------------------------------------
  async function showCall(id) {
    $("call-view").hidden = false;
    $("to-list").hidden = false;
    $("title").textContent = id;
    let doc;
    try {
      doc = await getJSON(`/api/calls/${encodeURIComponent(id)}`);
    } catch (err) {
      problem(err.message);
      return;
    }
    state.doc = doc;
    state.steps = doc.replay;
    document.title = `call ${doc.id} · engine history`;
    facts(doc);
    $("scrubber").max = String(state.steps.length);
    $("step-count").textContent = `${state.steps.length} steps`;
    timeline();
    if (doc.scenario.status === "same") {
      await loadGraph(doc.scenario.id);
    } else {
      $("graph-note").hidden = false;
      $("graph-note").textContent = `⚠ ${doc.scenario.message}.`;
      $("graph-title").firstChild.textContent = "Agents visited ";
      $("graph-title").querySelector(".tools-bar").hidden = true;
    }
    go(0);
  }
  function facts(doc) {
    const box = $("facts");
    const add = (label, value) => {
      const f = el("span", "fact");
      f.append(el("b", "", label), document.createTextNode(value));
      box.append(f);
    };
    add("graph", doc.graph);
    add("frontend", doc.frontend);
    add("caller", doc.caller || "—");
    add("started", when(doc.started_at));
    add("duration", duration(doc.duration_s));
    add("agents", doc.agents.join(" → ") || "—");
    add("ended", doc.end_reason || "no end recorded");
    add("tokens", `${doc.usage.input_tokens} in · ${doc.usage.output_tokens} out`);
    const lat = doc.latency;
    add("latency", lat.median_ms === null ? "—" : `median ${Math.round(lat.median_ms)} ms · max ${Math.round(lat.max_ms)} ms`);
    if (doc.dropped) add("warning", `${doc.dropped} events not recorded`);
  }

  // --- the graph --------------------------------------------------------------------------------
  async function loadGraph(scenarioId) {
    const box = $("graph");
    try {
      state.graph = await getJSON(`/api/scenarios/${encodeURIComponent(scenarioId)}/graph`);
    } catch (err) {
      box.append(el("p", "note bad", `the graph could not be drawn: ${err.message}`));
      return;
    }
    $("graph-title").firstChild.textContent = `Graph · ${state.doc.graph} `;
    box.innerHTML = state.graph.svg;
    state.view = window.engineGraphView(box, { fitTo: "g.node, g.edge, g.cluster" });
    state.view.onUserMove(() => setFollow(false));
  }
  function setFollow(on) {
    state.follow = on;
    $("follow").setAttribute("aria-pressed", String(on));
    if (on) follow();
  }
  function follow() {
    const lit = [...$("graph").querySelectorAll(".current")].map((n) => `[id="${n.id}"]`).join(", ");
    if (state.follow && state.view && lit) state.view.focus(lit);
  }
  function lightGraph(step, upTo) {
    const box = $("graph");
    if (!state.graph) { visited(upTo); return; }
    for (const node of box.querySelectorAll(".current, .taken")) node.classList.remove("current", "taken");
    const mark = (key, cls) => {
      const id = state.graph.nodes[key] || state.graph.edges[key];
      const node = id && box.querySelector(`[id="${id}"]`);
      if (node) node.classList.add(cls);
    };
    for (const s of state.steps.slice(0, upTo)) for (const key of s.edges || []) mark(key, "taken");
    if (step && step.agent) {
      mark(step.agent, "current");
      if (step.state) mark(`${step.agent}/${step.state}`, "current");
    }
    follow();
  }
  function visited(upTo) {
    // Without the call's graph: each visit a stop, in order; the ones passed marked, the current lit.
    const box = $("graph");
    box.textContent = "";
    const list = el("div", "visited");
    const passed = state.steps.slice(0, upTo).filter((s) => s.kind === "visit").length;
    state.doc.visits.forEach((visit, i) => {
      const done = i < passed;
      if (i) list.append(el("span", `arrow${done ? " done" : ""}`, "→"));
      const stop = el("div", `stop${i === passed - 1 ? " current" : done ? " done" : " future"}`, visit.agent);
      stop.dataset.agent = visit.agent;
      if (visit.state) stop.append(el("small", "", visit.state));
      list.append(stop);
    });
    if (!state.doc.visits.length) list.append(el("p", "note", "no agent visits were recorded"));
    box.append(list);
  }

  // --- the replay -------------------------------------------------------------------------------
  function label(step) {
    const d = state.doc;
    switch (step.kind) {
      case "visit": {
        const v = d.visits[step.ref];
        const isState = step.from && step.from.agent === v.agent;
        return [isState ? "state" : "visit", "visit", where(v.agent, v.state)];
      }
      case "turn": {
        const t = d.transcript[step.ref];
        return t.role === "user" ? ["caller", "caller", t.text] : [t.agent || "agent", "agent", t.text];
      }
      case "tool_start": {
        const c = d.tool_calls[step.ref];
        return [c.escalation ? "escalate" : "tool", c.escalation ? "escalation" : "tool", `${c.tool}(${oneLine(c.arguments, 80)})`];
      }
      case "tool_end": {
        const c = d.tool_calls[step.ref];
        return ["result", "result", `${c.tool} ${c.ok ? "✓" : "✗"} ${c.duration_ms} ms: ${oneLine(c.output || "")}`];
      }
      case "approval": {
        const a = d.approvals[step.ref];
        return ["approval", "tool", `${a.tool}: ${a.policy ? `${a.policy} by policy` : "asked"}`];
      }
      case "approval_decided": {
        const a = d.approvals[step.ref];
        return ["approval", "tool", `${a.tool}: ${a.decision}`];
      }
      case "guardrail": {
        const g = d.guardrail_trips[step.ref];
        return ["guardrail", "guardrail", `${g.guardrail}: ${g.category}`];
      }
      case "event": {
        const e = d.events[step.ref];
        if (e.type === "handoff") return ["handoff", "handoff", `${e.data.source} → ${e.data.target}`];
        return [e.type.replace(/_/g, " "), "event", Object.entries(e.data).map(([k, v]) => `${k}=${oneLine(v, 60)}`).join(", ")];
      }
      case "end": return ["end", "event", d.end_reason || "ended"];
      default: return [step.kind, "event", ""];
    }
  }
  function timeline() {
    const list = $("timeline");
    state.steps.forEach((step, i) => {
      const [kind, cls, text] = label(step);
      const item = el("li", "future");
      item.dataset.kind = step.kind;
      item.append(el("span", "t", offset(step.offset_ms)), el("span", `k ${cls}`, kind), el("span", "x", text));
      item.title = `${kind}: ${text}`;
      item.onclick = () => { pause(); go(i + 1); };
      list.append(item);
    });
  }

  function go(pos) {
    pos = Math.max(0, Math.min(state.steps.length, pos));
    const step = pos ? state.steps[pos - 1] : null;
    for (const hint of document.querySelectorAll(".hint")) hint.remove();
    if (pos === state.pos + 1 && state.shown === state.pos) {
      apply(step, true);  // one step on: only what it adds
    } else {
      // Anywhere else, rebuilt from the start: the view at a step is the same however it was reached.
      $("transcript").textContent = "";
      $("activity").textContent = "";
      state.bubbles = {};
      state.cards = {};
      state.steps.slice(0, pos).forEach((s) => apply(s, false));
    }
    state.pos = state.shown = pos;
    if (!pos) $("transcript").append(el("div", "note hint", "▶ Play, or step through the call"));
    if (!$("activity").childElementCount) {
      $("activity").append(el("p", "empty-note hint", "Tool calls, escalations, approvals, guardrail trips and moves appear here as the replay reaches them."));
    }
    lightGraph(step, pos);
    $("agent").textContent = step ? where(step.agent, step.state) : "";
    $("scrubber").value = String(pos);
    const at = step ? offset(step.offset_ms) : "+0.00s";
    $("position").textContent = `step ${pos} / ${state.steps.length} · ${at}`;
    const items = $("timeline").children;
    for (let i = 0; i < items.length; i++) {
      items[i].classList.toggle("future", i >= pos);
      items[i].classList.toggle("current", i === pos - 1);
    }
    if (pos) items[pos - 1].scrollIntoView({ block: "nearest" });
    const t = $("transcript"); t.scrollTop = t.scrollHeight;
    const a = $("activity"); a.scrollTop = a.scrollHeight;
    $("back").disabled = $("first").disabled = pos === 0;
    $("next").disabled = $("last").disabled = pos === state.steps.length;
  }

  function card(cls, title, meta, at) {
    const c = el("div", `card ${cls}`);
    const head = el("div", "title");
    head.append(el("span", "", title));
    if (meta) head.append(el("span", "meta", meta));
    c.append(head);
    if (at !== undefined) head.querySelector("span").append(el("span", "at", offset(at)));
    $("activity").append(c);
    return c;
  }
  function apply(step, fresh) {
    const d = state.doc;
    let shown = null;
    switch (step.kind) {
      case "turn": {
        const t = d.transcript[step.ref];
        const b = el("div", `msg ${t.role}`);
        const who = el("span", "who", t.role === "user" ? "caller" : t.agent || "agent");
        who.append(el("span", "at", offset(step.offset_ms)));
        b.append(who, el("span", "text", t.text));
        b.dataset.item = t.item_id;
        $("transcript").append(b);
        state.bubbles[t.item_id] = b;
        shown = b;
        break;
      }
      case "visit": {
        const v = d.visits[step.ref];
        if (step.from && step.from.agent === v.agent && v.state) {
          shown = card("move", `⇢ ${v.agent}: ${step.from.state || "—"} → ${v.state}`, null, step.offset_ms);
        }
        break;
      }
      case "tool_start": {
        const c = d.tool_calls[step.ref];
        const title = c.escalation ? `⇪ ${c.tool} (escalation)` : `⚙ ${c.tool}`;
        shown = card(c.escalation ? "tool escalation" : "tool", title, `${c.agent} · running…`, step.offset_ms);
        shown.append(el("pre", "args", pretty(c.arguments)));
        state.cards[c.tool_call_id] = shown;
        break;
      }
      case "tool_end": {
        const c = d.tool_calls[step.ref];
        shown = state.cards[c.tool_call_id] || card("tool", `⚙ ${c.tool}`, c.agent, step.offset_ms);
        shown.classList.toggle("failed", !c.ok);
        shown.querySelector(".meta").textContent = `${c.agent} · ${c.ok ? "✓" : "✗"} · ${c.duration_ms} ms`;
        if (c.steps && c.steps.length) {
          const steps = el("ol", "steps");
          for (const s of c.steps) steps.append(el("li", "", stepText(s)));
          shown.append(steps);
        }
        shown.append(el("pre", "result", pretty(c.output || "")));
        break;
      }
      case "approval": {
        const a = d.approvals[step.ref];
        const title = a.policy ? `${a.policy === "auto" ? "✓ auto-approved" : "✗ denied by policy"}: ${a.tool}` : `? approval asked: ${a.tool}`;
        shown = card("approval-card", title, a.agent, step.offset_ms);
        shown.append(el("pre", "", pretty(a.arguments)));
        break;
      }
      case "approval_decided": {
        const a = d.approvals[step.ref];
        shown = card("approval-card", `${a.decision === "approved" ? "✓ approved" : "✗ denied"}: ${a.tool}`, a.agent, step.offset_ms);
        break;
      }
      case "guardrail": {
        const g = d.guardrail_trips[step.ref];
        shown = card("guardrail", `⚠ guardrail ${g.guardrail}: ${g.category}`, g.agent, step.offset_ms);
        shown.append(el("pre", "", `${g.rationale}\n\n“${g.text}”`));
        note(`guardrail ${g.guardrail} stopped the reply`, true);
        break;
      }
      case "event": shown = event(d.events[step.ref], step); break;
      case "end": note(`call ended: ${d.end_reason || "no reason recorded"}`); break;
      default: break;
    }
    if (fresh && shown) shown.classList.add("fresh");
  }
  function event(e, step) {
    const data = e.data;
    switch (e.type) {
      case "handoff":
        note(`handed off to ${data.target}`);
        return card("move", `⇢ handoff ${data.source} → ${data.target}`, null, step.offset_ms);
      case "transition_refused": {
        const c = card("refused", `✗ move to ${data.target} refused`, data.agent, step.offset_ms);
        c.append(el("pre", "", data.reason));
        return c;
      }
      case "audio_interrupted": {
        const b = state.bubbles[data.item_id];
        if (b && !b.querySelector(".cut")) b.append(el("span", "cut", `✂ cut at ${data.played_ms} ms (what was heard)`));
        return b || null;
      }
      case "call_transferred": {
        const c = card("move", `☎ transferred to ${data.to}`, data.agent, step.offset_ms);
        if (data.summary) c.append(el("pre", "", data.summary));
        note(`the call was transferred to ${data.to}`);
        return c;
      }
      case "dtmf_sent": return card("tool", `☎ keys sent: ${data.digits}`, null, step.offset_ms);
      case "call_ended": note(data.reason === "hangup" ? "the agent hung up" : `call ended (${data.reason})`); return null;
      case "error": note(`error${data.code ? ` ${data.code}` : ""}: ${data.message}`, true); return null;
      default: {
        const c = card("event", e.type.replace(/_/g, " "), null, step.offset_ms);
        if (Object.keys(data).length) c.append(el("pre", "", pretty(data)));
        return c;
      }
    }
  }
  function note(text, bad) { $("transcript").append(el("div", bad ? "note bad" : "note", text)); }
  function stepText(step) {
    const name = step.call || step.name || step.type || "step";
    const args = step.arguments || step.args;
    const out = step.output !== undefined ? ` → ${typeof step.output === "string" ? step.output : JSON.stringify(step.output)}` : "";
    return `${name}${args ? `(${typeof args === "string" ? args : JSON.stringify(args)})` : ""}${out}`.slice(0, 400);
  }

  // --- play, pause, step ------------------------------------------------------------------------
  function play() {
    if (state.pos >= state.steps.length) go(0);
    $("play").textContent = "⏸ Pause";
    $("play").classList.add("live");
    const tick = () => {
      if (state.pos >= state.steps.length) { pause(); return; }
      go(state.pos + 1);
      const here = state.steps[state.pos - 1], next = state.steps[state.pos];
      const gap = next ? next.offset_ms - here.offset_ms : 0;
      const speed = Number($("speed").value) || 1;
      // The call's own pace, but never so fast a step cannot be seen, nor a silence so long it seems stuck.
      state.timer = setTimeout(tick, Math.min(2500, Math.max(350, gap)) / speed);
    };
    tick();
  }
  function pause() {
    clearTimeout(state.timer);
    state.timer = null;
    $("play").textContent = "▶ Play";
    $("play").classList.remove("live");
  }
  function bind() {
    $("play").onclick = () => (state.timer ? pause() : play());
    $("next").onclick = () => { pause(); go(state.pos + 1); };
    $("back").onclick = () => { pause(); go(state.pos - 1); };
    $("first").onclick = () => { pause(); go(0); };
    $("last").onclick = () => { pause(); go(state.steps.length); };
    $("scrubber").oninput = () => { pause(); go(Number($("scrubber").value)); };
    $("fit").onclick = () => { setFollow(false); if (state.view) state.view.fit(); };
    $("follow").onclick = () => setFollow(!state.follow);
    document.addEventListener("keydown", (e) => {
      if (!state.doc || e.target.tagName === "INPUT" || e.target.tagName === "SELECT") return;
      if (e.key === "ArrowRight") { pause(); go(state.pos + 1); } else if (e.key === "ArrowLeft") { pause(); go(state.pos - 1); } else if (e.code === "Space") { e.preventDefault(); $("play").click(); }
    });
  }

  async function init() {
    bind();
    const match = location.pathname.match(/^\/calls\/([^/]+)\/?$/);
    if (match) await showCall(decodeURIComponent(match[1]));
    else await showList(null);
    document.body.dataset.ready = "true";
  }
  init();
})();
