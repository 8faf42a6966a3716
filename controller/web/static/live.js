// The live view: keeps the table of calls in progress up to date from the server's
// Server-Sent Events (/api/live/events). No numbers reach this page but, while a caller
// keys a card with the agent (assisted payment), the card number's last four digits.
"use strict";

(function () {
  const table = document.getElementById("live-calls");
  const status = document.getElementById("live-status");
  if (!table || !window.EventSource) {
    return;
  }
  const body = table.tBodies[0];
  const mayListen = table.dataset.mayListen === "yes";

  function stateText(call) {
    const text = table.getAttribute("data-state-" + call.state) || call.state;
    const reason = call.pause_reason ? text + " (" + call.pause_reason + ")" : text;
    return call.payment_progress ? reason + " " + call.payment_progress : reason;
  }

  function cell(row, text) {
    const td = document.createElement("td");
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  function listenForm(callId) {
    const form = document.createElement("form");
    form.method = "post";
    form.action = "/live/" + encodeURIComponent(callId) + "/listen";
    form.className = "listen";
    const csrf = document.createElement("input");
    csrf.type = "hidden";
    csrf.name = "csrf";
    csrf.value = table.dataset.csrf;
    const purpose = document.createElement("input");
    purpose.name = "purpose";
    purpose.required = true;
    purpose.minLength = 5;
    purpose.maxLength = 500;
    purpose.placeholder = table.dataset.purpose;
    const button = document.createElement("button");
    button.type = "submit";
    button.textContent = table.dataset.listen;
    form.append(csrf, purpose, button);
    return form;
  }

  function row(call) {
    const tr = document.createElement("tr");
    tr.dataset.call = call.call_id;
    cell(tr, call.call_id);
    cell(tr, call.service);
    cell(tr, call.direction);
    cell(tr, call.agent_id || "");
    cell(tr, call.started_at);
    const state = document.createElement("span");
    state.className = "state";
    state.textContent = stateText(call);
    cell(tr, "").appendChild(state);
    if (mayListen) {
      cell(tr, "").appendChild(listenForm(call.call_id));
    }
    return tr;
  }

  function find(callId) {
    return Array.from(body.rows).find((tr) => tr.dataset.call === callId);
  }

  function update(call) {
    const old = find(call.call_id);
    const fresh = row(call);
    if (!old) {
      body.appendChild(fresh);
      return;
    }
    // A half-typed purpose survives a state change.
    const typed = old.querySelector("input[name=purpose]");
    if (typed && typed.value) {
      fresh.querySelector("input[name=purpose]").value = typed.value;
    }
    old.replaceWith(fresh);
  }

  const source = new EventSource("/api/live/events");
  source.addEventListener("open", () => { status.textContent = status.dataset.connected; });
  source.addEventListener("error", () => { status.textContent = status.dataset.lost; });
  source.addEventListener("snapshot", (event) => {
    const calls = JSON.parse(event.data).calls;
    const keep = new Set(calls.map((call) => call.call_id));
    Array.from(body.rows).forEach((tr) => { if (!keep.has(tr.dataset.call)) { tr.remove(); } });
    calls.forEach(update);
  });
  source.addEventListener("update", (event) => update(JSON.parse(event.data)));
  source.addEventListener("end", (event) => {
    const gone = find(JSON.parse(event.data).call_id);
    if (gone) {
      gone.remove();
    }
  });
})();
