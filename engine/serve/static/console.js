// The engine console: one call per tab, over one websocket to `engine serve`.
// The server runs the session (tools, handoffs, guardrails, escalations, the API key); this page
// captures the microphone, plays the agent, and shows what happens.
(function () {
  "use strict";

  const { $, el, pretty } = window.engineDom;

  // --- G.711 μ-law and base64 ------------------------------------------------------------------
  const MULAW = new Int16Array(256);
  for (let i = 0; i < 256; i++) {
    const u = ~i & 0xff, sign = u & 0x80, exponent = (u >> 4) & 7, mantissa = u & 0x0f;
    const magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    MULAW[i] = sign ? -magnitude : magnitude;
  }
  function base64Bytes(data) {
    const bin = atob(data);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function decodeAudio(bytes, codec) {
    if (codec === "g711_ulaw") {
      const pcm = new Int16Array(bytes.length);
      for (let i = 0; i < bytes.length; i++) pcm[i] = MULAW[bytes[i]];
      return pcm;
    }
    return new Int16Array(bytes.buffer, bytes.byteOffset, bytes.length >> 1);
  }

  // --- state ------------------------------------------------------------------------------------
  const state = {
    scenarios: [], call: null, ws: null, ctx: null, mic: null, worklet: null, muted: false, talking: false,
    log: [], graph: null, view: null, agent: null, agentState: null, player: null, recorder: null,
    tools: {}, bubbles: {}, micFrames: 0, follow: true,
  };
  window.consoleState = state;  // for tests and the curious

  // --- playback: scheduled buffers, position per item reported to the server --------------------
  class Player {
    constructor(ctx, codec, onReport) {
      this.ctx = ctx; this.codec = codec; this.onReport = onReport;
      this.next = 0; this.items = new Map(); this.sources = new Set(); this.playedTotal = 0;
      this.timer = setInterval(() => this.report(), 100);
    }
    play(itemId, data) {
      const pcm = decodeAudio(base64Bytes(data), this.codec);
      if (!pcm.length) return;
      const buffer = this.ctx.createBuffer(1, pcm.length, this.ctx.sampleRate);
      const channel = buffer.getChannelData(0);
      for (let i = 0; i < pcm.length; i++) channel[i] = pcm[i] / 32768;
      const at = Math.max(this.ctx.currentTime + 0.02, this.next);
      const source = this.ctx.createBufferSource();
      source.buffer = buffer;
      source.connect(this.ctx.destination);
      source.start(at);
      source.onended = () => this.sources.delete(source);
      this.sources.add(source);
      this.next = at + buffer.duration;
      let item = this.items.get(itemId);
      if (!item) { item = { start: at, ms: 0, reported: -1, cut: false }; this.items.set(itemId, item); }
      item.ms += buffer.duration * 1000;
      if (state.recorder) state.recorder.agent(at, pcm);
    }
    playedMs(item) {
      return Math.max(0, Math.min(item.ms, (this.ctx.currentTime - item.start) * 1000));
    }
    report() {
      let total = 0;
      for (const [itemId, item] of this.items) {
        const ms = Math.round(item.cut ? item.cutAt : this.playedMs(item));
        total += ms;
        if (!item.cut && ms !== item.reported) {
          item.reported = ms;
          this.onReport(itemId, ms);
        }
      }
      this.playedTotal = total;
      $("played").textContent = `agent audio: ${total} ms played`;
    }
    playing() { return this.sources.size > 0 && this.ctx.currentTime < this.next; }
    stop() {
      // Barge-in: what is queued is not heard. Each item keeps the position it reached, and the
      // server hears of it first, so its cut lands where the listener stopped hearing.
      for (const [itemId, item] of this.items) {
        if (item.cut) continue;
        item.cutAt = this.playedMs(item);
        item.cut = true;
        if (item.cutAt < item.ms) this.onReport(itemId, Math.round(item.cutAt));
      }
      for (const source of this.sources) { try { source.stop(); } catch (_) { /* already ended */ } }
      this.sources.clear();
      this.next = 0;
      this.report();
    }
    close() { clearInterval(this.timer); this.stop(); }
  }

  // --- the call's audio, both sides on one timeline, for download -------------------------------
  class Recorder {
    constructor(ctx) { this.ctx = ctx; this.t0 = ctx.currentTime; this.caller = []; this.agentParts = []; }
    mic(pcm) { this.caller.push({ at: this.ctx.currentTime - pcm.length / this.ctx.sampleRate, pcm }); }
    agent(at, pcm) { this.agentParts.push({ at, pcm }); }
    wav() {
      const rate = this.ctx.sampleRate;
      const place = (parts) => parts.map((p) => ({ offset: Math.max(0, Math.round((p.at - this.t0) * rate)), pcm: p.pcm }));
      const left = place(this.caller), right = place(this.agentParts);
      let length = 0;
      for (const p of [...left, ...right]) length = Math.max(length, p.offset + p.pcm.length);
      const samples = new Int16Array(length * 2);
      for (const p of left) for (let i = 0; i < p.pcm.length; i++) samples[(p.offset + i) * 2] = p.pcm[i];
      for (const p of right) for (let i = 0; i < p.pcm.length; i++) samples[(p.offset + i) * 2 + 1] = p.pcm[i];
      const header = new DataView(new ArrayBuffer(44));
      const text = (o, s) => { for (let i = 0; i < s.length; i++) header.setUint8(o + i, s.charCodeAt(i)); };
      text(0, "RIFF"); header.setUint32(4, 36 + samples.byteLength, true); text(8, "WAVE"); text(12, "fmt ");
      header.setUint32(16, 16, true); header.setUint16(20, 1, true); header.setUint16(22, 2, true);
      header.setUint32(24, rate, true); header.setUint32(28, rate * 4, true); header.setUint16(32, 4, true);
      header.setUint16(34, 16, true); text(36, "data"); header.setUint32(40, samples.byteLength, true);
      return new Blob([header.buffer, samples.buffer], { type: "audio/wav" });
    }
  }

  // --- the event log ----------------------------------------------------------------------------
  const MAX_LOG = 3000;
  // Streams of the same small event (audio deltas, ~50 a second) fold into one line with a count;
  // the download keeps every one.
  const FOLDED = new Set(["response.output_audio.delta", "response.output_audio_transcript.delta",
    "conversation.item.input_audio_transcription.delta", "transcript"]);
  function log(source, kind, payload, t) {
    const entry = { source, kind, t: t || Date.now(), payload };
    state.log.push(entry);
    const last = $("log").lastElementChild;
    if (FOLDED.has(kind) && last && last.dataset.kind === kind && last.dataset.source === source) {
      last.count = (last.count || 1) + 1;
      last.querySelector(".kind").textContent = `${kind} ×${last.count}`;
      last.payload = payload;
      $("log-count").textContent = `${state.log.length}`;
      return;
    }
    const node = el("details", `entry ${source}`);
    const summary = el("summary");
    const time = new Date(entry.t);
    summary.append(el("span", "src", source),
      el("span", "time", time.toTimeString().slice(0, 8) + "." + String(time.getMilliseconds()).padStart(3, "0")),
      el("span", "kind", kind));
    node.append(summary);
    node.payload = payload;
    node.addEventListener("toggle", () => {
      const shown = node.querySelector("pre");
      if (shown) shown.remove();
      if (node.open) node.append(el("pre", "", pretty(node.payload)));  // a folded line shows its latest
    });
    node.dataset.kind = kind;
    node.dataset.source = source;
    applyFilter(node);
    const box = $("log");
    const stick = box.scrollTop + box.clientHeight >= box.scrollHeight - 30;
    box.append(node);
    while (box.childElementCount > MAX_LOG) box.firstElementChild.remove();
    if (stick) box.scrollTop = box.scrollHeight;
    $("log-count").textContent = `${state.log.length}`;
  }
  function applyFilter(node) {
    const text = $("filter").value.trim().toLowerCase();
    const sources = new Set([...document.querySelectorAll(".log-filter input[data-source]")]
      .filter((c) => c.checked).map((c) => c.dataset.source));
    const show = sources.has(node.dataset.source) && (!text || node.dataset.kind.toLowerCase().includes(text));
    node.classList.toggle("hidden", !show);
  }
  function refilter() { for (const node of $("log").children) applyFilter(node); }

  // --- transcript -------------------------------------------------------------------------------
  function scrollTranscript() { const t = $("transcript"); t.scrollTop = t.scrollHeight; }
  function bubble(role, itemId) {
    let b = state.bubbles[itemId];
    if (!b) {
      b = el("div", `msg ${role}`);
      b.dataset.item = itemId;
      b.append(el("span", "who", role === "user" ? "you" : state.agent || "agent"), el("span", "text"));
      $("transcript").append(b);
      state.bubbles[itemId] = b;
    }
    return b;
  }
  function note(text, bad) {
    $("transcript").append(el("div", bad ? "note bad" : "note", text));
    scrollTranscript();
  }
  function transcript(event) {
    const b = bubble(event.role, event.item_id);
    const text = b.querySelector(".text");
    if (event.role === "user") {
      if (event.done) { text.textContent = event.delta || text.textContent; b.classList.remove("streaming"); }
      else { text.textContent += event.delta; b.classList.add("streaming"); }
    } else if (event.done) {
      b.classList.remove("streaming");
    } else {
      text.textContent += event.delta;
      b.classList.add("streaming");
    }
    scrollTranscript();
  }

  // --- graph ------------------------------------------------------------------------------------
  async function loadGraph(scenarioId) {
    const box = $("graph");
    box.textContent = "";
    state.graph = null;
    const res = await fetch(`/api/scenarios/${encodeURIComponent(scenarioId)}/graph`);
    if (!res.ok) { box.append(el("p", "note bad", "the graph could not be drawn")); return; }
    state.graph = await res.json();
    box.innerHTML = state.graph.svg;
    state.view = window.engineGraphView(box, { fitTo: "g.node, g.edge, g.cluster" });
    state.view.onUserMove(() => setFollow(false));
    light();
  }
  function light() {
    const box = $("graph");
    if (!state.graph) return;
    for (const node of box.querySelectorAll(".current")) node.classList.remove("current");
    const ids = state.graph.nodes;
    const mark = (key) => { const id = ids[key]; const node = id && box.querySelector(`[id="${id}"]`); if (node) node.classList.add("current"); };
    if (state.agent) mark(state.agent);
    if (state.agent && state.agentState) mark(`${state.agent}/${state.agentState}`);
    if (state.follow && state.view && state.call) {
      const lit = [...box.querySelectorAll(".current")].map((n) => `[id="${n.id}"]`).join(", ");
      if (lit) state.view.focus(lit);
    }
  }
  function setFollow(on) {
    state.follow = on;
    $("follow").setAttribute("aria-pressed", String(on));
    if (on) light();
  }
  function taken(from, to) {
    if (!state.graph) return;
    const id = state.graph.edges[`${from}->${to}`];
    const edge = id && $("graph").querySelector(`[id="${id}"]`);
    if (edge) edge.classList.add("taken");
  }

  // --- activity: tools, escalations, moves, guardrails, approvals -------------------------------
  function card(cls, title, meta) {
    const c = el("div", `card ${cls}`);
    const head = el("div", "title");
    head.append(el("span", "", title));
    if (meta) head.append(el("span", "meta", meta));
    c.append(head);
    const activity = $("activity");
    activity.append(c);
    activity.scrollTop = activity.scrollHeight;
    return c;
  }
  function toolStart(event, t) {
    const c = card("tool", `⚙ ${event.tool}`, `${event.agent} · running…`);
    c.dataset.call = event.call_id;
    c.append(el("pre", "args", pretty(event.arguments)));
    state.tools[event.call_id] = { card: c, t };
  }
  function toolEnd(event, t) {
    const known = state.tools[event.call_id];
    const c = known ? known.card : card("tool", `⚙ ${event.tool}`, event.agent);
    const ms = known ? t - known.t : null;
    c.classList.toggle("failed", !event.ok);
    if (event.steps && event.steps.length) {
      c.classList.add("escalation");
      c.querySelector(".title span").textContent = `⇪ ${event.tool} (escalation)`;
      const steps = el("ol", "steps");
      for (const step of event.steps) steps.append(el("li", "", stepText(step)));
      c.append(steps);
    }
    c.querySelector(".meta").textContent = `${event.agent} · ${event.ok ? "✓" : "✗"}${ms !== null ? ` · ${ms} ms` : ""}`;
    c.append(el("pre", "result", pretty(event.output)));
  }
  function stepText(step) {
    const name = step.call || step.name || step.type || "step";
    const args = step.arguments || step.args;
    const out = step.output !== undefined ? ` → ${typeof step.output === "string" ? step.output : JSON.stringify(step.output)}` : "";
    return `${name}${args ? `(${typeof args === "string" ? args : JSON.stringify(args)})` : ""}${out}`.slice(0, 400);
  }
  function approval(event) {
    if (event.policy) {
      card("tool", `${event.policy === "auto" ? "✓ auto-approved" : "✗ denied by policy"}: ${event.tool}`, event.agent);
      return;
    }
    const box = el("div", "approval");
    box.dataset.call = event.call_id;
    box.append(el("div", "title", `Approve ${event.tool}?`), el("pre", "", pretty(event.arguments)));
    const buttons = el("div", "buttons");
    const answer = (type, always) => () => {
      send({ type, call_id: event.call_id, always });
      box.remove();
      card("tool", `${type === "approve" ? "✓ approved" : "✗ rejected"}${always ? " (always)" : ""}: ${event.tool}`, event.agent);
    };
    const yes = el("button", "approve", "Approve"); yes.onclick = answer("approve", false);
    const no = el("button", "reject", "Reject"); no.onclick = answer("reject", false);
    const always = el("button", "", "Always approve"); always.onclick = answer("approve", true);
    buttons.append(yes, no, always);
    box.append(buttons);
    $("approvals").append(box);
  }

  // --- server messages --------------------------------------------------------------------------
  function onEvent(event, t) {
    log("engine", event.type, event, t);
    switch (event.type) {
      case "transcript": transcript(event); break;
      case "agent_start":
        state.agent = event.agent; state.agentState = event.state;
        $("agent").textContent = event.state ? `${event.agent} · ${event.state}` : event.agent;
        light();
        break;
      case "handoff":
        taken(event.source, event.target);
        card("move", `⇢ handoff ${event.source} → ${event.target}`);
        note(`handed off to ${event.target}`);
        break;
      case "state_changed": {
        taken(`${event.agent}/${event.source}`, event.target.startsWith("handoff:") ? event.target.slice(8) : `${event.agent}/${event.target}`);
        if (!event.target.startsWith("handoff:")) {
          state.agentState = event.target;
          $("agent").textContent = `${event.agent} · ${event.target}`;
          light();
        }
        card("move", `⇢ ${event.agent}: ${event.source} → ${event.target}`);
        break;
      }
      case "transition_refused":
        card("refused", `✗ move to ${event.target} refused`, event.agent).append(el("pre", "", event.reason));
        break;
      case "tool_start": toolStart(event, t); break;
      case "tool_end": toolEnd(event, t); break;
      case "approval_requested": approval(event); break;
      case "guardrail_tripped": {
        const c = card("guardrail", `⚠ guardrail ${event.guardrail}: ${event.category}`, event.agent);
        c.append(el("pre", "", `${event.rationale}\n\n“${event.text}”`));
        note(`guardrail ${event.guardrail} stopped the reply`, true);
        break;
      }
      case "audio_interrupted": {
        if (state.player) state.player.stop();
        const b = state.bubbles[event.item_id];
        if (b && !b.querySelector(".cut")) b.append(el("span", "cut", `✂ cut at ${event.played_ms} ms (what was heard)`));
        state.lastTruncation = event;
        break;
      }
      case "speech_started": if (state.player) state.player.stop(); break;
      case "call_transferred": {
        const c = card("move", `☎ transferred to ${event.to}`, event.agent);
        if (event.summary) c.append(el("pre", "", event.summary));
        note(`the call was transferred to ${event.to}`);
        break;
      }
      case "dtmf_sent": card("tool", `☎ keys sent: ${event.digits}`); break;
      case "call_ended": note(event.reason === "hangup" ? "the agent hung up" : `call ended (${event.reason})`); break;
      case "error": note(`error${event.code ? ` ${event.code}` : ""}: ${event.message}`, true); break;
      case "reconnecting": note("connection lost; reconnecting…", true); break;
      case "reconnected": note("reconnected"); break;
      default: break;
    }
  }
  function onMessage(raw) {
    if (typeof raw !== "string") return;
    const message = JSON.parse(raw);
    switch (message.type) {
      case "audio":  // an agent audio delta, with its elided wire event(s)
        for (const wire of message.wire || []) log(wire.dir, wire.event.type || "?", wire.event, wire.t);
        if (state.player) state.player.play(message.item_id, message.data);
        state.audioChunks = (state.audioChunks || 0) + 1;
        break;
      case "wire": log(message.dir, message.event.type || "?", message.event, message.t); break;
      case "event": onEvent(message.event, message.t); break;
      case "ready": onReady(message.call); break;
      case "refused": log("engine", "refused", message); note(`call refused: ${message.message}`, true); break;
      case "error": log("engine", "error", message); note(message.message, true); break;
      case "ended":
        log("engine", "ended", message);
        note(`call ended: ${message.reason}`);
        for (const p of message.off_script || []) note(`off script: ${p}`, true);
        if (message.record) {  // the call's record, to replay over the graph
          const link = el("a", "", "replay this call");
          link.href = `/calls/${encodeURIComponent(message.record)}`;
          link.id = "replay-link";
          const line = el("div", "note");
          line.append(link);
          $("transcript").append(line);
          scrollTranscript();
        }
        break;
      default: log("engine", message.type, message);
    }
  }
  function send(message) {
    if (!state.ws || state.ws.readyState !== WebSocket.OPEN) return;
    if (message.type !== "played") log("browser", message.type, message);
    state.ws.send(JSON.stringify(message));
  }

  // --- starting and stopping a call -------------------------------------------------------------
  async function startCall() {
    const scenario = $("scenario").value;
    const codec = $("codec").value;
    const pushToTalk = $("mode").value === "ptt";
    const rate = codec === "g711_ulaw" ? 8000 : 24000;
    setBusy(true);
    $("transcript").textContent = ""; $("activity").textContent = ""; $("approvals").textContent = "";
    state.bubbles = {}; state.tools = {}; state.log = []; $("log").textContent = ""; state.micFrames = 0;
    state.audioChunks = 0; state.lastTruncation = null;
    await loadGraph(scenario);
    const ctx = new AudioContext({ sampleRate: rate, latencyHint: "interactive" });
    await ctx.resume();
    state.ctx = ctx;
    state.recorder = new Recorder(ctx);
    state.player = new Player(ctx, codec, (itemId, ms) => send({ type: "played", item_id: itemId, ms }));
    try {
      await startMic(ctx, codec);
    } catch (err) {
      note(`no microphone (${err.message || err}); typing still works`, true);
    }
    const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/call`);
    ws.binaryType = "arraybuffer";
    state.ws = ws;
    ws.onopen = () => send({ type: "start", scenario, codec, push_to_talk: pushToTalk });
    ws.onmessage = (e) => onMessage(e.data);
    ws.onclose = () => endCall();
    ws.onerror = () => note("the connection to the server failed", true);
    state.call = { scenario, codec, pushToTalk, rate };
    setStatus("connecting…");
  }
  function onReady(call) {
    state.call = { ...state.call, ...call };
    log("engine", "ready", call);
    state.agent = call.agent; state.agentState = call.state;
    $("agent").textContent = call.state ? `${call.agent} · ${call.state}` : call.agent;
    light();
    $("badge").hidden = !call.simulated;
    setStatus(`in call · ${call.codec} ${call.rate / 1000} kHz`, true);
    setLive(true);
    note(call.simulated ? `simulator: replaying the demo of ${call.name} turn by turn` : `live call: ${call.name}`);
  }
  async function startMic(ctx, codec) {
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
    });
    await ctx.audioWorklet.addModule("/static/capture-worklet.js");
    const source = ctx.createMediaStreamSource(stream);
    const node = new AudioWorkletNode(ctx, "engine-capture", { processorOptions: { codec, muted: state.muted } });
    node.port.onmessage = (e) => {
      const { bytes, pcm, level } = e.data;
      $("mic-meter").textContent = `mic: ${state.muted ? "muted" : "▮".repeat(Math.min(12, Math.round(level * 40))) || "·"}`;
      const open = !state.call || !state.call.pushToTalk || state.talking;
      if (!state.ws || state.ws.readyState !== WebSocket.OPEN || !open || !state.call.id) return;
      state.ws.send(bytes);
      state.micFrames++;
      if (state.recorder) state.recorder.mic(new Int16Array(pcm));
    };
    source.connect(node);
    state.mic = { stream, source };
    state.worklet = node;
  }
  function hangUp() {
    // The server ends the session, says so and closes the socket; the page cleans up then.
    if (!state.ws || state.ws.readyState !== WebSocket.OPEN) { endCall(); return; }
    send({ type: "stop" });
    setStatus("ending…");
    const ws = state.ws;
    setTimeout(() => { if (state.ws === ws) endCall(); }, 3000);
  }
  function endCall() {
    if (!state.call) return;
    if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.close();
    state.ws = null;
    if (state.player) state.player.close();
    if (state.mic) { state.mic.stream.getTracks().forEach((t) => t.stop()); state.mic = null; }
    if (state.ctx) { const ctx = state.ctx; setTimeout(() => ctx.close(), 50); }
    state.ctx = null; state.call = null; state.player = null;
    setLive(false);
    setBusy(false);
    setStatus("idle");
  }
  function setStatus(text, connected) { const s = $("status"); s.textContent = text; s.classList.toggle("connected", !!connected); }
  function setBusy(busy) { for (const id of ["scenario", "codec", "mode"]) $(id).disabled = busy; }
  function setLive(live) {
    const button = $("call");
    button.textContent = live ? "End call" : "Start call";
    button.classList.toggle("live", live);
    for (const id of ["text", "send"]) $(id).disabled = !live;
    $("ptt").disabled = !live || !state.call || !state.call.pushToTalk;
    $("download-audio").disabled = !state.recorder;
    $("download-events").disabled = !state.log.length;
  }

  // --- controls ---------------------------------------------------------------------------------
  function download(blob, name) {
    const a = el("a");
    a.href = URL.createObjectURL(blob);
    a.download = name;
    document.body.append(a);
    a.click();
    setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  }
  function bind() {
    $("call").onclick = () => (state.call ? hangUp() : startCall());
    $("scenario").onchange = () => { if (!state.call) loadGraph($("scenario").value); };
    $("say").onsubmit = (e) => {
      e.preventDefault();
      const text = $("text").value.trim();
      if (!text || !state.call) return;
      if (state.player && state.player.playing()) {
        state.player.stop();
        send({ type: "interrupt" });  // typing over the agent is a barge-in too
      }
      send({ type: "text", text });
      $("text").value = "";
    };
    $("mute").onclick = () => {
      state.muted = !state.muted;
      $("mute").setAttribute("aria-pressed", String(state.muted));
      $("mute").textContent = state.muted ? "Unmute" : "Mute";
      if (state.worklet) state.worklet.port.postMessage({ muted: state.muted });
    };
    const press = () => {
      if (state.talking || !state.call || !state.call.pushToTalk) return;
      state.talking = true; $("ptt").classList.add("held");
      if (state.player) state.player.stop();
      send({ type: "clear" });  // the server interrupts the agent and empties the input buffer
    };
    const release = () => {
      if (!state.talking) return;
      state.talking = false; $("ptt").classList.remove("held");
      send({ type: "commit" });
    };
    $("ptt").addEventListener("pointerdown", press);
    $("ptt").addEventListener("pointerup", release);
    $("ptt").addEventListener("pointerleave", release);
    document.addEventListener("keydown", (e) => { if (e.code === "Space" && e.target === document.body) { e.preventDefault(); press(); } });
    document.addEventListener("keyup", (e) => { if (e.code === "Space" && e.target === document.body) release(); });
    $("filter").oninput = refilter;
    for (const c of document.querySelectorAll(".log-filter input[data-source]")) c.onchange = refilter;
    $("fit").onclick = () => { setFollow(false); if (state.view) state.view.fit(); };
    $("follow").onclick = () => setFollow(!state.follow);
    $("download-events").onclick = () => download(new Blob([JSON.stringify(state.log, null, 2)], { type: "application/json" }), "call-events.json");
    $("download-audio").onclick = () => state.recorder && download(state.recorder.wav(), "call-audio.wav");
    window.addEventListener("beforeunload", () => endCall());
  }

  async function init() {
    bind();
    const res = await fetch("/api/scenarios");
    const data = await res.json();
    state.scenarios = data.scenarios;
    $("badge").hidden = !data.simulated;
    const select = $("scenario");
    for (const s of data.scenarios) {
      const option = el("option", "", s.name);
      option.value = s.id;
      option.title = s.description;
      if (data.simulated && !s.demo) { option.disabled = true; option.textContent += " (no demo)"; }
      select.append(option);
    }
    if (data.problems.length) { $("problems").hidden = false; $("problems").textContent = data.problems.join("\n"); }
    const wanted = new URLSearchParams(location.search).get("scenario");
    if (wanted && data.scenarios.some((s) => s.id === wanted)) select.value = wanted;
    if (select.value) await loadGraph(select.value);
    document.body.dataset.ready = "true";
  }
  init();
})();
