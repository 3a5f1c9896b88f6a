"use strict";
// Draw on the canvas (pointer events: mouse, finger or pen) or drop a photo; POST it to /predict and show
// the answer with a bar per class. One request at a time: the newest drawing waits for the answer before.

const canvas = document.getElementById("canvas");
const ctx = canvas.getContext("2d");
const bars = document.getElementById("bars");
const prediction = document.getElementById("prediction");
const confidence = document.getElementById("confidence");
const status = document.getElementById("status");
let rows = []; // one <li> per class, in the checkpoint's class order
let next = null; // what to classify next: "canvas" or a File; a newer one replaces it
let busy = false;
let cleared = 0; // clears so far: an answer to a drawing since cleared is not shown
let last = null; // the pointer's previous point while it draws

function blank() {
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
}

function showClasses(names) {
  bars.replaceChildren();
  rows = names.map((name) => {
    const li = document.createElement("li");
    const label = document.createElement("span");
    const bar = document.createElement("span");
    const fill = document.createElement("span");
    const pct = document.createElement("span");
    label.textContent = name;
    bar.className = "bar";
    fill.className = "fill";
    pct.className = "pct";
    bar.append(fill);
    li.append(label, bar, pct);
    bars.append(li);
    return { li, fill, pct };
  });
}

function show(answer) {
  prediction.textContent = answer.name;
  confidence.textContent = `${(100 * answer.confidence).toFixed(1)}%`;
  answer.probs.forEach((p, k) => {
    rows[k].fill.style.width = `${100 * p}%`; // a CSSOM change: allowed by the page's own-files-only policy
    rows[k].pct.textContent = `${(100 * p).toFixed(1)}%`;
    rows[k].li.classList.toggle("top", k === answer.class);
  });
  document.body.dataset.answers = String(Number(document.body.dataset.answers) + 1);
}

function reset() {
  prediction.textContent = "?";
  confidence.textContent = "";
  for (const row of rows) {
    row.fill.style.width = "0";
    row.pct.textContent = "";
    row.li.classList.remove("top");
  }
}

function say(message, isError = false) {
  status.textContent = message;
  status.classList.toggle("error", isError);
}

function classify(what) {
  next = what;
  pump();
}

async function pump() {
  if (busy || next === null) return;
  const what = next;
  next = null;
  busy = true;
  document.body.dataset.busy = "1";
  const asked = cleared;
  try {
    const body = what === "canvas" ? await new Promise((done) => canvas.toBlob(done, "image/png")) : what;
    const type = body.type && body.type.startsWith("image/") ? body.type : "application/octet-stream";
    const response = await fetch("predict", { method: "POST", headers: { "Content-Type": type }, body });
    const answer = await response.json();
    if (asked !== cleared) {
      // cleared while it was on its way: the answer is to a drawing that is gone
    } else if (response.ok) {
      show(answer);
      say("");
    } else {
      say(answer.error || `HTTP ${response.status}`, true);
    }
  } catch (err) {
    say(`No answer from the server (${err.message}); is it still running?`, true);
  } finally {
    busy = false;
    document.body.dataset.busy = next === null ? "0" : "1";
    pump();
  }
}

function point(event) {
  const box = canvas.getBoundingClientRect(); // the canvas is drawn at CSS size, not its pixel size
  return [((event.clientX - box.left) * canvas.width) / box.width, ((event.clientY - box.top) * canvas.height) / box.height];
}

function line(from, to) {
  ctx.strokeStyle = "#000";
  ctx.lineWidth = canvas.width / 13; // about MNIST's stroke width relative to its 20-pixel digits
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.beginPath();
  ctx.moveTo(...from);
  ctx.lineTo(...to);
  ctx.stroke();
}

canvas.addEventListener("pointerdown", (event) => {
  event.preventDefault();
  canvas.setPointerCapture(event.pointerId); // keep drawing when the finger slides off the canvas
  last = point(event);
  line(last, last);
});
canvas.addEventListener("pointermove", (event) => {
  if (last === null) return;
  const here = point(event);
  line(last, here);
  last = here;
  classify("canvas"); // live: the bars follow the stroke
});
for (const type of ["pointerup", "pointercancel"]) {
  canvas.addEventListener(type, () => {
    if (last === null) return;
    last = null;
    classify("canvas");
  });
}

document.getElementById("clear").addEventListener("click", () => {
  blank();
  next = null;
  cleared += 1;
  reset();
  say("");
});

async function usePhoto(file) {
  if (!file) return;
  try {
    const bitmap = await createImageBitmap(file); // shown on the canvas, so that one can draw over it
    const scale = Math.min(canvas.width / bitmap.width, canvas.height / bitmap.height);
    const w = bitmap.width * scale;
    const h = bitmap.height * scale;
    blank();
    ctx.drawImage(bitmap, (canvas.width - w) / 2, (canvas.height - h) / 2, w, h);
  } catch {
    blank(); // a format the browser cannot show: the server still says what it makes of it
  }
  classify(file); // the file itself, at its full size: the server prepares it as `predict` would
}

document.getElementById("file").addEventListener("change", (event) => usePhoto(event.target.files[0]));
canvas.addEventListener("dragover", (event) => {
  event.preventDefault();
  canvas.classList.add("dropping");
});
canvas.addEventListener("dragleave", () => canvas.classList.remove("dropping"));
canvas.addEventListener("drop", (event) => {
  event.preventDefault();
  canvas.classList.remove("dropping");
  usePhoto(event.dataTransfer.files[0]);
});

async function start() {
  blank();
  try {
    const info = await (await fetch("info")).json();
    showClasses(info.classes);
    const accuracy = info.test_acc == null ? "" : ` · test accuracy ${(100 * info.test_acc).toFixed(2)}%`;
    document.getElementById("about").textContent =
      `${info.model || "a model"} trained on ${info.dataset || "its dataset"} · ${info.classes.length} classes${accuracy}`;
  } catch (err) {
    say(`Could not read /info (${err.message})`, true);
  }
}

start();
