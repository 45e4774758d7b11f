// The verification page: posts the chosen PDF to POST /v1/verify (the JSON verdict and, with
// format=html, the report page) and shows both.  No dependencies, no build step.
//
// The API token lives only in this tab's sessionStorage and in the Authorization header of the
// two requests: never in a URL, never in a log.  The report page is shown in an iframe with
// sandbox="allow-same-origin" and no allow-scripts: nothing in it can run, and this page may
// read its height to size the frame.  The report keeps its own Content-Security-Policy.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const root = document.documentElement;
  const PUBLIC = root.dataset.verifyPublic === "true";
  const MAX_BYTES = Number(root.dataset.maxUploadBytes) || 0;
  const TOKEN_KEY = "eseal.verify.token";
  const USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY";

  // the Chinese text of each problem code, filled in by the server from seals/codes.py
  let PROBLEM_TEXT = {};
  try {
    PROBLEM_TEXT = JSON.parse($("problem-text").textContent || "{}");
  } catch (_) {
    PROBLEM_TEXT = {};
  }
  // notice sentences, short marks, revocation reasons and seal kinds: the server fills them in
  // from the registry the report page reads (seals/codes.py, seals/vocab.py)
  let NOTICE = { notices: {}, marks: {}, reasons: {}, seal_kinds: {} };
  try {
    NOTICE = { ...NOTICE, ...JSON.parse($("notice-text").textContent || "{}") };
  } catch (_) {
    // the page still shows each notice's own message
  }

  // Chinese explanations of the errors (problem+json codes) the page can meet
  const ERROR_TEXT = {
    unauthorized: "需要有效的 API 令牌。请在上方填写管理员发放的令牌；令牌可能已被撤销或已过期。",
    token_missing: "本服务器的验证接口需要 API 令牌，请先在上方填写。",
    forbidden: "该令牌无权使用验证接口。",
    invalid_pdf: "上传的文件不是有效的 PDF，或文件已损坏、不完整。",
    pdf_encrypted: "文件已加密，无法验证。",
    invalid_upload: "上传内容不完整，请重新选择文件。",
    file_too_large: "文件超过服务器允许的大小。",
    invalid_uscc: "期望企业的统一社会信用代码不正确。",
    invalid_request: "请求有误。",
    not_found: "服务器上没有验证接口。",
    internal_error: "服务器内部错误，请稍后再试或联系管理员。",
    network_error: "无法连接验证服务器，请检查网络后重试。",
    bad_response: "服务器的回答无法读取。",
  };

  const form = $("verify-form");
  const drop = $("drop");
  const fileInput = $("file");
  const expectInput = $("expect");
  const tokenInput = $("token");
  const submit = $("submit");
  const status = $("status");
  const frame = $("report");
  const download = $("download");

  let file = null;
  let controller = null;
  let downloadUrl = null;

  // Trusted Types (the page's CSP requires them): the one policy hands the report to srcdoc
  const policy = window.trustedTypes
    ? window.trustedTypes.createPolicy("eseal-report", { createHTML: (html) => html })
    : null;

  // -- small helpers -------------------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "class") node.className = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  const code = (text) => el("code", { class: "m" }, text);
  const obj = (value) => (value && typeof value === "object" && !Array.isArray(value) ? value : {});
  const list = (value) => (Array.isArray(value) ? value : []);

  function setState(state) {
    document.body.dataset.state = state;
  }

  function setStatus(text, busy) {
    status.textContent = text;
    status.classList.toggle("busy", Boolean(busy));
  }

  function formatSize(bytes) {
    if (bytes >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
    if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KB`;
    return `${bytes} 字节`;
  }

  // Beijing time (UTC+8) of an ISO 8601 instant, or null
  function beijing(iso) {
    if (typeof iso !== "string" || !iso) return null;
    const ms = Date.parse(iso);
    if (Number.isNaN(ms)) return iso;
    const d = new Date(ms + 8 * 3600 * 1000);
    const p = (n) => String(n).padStart(2, "0");
    return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ` +
      `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`;
  }

  // GB 32100-2015: 18 characters, check character over the first 17 (weights 3^i mod 31)
  function usccProblem(value) {
    if (value.length !== 18) return `统一社会信用代码应为 18 位，现在是 ${value.length} 位。`;
    for (const c of value) {
      if (!USCC_CHARSET.includes(c)) return `统一社会信用代码中不能有字符“${c}”。`;
    }
    if (!/^[0-9]{6}$/.test(value.slice(2, 8))) return "统一社会信用代码第 3 至 8 位应为数字。";
    let total = 0;
    let weight = 1;
    for (let i = 0; i < 17; i += 1) {
      total += USCC_CHARSET.indexOf(value[i]) * weight;
      weight = (weight * 3) % 31;
    }
    const check = USCC_CHARSET[(31 - (total % 31)) % 31];
    if (value[17] !== check) return `统一社会信用代码校验位不符（按前 17 位应为“${check}”），请检查是否输错。`;
    return null;
  }

  // -- the token (sessionStorage only) -------------------------------------------------------

  function storedToken() {
    try {
      return sessionStorage.getItem(TOKEN_KEY) || "";
    } catch (_) {
      return "";
    }
  }

  function storeToken(value) {
    try {
      if (value) sessionStorage.setItem(TOKEN_KEY, value);
      else sessionStorage.removeItem(TOKEN_KEY);
    } catch (_) {
      // storage disabled: the token stays in the field only
    }
  }

  tokenInput.value = storedToken();
  tokenInput.addEventListener("input", () => storeToken(tokenInput.value.trim()));
  $("token-clear").addEventListener("click", () => {
    tokenInput.value = "";
    storeToken("");
    tokenInput.focus();
  });
  const need = $("token-need");
  need.textContent = PUBLIC ? "本服务器公开验证，可不填" : "必填";
  need.classList.add(PUBLIC ? "optional" : "need");

  if (MAX_BYTES > 0) $("max-size").textContent = formatSize(MAX_BYTES);

  // the USCC as the server takes it: no whitespace anywhere, capitals
  const normalUscc = (value) => String(value || "").replace(/\s+/g, "").toUpperCase();

  expectInput.addEventListener("input", () => {
    const normal = normalUscc(expectInput.value);
    if (normal !== expectInput.value) expectInput.value = normal;
    expectInput.classList.remove("invalid");
  });

  // -- choosing a file -----------------------------------------------------------------------

  function choose(chosen) {
    if (!chosen) return;
    file = chosen;
    const chosenLine = $("chosen");
    chosenLine.replaceChildren(`已选择：${file.name}（${formatSize(file.size)}）`);
    chosenLine.hidden = false;
    submit.disabled = false;
    verify();
  }

  fileInput.addEventListener("change", () => {
    choose(fileInput.files && fileInput.files[0]);
    fileInput.value = ""; // choosing the same file again verifies again
  });
  drop.addEventListener("click", (event) => {
    if (!event.target.closest("label")) fileInput.click();
  });
  drop.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      fileInput.click();
    }
  });
  // a PDF dropped anywhere on the page is taken (and never opened by the browser instead)
  window.addEventListener("dragover", (event) => {
    event.preventDefault();
    if (event.dataTransfer) event.dataTransfer.dropEffect = "copy";
    drop.classList.add("over");
  });
  window.addEventListener("dragleave", (event) => {
    if (event.relatedTarget === null) drop.classList.remove("over");
  });
  window.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    const files = event.dataTransfer ? event.dataTransfer.files : null;
    if (files && files.length) choose(files[0]);
  });

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    verify();
  });

  // -- showing results -----------------------------------------------------------------------

  function showError(problem) {
    const p = obj(problem);
    const known = ERROR_TEXT[p.code] || PROBLEM_TEXT[p.code];
    $("error-code").textContent = p.code || "error";
    $("error-text").textContent = known || p.title || "验证没有完成。";
    $("error-status").textContent = p.local
      ? "未发送请求（页面在发送前发现）"
      : (p.status ? String(p.status) : "—");
    $("error-title").textContent = p.title || "—";
    $("error-detail").textContent = p.detail || "—";
    $("result").hidden = true;
    $("error").hidden = false;
    setStatus("", false);
    setState("error");
  }

  // the Chinese sentence of a notice (api/report_html.py notice_sentence does the same)
  function noticeSentence(notice, oneEnterprise) {
    const n = obj(notice);
    const template = NOTICE.notices[`${n.code}.${n.reason}`] || NOTICE.notices[n.code];
    if (!template) return String(n.message || n.code || "");
    const seal = obj(n.seal);
    const name = n.enterprise || n.uscc || "企业";
    const day = n.since ? (beijing(n.since) || String(n.since)).slice(0, 10) : "（日期不详）";
    const values = {
      enterprise: oneEnterprise ? "该企业" : `${name}（${n.uscc}）`,
      date: day,
      seal: seal.label || NOTICE.seal_kinds[seal.kind] || "印章",
      reason: NOTICE.reasons[n.reason] || String(n.reason),
      version: String(n.current_version),
      signed_version: String(seal.version),
    };
    return template.replace(/\{(\w+)\}/g, (all, key) => (key in values ? values[key] : all));
  }

  function oneEnterprise(report) {
    const usccs = new Set();
    list(report.signatures).forEach((s) => {
      const uscc = obj(obj(s).enterprise).uscc;
      if (obj(s).type !== "document_timestamp" && uscc) usccs.add(uscc);
    });
    list(report.notices).forEach((n) => { if (obj(n).uscc) usccs.add(obj(n).uscc); });
    return usccs.size <= 1;
  }

  function marksOf(sig, notices) {
    const marks = [];
    notices.forEach((n) => {
      const item = obj(n);
      if (list(item.fields).includes(obj(sig).field)) {
        const mark = NOTICE.marks[item.code] || item.code;
        if (!marks.includes(mark)) marks.push(mark);
      }
    });
    return marks;
  }

  // the verdict in one sentence (api/report_html.py headline does the same)
  function headline(report) {
    const signatures = list(report.signatures);
    const seals = signatures.filter((s) => obj(s).type !== "document_timestamp");
    const one = oneEnterprise(report);
    const sentences = list(report.notices).map((n) => noticeSentence(n, one));
    if (report.valid === true) {
      if (sentences.length) return `签章有效：签章时营业执照存续；${sentences.join("；")}。`;
      const names = Array.from(new Set(seals.map((s) => obj(obj(s).enterprise).name).filter(Boolean)));
      return `文件自签章后未被改动，全部 ${seals.length} 枚印章可信，签章时营业执照存续。` +
        (names.length ? `签章企业：${names.join("、")}。` : "");
    }
    let text = "不能确认文件自签章后未被改动、由登记企业在营业执照存续期间签章。原因见下方列出的问题。";
    const expect = report.expect_uscc;
    if (expect && !seals.some((s) => obj(obj(s).enterprise).uscc === expect)) {
      text = `文件中没有 ${expect} 的签章。`;
      if (seals.length && signatures.every((s) => obj(s).valid === true)) {
        const names = Array.from(new Set(seals.map((s) => obj(obj(s).enterprise).name || "未知企业")));
        text += `文件中的 ${seals.length} 枚印章（${names.join("、")}）验证通过。`;
      } else if (seals.length) {
        text += "文件中的其他签章也有问题，见下方列出的问题。";
      }
    }
    if (sentences.length) text += `注意：${sentences.join("；")}。`;
    return text;
  }

  function signatureRow(index, sig, notices) {
    const s = obj(sig);
    const seal = obj(s.seal);
    const enterprise = obj(s.enterprise);
    const timestamp = obj(s.timestamp);
    const isTs = s.type === "document_timestamp";
    const label = isTs ? "文档时间戳" : (seal.label || "未知印章");
    const kind = isTs ? "document_timestamp" : (seal.kind || s.type || "—");
    const time = beijing(timestamp.time) || beijing(s.signing_time);
    const validCell = s.valid === true
      ? el("span", { class: "ok" }, "有效")
      : el("span", { class: "bad" }, "无效");
    const marks = marksOf(s, notices);
    return el("tr", marks.length ? { class: "noticed" } : {},
      el("td", { class: "num" }, String(index)),
      el("td", {}, label, " ", code(kind)),
      el("td", {}, isTs ? el("span", { class: "na" }, "—") : (enterprise.name || "未知")),
      el("td", { class: "mono" }, isTs ? el("span", { class: "na" }, "—") : (enterprise.uscc || "—")),
      el("td", {}, time || el("span", { class: "na" }, "无")),
      el("td", {}, validCell, " ", code(`valid: ${s.valid === true}`),
        ...marks.map((m) => el("span", { class: "nmark" }, m))));
  }

  function problemItems(report) {
    const where = new Map(); // code -> {message, places}
    const add = (p, place) => {
      const item = obj(p);
      const key = String(item.code);
      if (!where.has(key)) where.set(key, { message: item.message, places: [] });
      const entry = where.get(key);
      if (!entry.places.includes(place)) entry.places.push(place);
    };
    // the signatures' own problems first: they are the causes of the file's
    list(report.signatures).forEach((s, i) => list(obj(s).problems).forEach((p) => add(p, `签章 ${i + 1}`)));
    list(report.problems).forEach((p) => add(p, "文件"));
    return Array.from(where, ([key, entry]) => el("li", {},
      PROBLEM_TEXT[key] || el("span", { class: "na" }, "（未收录的问题代码）"),
      " ", code(key), " ",
      el("span", { class: "where" }, `（${entry.places.join("、")}）`)));
  }

  function showVerdict(report) {
    const r = obj(report);
    const valid = r.valid === true;
    const signatures = list(r.signatures);
    const notices = list(r.notices);
    const card = $("verdict");
    card.classList.toggle("good", valid);
    card.classList.toggle("fail", !valid);
    card.classList.toggle("noticed", notices.length > 0);
    const badge = $("verdict-badge");
    badge.textContent = valid ? "有效" : "无效";
    badge.className = `badge ${valid ? "good" : "fail"}`;
    $("verdict-code").textContent = `valid: ${valid}`;
    let text = headline(r);
    if (r.expect_uscc) text += `期望企业：${r.expect_uscc}。`;
    $("verdict-text").textContent = text;
    const one = oneEnterprise(r);
    $("notice-list").replaceChildren(...notices.map((n) => el("li", {},
      noticeSentence(n, one), " ", code(String(obj(n).code)),
      obj(n).since ? el("span", { class: "where" }, ` 自 ${beijing(obj(n).since)}（北京时间）`) : null)));
    $("notices").hidden = notices.length === 0;
    $("sig-rows").replaceChildren(...signatures.map((s, i) => signatureRow(i + 1, s, notices)));
    const items = problemItems(r);
    $("problem-list").replaceChildren(...items);
    $("problems").hidden = items.length === 0;
    $("file-sha").textContent = obj(r.file).sha256 || "—";
    $("json-text").textContent = JSON.stringify(r, null, 2);
  }

  // the frame as tall as the report (its html element's box: not the frame's viewport, so the
  // frame never grows by itself), plus the frame's own border
  function fitFrame() {
    try {
      const doc = frame.contentDocument;
      if (doc && doc.documentElement) {
        const content = Math.ceil(doc.documentElement.getBoundingClientRect().height);
        const border = frame.offsetHeight - frame.clientHeight;
        frame.style.height = `${content + border}px`;
      }
    } catch (_) {
      // not readable: the frame keeps its default height and scrolls
    }
  }

  frame.addEventListener("load", () => {
    fitFrame();
    if (document.body.dataset.state === "loading-report") setState("done");
  });
  window.addEventListener("resize", fitFrame);

  function showReport(html) {
    if (downloadUrl) URL.revokeObjectURL(downloadUrl);
    downloadUrl = URL.createObjectURL(new Blob([html], { type: "text/html;charset=utf-8" }));
    download.href = downloadUrl;
    frame.srcdoc = policy ? policy.createHTML(html) : html;
  }

  // -- verifying -----------------------------------------------------------------------------

  async function problemOf(response) {
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      body = null;
    }
    const p = obj(body);
    return {
      status: p.status || response.status,
      code: p.code || `http_${response.status}`,
      title: p.title || response.statusText || "",
      detail: p.detail || "",
    };
  }

  async function post(body, token, signal, html) {
    const headers = { Accept: html ? "text/html" : "application/json" };
    if (token) headers.Authorization = `Bearer ${token}`;
    return fetch(html ? "/v1/verify?format=html" : "/v1/verify", {
      method: "POST", body, headers, signal,
      credentials: "omit", cache: "no-store", referrerPolicy: "no-referrer",
    });
  }

  async function verify() {
    if (!file) return;
    const expect = normalUscc(expectInput.value);
    const token = tokenInput.value.trim();
    if (expect) {
      const wrong = usccProblem(expect);
      if (wrong) {
        expectInput.classList.add("invalid");
        showError({ code: "invalid_uscc", title: "Invalid USCC", detail: wrong, local: true });
        $("error-text").textContent = wrong;
        expectInput.focus();
        return;
      }
    }
    if (!PUBLIC && !token) {
      showError({ code: "token_missing", title: "API token required", local: true });
      tokenInput.focus();
      return;
    }
    if (MAX_BYTES > 0 && file.size > MAX_BYTES) {
      showError({
        code: "file_too_large", title: "File too large", local: true,
        detail: `文件 ${formatSize(file.size)}，上限 ${formatSize(MAX_BYTES)}`,
      });
      return;
    }
    if (controller) controller.abort();
    controller = new AbortController();
    const mine = controller;
    const form = () => {
      const body = new FormData();
      body.append("file", file, file.name || "document.pdf");
      if (expect) body.append("expect_uscc", expect);
      return body;
    };
    $("error").hidden = true;
    $("result").hidden = true;
    submit.disabled = true;
    setState("busy");
    setStatus(`正在验证 ${file.name} …`, true);
    try {
      const [json, html] = await Promise.all([
        post(form(), token, mine.signal, false),
        post(form(), token, mine.signal, true),
      ]);
      if (mine !== controller) return;
      if (!json.ok) {
        showError(await problemOf(json));
        return;
      }
      if (!html.ok) {
        showError(await problemOf(html));
        return;
      }
      let report;
      try {
        report = await json.json();
      } catch (_) {
        showError({ code: "bad_response", status: json.status, title: "Bad response" });
        return;
      }
      const page = await html.text();
      if (mine !== controller) return;
      showVerdict(report);
      $("result").hidden = false;
      setStatus(`验证完成：${file.name}`, false);
      setState("loading-report");
      showReport(page);
    } catch (error) {
      if (error && error.name === "AbortError") return;
      showError({ code: "network_error", title: "Network error", detail: String(error && error.message || error) });
    } finally {
      if (mine === controller) submit.disabled = !file;
    }
  }

  setState("idle");
})();
