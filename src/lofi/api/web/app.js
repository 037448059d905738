// lofi dashboard: plain JavaScript, no build step, nothing fetched from outside this server.
"use strict";

const API = "/api/v1";
const ENDED = new Set(["done", "failed", "cancelled"]);
const PAGE_SIZE = 24; // tracks per page of the library
const JOBS_SHOWN = 20; // finished jobs kept in the list (running ones always are)
// kept in this browser: the API key (asked once; the page's CSP lets no other script read it) and
// when the finished jobs were last cleared from the list
const KEY_STORE = "lofi.apiKey";
const CLEARED_STORE = "lofi.jobsClearedAt";
const library = { offset: 0, ticket: 0 };

const $ = (selector, root = document) => root.querySelector(selector);

// A busy server turns requests away at once with 503 and Retry-After (LOFI_MAX_REQUESTS_IN_FLIGHT): a
// page of the library, with its pictures, can meet that. A turned-away request was not worked on, so it
// is asked again after the wait the server names (a little jittered), a few times.
const RETRIES = 4;

async function fetchPatiently(url, options = {}) {
  for (let attempt = 0; ; attempt++) {
    const response = await fetch(url, options);
    if (response.status !== 503 || attempt >= RETRIES) return response;
    const wait = Math.min(Number(response.headers.get("Retry-After")) || 1, 5);
    await new Promise((resolve) => setTimeout(resolve, wait * 1000 * (0.5 + Math.random())));
  }
}

// a picture turned away the same way is asked for again once, after a second
function retryPicture(img) {
  img.addEventListener("error", () => {
    if (img.dataset.retried || !img.src) return;
    img.dataset.retried = "1";
    const src = img.src;
    setTimeout(() => { img.src = ""; img.src = src; }, 1000);
  });
}

async function getJSON(path) {
  const response = await fetchPatiently(API + path);
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

function describeError(body) {
  if (!body || body.detail === undefined) return "the server refused the request";
  if (typeof body.detail === "string") return body.detail;
  return body.detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ");
}

// ---- the API key: every write (POST, DELETE) carries it; the WebSockets only read and need none ----

const apiKey = () => localStorage.getItem(KEY_STORE) || "";

async function write(path, options) {
  const headers = { ...options.headers };
  if (apiKey()) headers["X-API-Key"] = apiKey();
  const response = await fetchPatiently(API + path, { ...options, headers });
  const answer = await response.json().catch(() => null);
  if (response.status === 401) askForKey(apiKey() ? "refused: enter it again" : "needed");
  if (!response.ok) throw new Error(describeError(answer));
  return answer;
}

function showKeyState() {
  $("#key-state").textContent = apiKey() ? "kept in this browser" : "needed";
}

function askForKey(state) {
  const box = $("#key-box");
  box.hidden = false;
  box.open = true;
  $("#key-state").textContent = state;
  $("#api-key").focus();
}

function keepKey(event) {
  event.preventDefault();
  const key = $("#api-key").value.trim();
  if (!key) return;
  localStorage.setItem(KEY_STORE, key);
  $("#api-key").value = "";
  $("#key-box").open = false;
  $("#form-error").textContent = "";
  showKeyState();
}

function forgetKey() {
  localStorage.removeItem(KEY_STORE);
  showKeyState();
}

// ---- the form ----

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
  if (choices.api_key_required) {
    $("#key-box").hidden = false;
    $("#key-box").open = !apiKey();
    showKeyState();
  }
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
    showJob(await write("/generate", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    }));
  } catch (error) {
    $("#form-error").textContent = error.message;
  } finally {
    button.disabled = false;
  }
}

// ---- jobs: one WebSocket brings every job and each change, in every open tab ----

function jobTitle(job) {
  const r = job.request || {};
  const compose = r.compose || r;
  const what = [compose.mood, compose.key, compose.bpm && `${compose.bpm} BPM`].filter(Boolean).join(" · ") || job.id;
  if (!r.vary) return what;
  const part = r.vary.part === "lead" ? "melody" : r.vary.part;
  return `new ${part}${r.vary.section ? ` in ${r.vary.section}` : ""} · ${r.vary.track_id}`;
}

async function varyTrack(track, button) {
  // a new track from this one, one part written again: the job shows up in the Jobs panel like any other
  const card = button.closest(".track");
  $(".vary-error", card).textContent = "";
  button.disabled = true;
  try {
    showJob(await write(`/tracks/${encodeURIComponent(track.id)}/vary`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ part: button.dataset.part }),
    }));
  } catch (error) {
    $(".vary-error", card).textContent = error.message;
  } finally {
    button.disabled = false;
  }
}

function clearedAway(job) {
  // the server's times on both sides of the comparison: the browser's clock may be off
  const clearedAt = Number(localStorage.getItem(CLEARED_STORE) || NaN);
  return ENDED.has(job.state) && clearedAt >= 0 && !(Date.parse(job.finished_at) > clearedAt);
}

function showJob(job) {
  const list = $("#jobs");
  let item = document.getElementById(`job-${job.id}`);
  if (clearedAway(job)) {
    item?.remove();
    showNoJobs();
    return;
  }
  if (!item) {
    $(".empty", list)?.remove();
    item = document.createElement("li");
    item.id = `job-${job.id}`;
    item.innerHTML = '<div class="line"><span class="what"></span><span class="state"></span>'
      + '<button type="button" class="quiet cancel">Cancel</button></div><progress max="1"></progress>';
    $(".cancel", item).addEventListener("click", () => cancelJob(job.id, item));
    list.prepend(item);
    for (const old of [...list.children].slice(JOBS_SHOWN)) if (ENDED.has(old.dataset.state)) old.remove();
  }
  item.className = `job ${job.state}`;
  item.dataset.state = job.state;
  item.dataset.finishedAt = job.finished_at || "";
  $(".what", item).textContent = jobTitle(job);
  $(".state", item).textContent = job.state === "running" ? job.message || "running" : job.error ? `${job.state}: ${job.error}` : job.state;
  $(".cancel", item).hidden = ENDED.has(job.state);
  $("progress", item).value = job.state === "done" ? 1 : job.progress;
  // a new track: show it, unless the library already does
  if (job.state === "done" && job.track_id && !document.getElementById(`track-${job.track_id}`)) refreshLibrary();
}

function showNoJobs() {
  const list = $("#jobs");
  if (!list.children.length) list.innerHTML = '<li class="empty">No jobs.</li>';
}

async function cancelJob(id, item) {
  const button = $(".cancel", item);
  button.disabled = true;
  try {
    showJob(await write(`/jobs/${id}`, { method: "DELETE" }));
  } catch (error) {
    $(".state", item).textContent = error.message;
  } finally {
    button.disabled = false;
  }
}

function clearFinished() {
  const ended = [...document.querySelectorAll("#jobs .job")].filter((item) => ENDED.has(item.dataset.state));
  const times = ended.map((item) => Date.parse(item.dataset.finishedAt)).filter((t) => t >= 0);
  const before = Number(localStorage.getItem(CLEARED_STORE) || 0);
  localStorage.setItem(CLEARED_STORE, String(Math.max(before, ...times)));
  for (const item of ended) item.remove();
  showNoJobs();
}

function watchJobs() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}${API}/ws/jobs`);
  socket.onmessage = (message) => {
    const job = JSON.parse(message.data);
    if (job.id) showJob(job);
  };
  // the server restarted, or a proxy closed an idle socket: the new one sends every job again
  socket.onclose = () => setTimeout(watchJobs, 2000);
}

// ---- the library: pages of tracks, newest first, by mood and title ----

const FILES = {
  "track.mp3": "MP3", "track.wav": "WAV", "track.mid": "MIDI", "video.mp4": "Video", "cover.png": "Cover",
  "thumbnail.png": "Thumbnail", "pianoroll.png": "Piano roll", "spectrogram.png": "Spectrogram",
  "waveform.png": "Waveform", "metadata.json": "Metadata",
};
const FILE_ORDER = Object.keys(FILES);

function fileLabel(name) {
  if (name.startsWith("stems/")) return `Stem: ${name.slice("stems/".length).replace(/\.[^.]+$/, "")}`;
  return FILES[name] || name;
}

function fileRank(name) {
  const rank = FILE_ORDER.indexOf(name);
  return rank >= 0 ? rank : name.startsWith("stems/") ? FILE_ORDER.length : FILE_ORDER.length + 1;
}

function size(bytes) {
  if (bytes < 1e3) return `${bytes} B`;
  if (bytes < 1e6) return `${Math.round(bytes / 1e3)} kB`;
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

function fileUrl(track, name) {
  const file = track.files.find((f) => f.name === name);
  return file ? file.url : null;
}

function trackCard(track) {
  const card = $("#track-card").content.firstElementChild.cloneNode(true);
  card.id = `track-${track.id}`;
  const cover = $(".cover", card);
  retryPicture(cover);
  if (track.preview) cover.src = track.preview; // a small JPEG; the full thumbnail is in the files
  cover.alt = `cover of ${track.title || track.id}`;
  $(".title", card).textContent = track.title || track.id;
  const minutes = Math.floor(track.duration_s / 60);
  const seconds = Math.round(track.duration_s % 60).toString().padStart(2, "0");
  $(".facts", card).textContent = `${track.mood} · ${track.key} · ${track.bpm} BPM · ${minutes}:${seconds}`;
  const audio = fileUrl(track, "track.mp3") || fileUrl(track, "track.wav");
  if (audio) $("audio", card).src = audio;
  else $("audio", card).remove();
  const parts = new Set(track.parts || []);
  for (const button of card.querySelectorAll(".vary button")) {
    button.hidden = !parts.has(button.dataset.part); // only the parts the track plays
    button.addEventListener("click", () => varyTrack(track, button));
  }
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
  const files = track.files.slice().sort((a, b) => fileRank(a.name) - fileRank(b.name));
  for (const file of files) {
    const link = document.createElement("a");
    link.href = file.url;
    link.download = `${track.id}-${file.name.replace("/", "-")}`;
    link.textContent = fileLabel(file.name);
    const bytes = document.createElement("span");
    bytes.className = "size";
    bytes.textContent = size(file.size);
    const item = document.createElement("li");
    item.append(link, bytes);
    $(".downloads", card).append(item);
  }
  return card;
}

async function loadTracks() {
  const ticket = ++library.ticket; // an answer to an older question (typing in the search) is dropped
  const params = new URLSearchParams({ limit: PAGE_SIZE, offset: library.offset });
  const mood = $("#filter-mood").value;
  const search = $("#search").value.trim();
  if (mood) params.set("mood", mood);
  if (search) params.set("q", search);
  try {
    const page = await getJSON(`/tracks?${params}`);
    if (ticket !== library.ticket) return;
    if (!page.items.length && library.offset > 0) { // the page emptied under us: back to the last one
      library.offset = Math.max(0, Math.floor((page.total - 1) / PAGE_SIZE) * PAGE_SIZE);
      return loadTracks();
    }
    const grid = $("#tracks");
    // a card already shown is kept as it is, so a track playing goes on playing
    grid.replaceChildren(...page.items.map((t) => document.getElementById(`track-${t.id}`) || trackCard(t)));
    if (!page.items.length) {
      const empty = mood || search ? "No track matches." : "No tracks yet: make one.";
      grid.innerHTML = `<p class="empty">${empty}</p>`;
    }
    const last = library.offset + page.items.length;
    $("#pager").hidden = page.total <= PAGE_SIZE && library.offset === 0;
    $("#page-info").textContent = page.items.length ? `${library.offset + 1}–${last} of ${page.total}` : "";
    $("#newer").disabled = library.offset === 0;
    $("#older").disabled = last >= page.total;
  } catch (error) {
    console.warn(error);
  }
}

let refreshing = null;
function refreshLibrary() { // at most one reload for a burst of finished jobs
  clearTimeout(refreshing);
  refreshing = setTimeout(loadTracks, 300);
}

function turnPage(step) {
  library.offset = Math.max(0, library.offset + step * PAGE_SIZE);
  loadTracks();
  $("#library").scrollIntoView({ block: "start" });
}

function filterLibrary() {
  library.offset = 0;
  loadTracks();
}

function localTime(iso, timeZone) {
  return new Intl.DateTimeFormat(undefined, {
    timeZone, weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  }).format(new Date(iso));
}

async function showDaily() { // the server's daily set: when it is made next, how the last one went
  let daily;
  try {
    daily = (await getJSON("/schedule")).daily;
  } catch {
    return; // the panel keeps what it said; the next refresh tries again
  }
  const line = $("#daily");
  line.dataset.enabled = daily.enabled;
  if (!daily.enabled) {
    line.textContent = "Daily set: off (LOFI_DAILY_TIME is not set).";
    return;
  }
  const upload = daily.publish ? ", uploaded" : "";
  let text = `Daily set: ${daily.count} tracks at ${daily.time} ${daily.timezone}${upload}.`;
  if (daily.next_run_at) text += ` Next: ${localTime(daily.next_run_at, daily.timezone)}.`;
  if (daily.last_run_at) text += ` Last (${localTime(daily.last_run_at, daily.timezone)}): ${daily.last_note}.`;
  line.textContent = text;
}

// ---- the Live panel: the radio's stream, "now playing" over a WebSocket, and its state ----

function showNowPlaying(now) {
  const line = $("#now-playing");
  const track = now.track;
  if (!track) return;
  line.replaceChildren();
  const title = document.createElement("b");
  title.textContent = track.title;
  line.append(title, ` · ${track.mood} · ${track.key} · ${track.bpm} BPM`);
  line.dataset.track = track.id;
}

function showRadioState(state) {
  $("#intensity").value = state.intensity;
  $("#intensity-value").textContent = Number(state.intensity).toFixed(2);
  $("#radio-mood").value = state.mood || "";
  $("#radio-feel").value = state.feel || "";
}

function showOnAir(now) {
  const minutes = Math.floor(now.on_air_s / 60);
  const listeners = `${now.listeners} listener${now.listeners === 1 ? "" : "s"}`;
  $("#on-air").textContent = `On air ${minutes} min · ${listeners} · ${Math.round(now.buffer_s)} s ahead`;
}

// The server says "now playing" when the new track reaches its encoder; this player hears it once it has
// played what it holds before it (the server's 3 s burst and its own buffer), less the 0.75 s the server
// renders ahead. So the title turns when the music does.
const RENDERED_AHEAD_S = 0.75;

function heardIn() {
  const player = $("#radio");
  if (player.paused || !player.buffered.length) return 0;
  return Math.max(0, player.buffered.end(player.buffered.length - 1) - player.currentTime - RENDERED_AHEAD_S);
}

function watchRadio() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}${API}/ws/radio`);
  socket.onmessage = (message) => {
    const event = JSON.parse(message.data);
    if (event.type === "now") {
      setTimeout(() => showNowPlaying(event), heardIn() * 1000);
      showRadioState(event.state);
      showOnAir(event);
    } else if (event.type === "state") {
      showRadioState(event.state);
    }
  };
  socket.onclose = () => setTimeout(watchRadio, 2000);
}

async function changeRadio(changes) {
  const note = $("#radio-note");
  try {
    const answer = await write("/radio/state", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(changes),
    });
    const when = answer.takes_effect.includes("music")
      ? "a new track in that state comes in on a phrase boundary once it is composed"
      : answer.takes_effect.includes("levels") ? `heard in ${answer.levels_in_s} s, on the next phrase` : "";
    note.textContent = when;
  } catch (error) {
    note.textContent = error.message;
  }
}

async function startLive() {
  const response = await fetchPatiently(`${API}/radio/now`);
  if (!response.ok) return; // the radio is off on this server: the panel stays hidden
  const now = await response.json();
  $("#live").hidden = false;
  $("#radio").src = `${API}/radio/stream.mp3`;
  for (const mood of ($("#mood").options ? [...$("#mood").options].map((o) => o.value) : [])) {
    $("#radio-mood").append(option(mood));
  }
  if (now.track) showNowPlaying(now);
  showRadioState(now.state);
  showOnAir(now);
  const intensity = $("#intensity");
  intensity.addEventListener("input", () => {
    $("#intensity-value").textContent = Number(intensity.value).toFixed(2);
  });
  intensity.addEventListener("change", () => changeRadio({ intensity: Number(intensity.value) }));
  $("#radio-mood").addEventListener("change", (e) => changeRadio({ mood: e.target.value }));
  $("#radio-feel").addEventListener("change", (e) => changeRadio({ feel: e.target.value }));
  // a live stream is not resumed where it was paused (the server drops a listener that stops reading):
  // play after a pause joins the stream as it is now
  const player = $("#radio");
  player.addEventListener("pause", () => { player.dataset.paused = "1"; });
  player.addEventListener("play", () => {
    if (!player.dataset.paused) return;
    delete player.dataset.paused;
    player.src = `${API}/radio/stream.mp3`;
    player.play();
  });
  watchRadio();
  setInterval(async () => {
    const again = await fetchPatiently(`${API}/radio/now`);
    if (again.ok) showOnAir(await again.json());
  }, 15_000);
}

document.addEventListener("DOMContentLoaded", async () => {
  $("#bpm").addEventListener("input", (e) => { $("#bpm-value").textContent = e.target.value; });
  $("#generate-form").addEventListener("submit", submit);
  $("#key-form").addEventListener("submit", keepKey);
  $("#forget-key").addEventListener("click", forgetKey);
  $("#clear-jobs").addEventListener("click", clearFinished);
  $("#filter-mood").addEventListener("change", filterLibrary);
  let typing = null;
  $("#search").addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(filterLibrary, 250); });
  $("#newer").addEventListener("click", () => turnPage(-1));
  $("#older").addEventListener("click", () => turnPage(1));
  await loadOptions();
  await startLive();
  await loadTracks();
  watchJobs();
  await showDaily();
  setInterval(showDaily, 60_000);
});
