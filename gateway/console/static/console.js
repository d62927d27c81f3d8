// The faxgw console. Everything the gateway stores is shown with textContent (never parsed as HTML), and
// this file is the page's only script: the Content-Security-Policy allows no inline script.
"use strict";

const API = "/console/api";
const FINAL = new Set(["success", "failed", "partially_sent", "cancelled", "partially_received"]);
let session = null;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value !== undefined && value !== null) node.setAttribute(name, String(value));
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(child == null ? "" : String(child)));
  }
  return node;
}

async function getJson(path) {
  const response = await fetch(API + path, { credentials: "same-origin" });
  if (response.status === 401) {
    window.location.assign("/console/sign-in");
    throw new Error("signed out");
  }
  const body = await response.json();
  if (!response.ok) throw new Error(body.description || response.statusText);
  return body;
}

function when(text) {
  return text ? new Date(text).toLocaleString() : "";
}

function statusCell(fax) {
  return el("td", { class: "status status-" + fax.status }, fax.status);
}

function faxLink(fax) {
  return el("a", { href: "/console/fax?id=" + encodeURIComponent(fax.id) }, fax.id);
}

// Page thumbnails of a fax: one <img> per page transferred so far, added as pages arrive.
function syncThumbs(container, fax) {
  const transferred = fax.pages ? fax.pages.transferred : 0;
  for (let n = container.children.length + 1; n <= transferred; n++) {
    const src = API + "/faxes/" + encodeURIComponent(fax.id) + "/pages/" + n;
    container.append(el("img", { src: src, alt: "page " + n, class: "thumb" }));
  }
}

// Inbox: the list is fetched every second (a new fax shows up without a reload); a fax being received
// also has its event stream open, so that each page shows the moment it is complete.
function inbox(main) {
  const rows = new Map();
  const streams = new Map();
  const body = el("tbody");
  const problem = el("p", { class: "error", id: "problem", hidden: "" });
  main.append(
    el("h1", {}, "Inbox"),
    problem,
    el("table", { id: "inbox" },
      el("thead", {}, el("tr", {}, ...["Fax", "From", "To", "Status", "Pages", "Received", "Pages so far"].map((h) => el("th", {}, h)))),
      body),
  );
  function row(fax) {
    let entry = rows.get(fax.id);
    if (!entry) {
      const thumbs = el("div", { class: "thumbs" });
      const tr = el("tr", { id: "fax-" + fax.id, class: "fax" });
      entry = { tr, thumbs };
      rows.set(fax.id, entry);
      body.prepend(tr);
    }
    entry.tr.replaceChildren(
      el("td", {}, faxLink(fax)), el("td", {}, fax.from), el("td", {}, fax.to), statusCell(fax),
      el("td", { class: "pages" }, fax.pages.transferred + " / " + (fax.pages.total ?? "?")),
      el("td", {}, when(fax.created_at)), el("td", {}, entry.thumbs),
    );
    syncThumbs(entry.thumbs, fax);
    if (!FINAL.has(fax.status) && !streams.has(fax.id)) follow(fax.id);
  }
  function follow(id) {
    const stream = new EventSource(API + "/faxes/" + encodeURIComponent(id) + "/events");
    streams.set(id, stream);
    const refresh = () => getJson("/faxes/" + encodeURIComponent(id)).then(row, () => {});
    stream.addEventListener("page.received", refresh);
    for (const type of ["received", "failed"]) {
      stream.addEventListener(type, () => { stream.close(); refresh(); });
    }
    stream.onerror = () => stream.close(); // the list's polling carries on
  }
  async function poll() {
    try {
      const list = await getJson("/faxes?direction=inbound");
      for (const fax of list.faxes.slice().reverse()) row(fax);
      problem.hidden = true;
    } catch (error) {
      problem.textContent = String(error.message || error);
      problem.hidden = false;
    }
    setTimeout(poll, 1000);
  }
  poll();
}

function outbox(main) {
  const body = el("tbody");
  main.append(
    el("h1", {}, "Outbox"),
    el("table", { id: "outbox" },
      el("thead", {}, el("tr", {}, ...["Fax", "From", "To", "Status", "Pages", "Attempts", "Error", "Created"].map((h) => el("th", {}, h)))),
      body),
  );
  async function poll() {
    try {
      const list = await getJson("/faxes?direction=outbound");
      body.replaceChildren(...list.faxes.map((fax) => el("tr", { id: "fax-" + fax.id, class: "fax" },
        el("td", {}, faxLink(fax)), el("td", {}, fax.from), el("td", {}, fax.to), statusCell(fax),
        el("td", {}, fax.pages.transferred + " / " + (fax.pages.total ?? "?")),
        el("td", {}, String(fax.attempts.length)),
        el("td", {}, fax.error ? fax.error.description : ""), el("td", {}, when(fax.created_at)))));
    } catch (error) { /* shown on the next poll that works */ }
    setTimeout(poll, 2000);
  }
  poll();
}

function sendForm(main) {
  main.append(el("h1", {}, "Send a fax"));
  if (!session.can_send) {
    main.append(el("p", { class: "error", id: "read-only" }, "This key may view faxes, not send them."));
    return;
  }
  const from = el("select", { name: "from", id: "from" }, ...session.numbers.map((n) => el("option", { value: n }, n)));
  const form = el("form", { id: "send" },
    el("label", {}, "From", from),
    el("label", {}, "To (one number per line)", el("textarea", { name: "to", id: "to", required: "", maxlength: "20000" })),
    el("label", {}, "Document (PDF, image, text)", el("input", { type: "file", name: "file", id: "file", required: "" })),
    el("label", {}, "Cover page subject (optional)", el("input", { name: "subject", id: "subject", maxlength: "60" })),
    el("label", {}, "Cover page text (optional: no cover page when empty)", el("textarea", { name: "cover", id: "cover", maxlength: "4000" })),
    el("button", { type: "submit", id: "send-button" }, "Send"));
  const result = el("p", { id: "result" });
  main.append(form, result);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    result.className = "";
    result.textContent = "Sending...";
    const response = await fetch(API + "/faxes", {
      method: "POST", body: new FormData(form), credentials: "same-origin",
      headers: { "X-CSRF-Token": session.csrf },
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      result.className = "error";
      result.textContent = body.description || "refused (" + response.status + ")";
      return;
    }
    result.className = "notice";
    result.replaceChildren("Queued: ", ...body.ids.flatMap((id) => [faxLink({ id }), " "]));
  });
}

function dl(pairs) {
  return el("dl", {}, ...pairs.filter(([, v]) => v !== null && v !== undefined && v !== "")
    .flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, String(v))]));
}

function table(headers, rows) {
  return el("table", {}, el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", {}, h)))),
    el("tbody", {}, ...rows.map((cells) => el("tr", {}, ...cells.map((c) => el("td", {}, c == null ? "" : String(c)))))));
}

async function detail(main) {
  const id = new URLSearchParams(window.location.search).get("id") || "";
  const title = el("h1", {}, "Fax " + id);
  main.append(title);
  let fax;
  try {
    fax = await getJson("/faxes/" + encodeURIComponent(id));
  } catch (error) {
    main.append(el("p", { class: "error", id: "problem" }, String(error.message || error)));
    return;
  }
  const thumbs = el("div", { class: "thumbs", id: "thumbs" });
  syncThumbs(thumbs, fax);
  main.append(
    dl([["Direction", fax.direction], ["From", fax.from], ["To", fax.to], ["Status", fax.status],
      ["Error", fax.error && fax.error.description], ["Pages", fax.pages.transferred + " / " + (fax.pages.total ?? "?")],
      ["Remote station", fax.remote_station_id], ["T.38", fax.t38], ["Bit rate", fax.bit_rate], ["ECM", fax.ecm],
      ["Created", when(fax.created_at)], ["Completed", when(fax.completed_at)]]),
    thumbs);
  for (const attempt of fax.attempts) {
    const section = el("section", { class: "attempt", id: "attempt-" + attempt.n },
      el("h2", {}, "Attempt " + attempt.n),
      dl([["Status", attempt.status], ["Started", when(attempt.started_at)], ["Ended", when(attempt.ended_at)],
        ["SIP", attempt.sip_code], ["Hangup", attempt.hangup_cause], ["T.30", attempt.t30_text], ["Route", attempt.route]]));
    main.append(section);
    try {
      const d = await getJson("/faxes/" + encodeURIComponent(id) + "/attempts/" + attempt.n + "/diagnostics");
      section.append(el("p", { class: "summary" }, d.summary || ""),
        dl([["Call-ID", d.call_id], ["Hung up by", d.hung_up_by], ["T.30 code", d.t30_code]]));
      if (d.sip.length) section.append(el("h3", {}, "SIP ladder"), table(["s", "", "message"], d.sip.map((s) => [s.at.toFixed(3), s.sent ? "→" : "←", s.message])));
      if (d.t30.length) section.append(el("h3", {}, "T.30"), table(["s", "", "frame", "detail"], d.t30.map((s) => [s.at.toFixed(3), s.sent ? "→" : "←", s.name, s.detail])));
      if (d.media.length) section.append(el("h3", {}, "Media"), table(["kind", "sent", "received", "lost", "late", "recovered", "jitter ms"],
        d.media.map((m) => [m.kind, m.packets_sent, m.packets_received, m.lost, m.late, m.recovered, m.jitter_ms])));
      if (d.notes.length) section.append(el("h3", {}, "Notes"), el("pre", {}, d.notes.join("\n")));
    } catch (error) {
      section.append(el("p", { class: "error" }, String(error.message || error)));
    }
  }
}

// Trunks and devices: refreshed every 2 s.
function statusView(main) {
  const content = el("div", { id: "status" });
  main.append(el("h1", {}, "Trunks and devices"), content);
  const yesNo = (up) => el("td", { class: "status " + (up ? "status-success" : "status-failed") }, up ? "up" : "down");
  async function poll() {
    try {
      const s = await getJson("/status");
      const trunks = el("table", { id: "trunks" },
        el("thead", {}, el("tr", {}, ...["Trunk", "State", "Hosts (qualify time)"].map((h) => el("th", {}, h)))),
        el("tbody", {}, ...s.trunks.map((t) => el("tr", {}, el("td", {}, t.name), yesNo(t.up),
          el("td", {}, t.hosts.map((h) => h.address + " " + (h.up ? "up" : "down") +
            (h.rtt_ms == null ? "" : " (" + h.rtt_ms.toFixed(1) + " ms)")).join(", "))))));
      const devices = el("table", { id: "devices" },
        el("thead", {}, el("tr", {}, ...["Device", "Registered", "Contacts", "Expires in (s)"].map((h) => el("th", {}, h)))),
        el("tbody", {}, ...s.devices.map((d) => el("tr", {}, el("td", {}, d.username), yesNo(d.contacts.length > 0),
          el("td", {}, d.contacts.join(", ")), el("td", {}, d.expires == null ? "" : String(d.expires))))));
      content.replaceChildren(el("h2", {}, "Trunks"), trunks, el("h2", {}, "Your devices"), devices,
        el("p", { id: "calls" }, "Calls in progress on this node: " + s.calls), el("p", {}, s.note || ""));
    } catch (error) { /* shown on the next poll that works */ }
    setTimeout(poll, 2000);
  }
  poll();
}

function signInPage() {
  const messages = { key: "That key, or that user and password, is not known.", wait: "Too many failed sign-ins: wait a few minutes." };
  const code = new URLSearchParams(window.location.search).get("error");
  const problem = document.getElementById("problem");
  if (code && Object.hasOwn(messages, code)) {
    problem.textContent = messages[code];
    problem.hidden = false;
  }
}

async function app() {
  session = await getJson("/session");
  document.getElementById("tenant").textContent = session.tenant + (session.can_send ? "" : " (read only)");
  document.getElementById("sign-out-csrf").value = session.csrf;
  const main = document.getElementById("main");
  const view = window.location.pathname.replace(/^\/console\/?/, "");
  const nav = { "": "nav-inbox", outbox: "nav-outbox", send: "nav-send", status: "nav-status" }[view];
  if (nav) document.getElementById(nav).classList.add("current");
  ({ "": inbox, outbox: outbox, send: sendForm, fax: detail, status: statusView }[view] || inbox)(main);
}

document.addEventListener("DOMContentLoaded", () => {
  if (document.body.dataset.view === "sign-in") signInPage();
  else app();
});
