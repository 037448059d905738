// lofi dashboard: plain JavaScript, no build step, nothing fetched from outside this server.
"use strict";

const API = "/api/v1";
const ENDED = new Set(["done", "failed", "cancelled"]);
const followed = new Map(); // job id -> WebSocket

const $ = (selector, root = document) => root.querySelector(selector);

async function getJSON(path) {
  const response = await fetch(API + path);
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

function option(value, label = value) {
  const el = document.createElement("option");
  el.value = value;
  el.textContent = label;
  return el;
}

async function loadOptions() {
  const choices = await getJSON("/options");
  for (const mood of choices.moods) {
    $("#mood").append(option(mood));
    $("#filter-mood").append(option(mood));
  }
  for (const key of choices.keys) $("#key").append(option(key));
  for (const [name, description] of Object.entries(choices.presets)) {
    const el = option(name, name);
    el.title = description;
    $("#preset").append(el);
  }
  $("#mood").value = "chill";
  $("#key").value = "D minor";
  $("#preset").value = choices.default_preset;
}

function describeError(body) {
  if (!body || body.detail === undefined) return "the server refused the request";
  if (typeof body.detail === "string") return body.detail;
  return body.detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ");
}

async function submit(event) {
  event.preventDefault();
  const form = event.target;
  const button = $("#generate-button");
  $("#form-error").textContent = "";
  const body = {
    mood: form.mood.value,
    key: form.key.value,
    bpm: Number(form.bpm.value),
    minutes: Number(form.minutes.value),
    preset: form.preset.value,
    video: form.video.checked,
  };
  if (form.seed.value !== "") body.seed = Number(form.seed.value);
  button.disabled = true;
  try {
    const response = await fetch(`${API}/generate`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const answer = await response.json();
    if (!response.ok) throw new Error(describeError(answer));
    showJob(answer);
    follow(answer.id);
  } catch (error) {
    $("#form-error").textContent = error.message;
  } finally {
    button.disabled = false;
  }
}

function jobTitle(job) {
  const r = job.request || {};
  const compose = r.compose || r;
  return [compose.mood, compose.key, compose.bpm && `${compose.bpm} BPM`].filter(Boolean).join(" · ") || job.id;
}

function showJob(job) {
  const list = $("#jobs");
  $(".empty", list)?.remove();
  let item = document.getElementById(`job-${job.id}`);
  if (!item) {
    item = document.createElement("li");
    item.id = `job-${job.id}`;
    item.innerHTML = '<div class="line"><span class="what"></span><span class="state"></span></div><progress max="1"></progress>';
    list.prepend(item);
  }
  item.className = `job ${job.state}`;
  item.dataset.state = job.state;
  $(".what", item).textContent = jobTitle(job);
  $(".state", item).textContent = job.state === "running" ? job.message || "running" : job.error ? `${job.state}: ${job.error}` : job.state;
  $("progress", item).value = job.state === "done" ? 1 : job.progress;
}

function follow(id) {
  if (followed.has(id)) return;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}${API}/ws/jobs/${id}`);
  followed.set(id, socket);
  socket.onmessage = (message) => {
    const job = JSON.parse(message.data);
    if (job.error && !job.id) return;
    showJob(job);
    if (ENDED.has(job.state)) loadTracks();
  };
  socket.onclose = () => followed.delete(id);
}

async function loadJobs() {
  try {
    const jobs = await getJSON("/jobs?limit=20");
    for (const job of jobs.items.slice().reverse()) {
      showJob(job);
      if (!ENDED.has(job.state)) follow(job.id);
    }
  } catch (error) {
    console.warn(error);
  }
}

function fileUrl(track, name) {
  const file = track.files.find((f) => f.name === name);
  return file ? file.url : null;
}

function trackCard(track) {
  const card = $("#track-card").content.firstElementChild.cloneNode(true);
  card.id = `track-${track.id}`;
  const cover = fileUrl(track, "thumbnail.png") || fileUrl(track, "cover.png") || fileUrl(track, "pianoroll.png");
  if (cover) $(".cover", card).src = cover;
  $(".cover", card).alt = `cover of ${track.title || track.id}`;
  $(".title", card).textContent = track.title || track.id;
  const minutes = Math.floor(track.duration_s / 60);
  const seconds = Math.round(track.duration_s % 60).toString().padStart(2, "0");
  $(".facts", card).textContent = `${track.mood} · ${track.key} · ${track.bpm} BPM · ${minutes}:${seconds}`;
  const audio = fileUrl(track, "track.mp3") || fileUrl(track, "track.wav");
  if (audio) $("audio", card).src = audio;
  else $("audio", card).remove();
  const roll = fileUrl(track, "pianoroll.png");
  if (roll) $(".pianoroll", card).src = roll;
  const meta = $(".meta", card);
  const facts = {
    seed: track.seed, model: track.model_id, preset: track.preset,
    loudness: track.lufs == null ? "-" : `${track.lufs.toFixed(1)} LUFS`,
    quality: track.quality == null ? "-" : track.quality.toFixed(2),
    originality: track.originality || "-",
    instruments: track.instruments.join(", "),
    chords: track.chords.filter(Boolean).slice(0, 8).join(" "),
  };
  if (track.review.length) {
    facts.review = track.review.join("; ");
    card.classList.add("needs-review");
  }
  for (const [label, value] of Object.entries(facts)) {
    const dt = document.createElement("dt");
    dt.textContent = label;
    const dd = document.createElement("dd");
    dd.textContent = value;
    meta.append(dt, dd);
  }
  const links = $(".downloads", card);
  for (const file of track.files.filter((f) => !f.name.startsWith("stems/") && !f.name.endsWith(".json"))) {
    const a = document.createElement("a");
    a.href = file.url;
    a.download = `${track.id}-${file.name}`;
    a.textContent = file.name;
    links.append(a);
  }
  return card;
}

async function loadTracks() {
  const mood = $("#filter-mood").value;
  try {
    const page = await getJSON(`/tracks?limit=24${mood ? `&mood=${encodeURIComponent(mood)}` : ""}`);
    const grid = $("#tracks");
    grid.replaceChildren(...page.items.map(trackCard));
    if (!page.items.length) grid.innerHTML = '<p class="empty">No tracks yet: make one.</p>';
  } catch (error) {
    console.warn(error);
  }
}

document.addEventListener("DOMContentLoaded", async () => {
  $("#bpm").addEventListener("input", (e) => { $("#bpm-value").textContent = e.target.value; });
  $("#generate-form").addEventListener("submit", submit);
  $("#filter-mood").addEventListener("change", loadTracks);
  await loadOptions();
  await Promise.all([loadJobs(), loadTracks()]);
  setInterval(loadJobs, 5000);
});
