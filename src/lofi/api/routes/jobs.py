"""Jobs: make a track (202 with the job), follow it, list them, cancel one."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from starlette.concurrency import run_in_threadpool

from lofi.api.deps import QueueDep, WriteAccess
from lofi.api.routes import API_PREFIX
from lofi.api.schemas import GenerateRequest, JobPublic, JobsPublic, VaryBody, errors
from lofi.catalog import JobRecord
from lofi.jobs.queue import JobQueue
from lofi.settings import Settings

router = APIRouter(prefix=API_PREFIX, tags=["jobs"])
STATES = ("queued", "running", "done", "failed", "cancelled")
NO_MODEL = "no model is loaded: the server cannot make tracks (see /api/v1/ready)"


def job_public(record: JobRecord) -> JobPublic:
    return JobPublic(
        id=record.id, kind=record.kind, state=str(record.state), progress=record.progress, message=record.message,
        request=request_public(record.request), created_at=record.created_at, started_at=record.started_at,
        finished_at=record.finished_at, attempts=record.attempts, error=record.error, track_id=record.track_id,
    )  # fmt: skip


def request_public(request: dict[str, Any]) -> dict[str, Any]:
    """What the job was asked to make, without the server's paths (model folder, SoundFont, a prompt file):
    they tell a caller nothing it can use and an attacker where things are."""
    return {
        part: {name: value for name, value in values.items() if not _is_path(value)}
        for part, values in request.items()
        if isinstance(values, dict)  # "compose" and "options"; "model" is a path
    }


def _is_path(value: Any) -> bool:
    return isinstance(value, str) and PurePosixPath(value).is_absolute()


def submit(queue: JobQueue, body: GenerateRequest, settings: Settings) -> JobRecord:
    """The pipeline's request and options from the API's body; the job as the queue recorded it.
    503 when the server has no model."""
    from lofi.compose import ComposeRequest
    from lofi.jobs.options import track_options

    request = ComposeRequest(mood=body.mood, bpm=body.bpm, key=body.key, minutes=body.minutes, seed=body.seed)
    # the CLI's builder: LOFI_PRESET, LOFI_LUFS... fill what the body leaves out; formats: [] is the MIDI alone
    try:
        audio = bool(body.formats)
        options = track_options(settings, audio=audio, formats=body.formats, preset=body.preset, video=body.video)
    except ValueError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None
    except FileNotFoundError as error:  # the server lacks a tool (SoundFont, ffmpeg): not the client's doing
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"the server cannot make it: {error}") from None
    try:
        job_id = queue.submit(request, options)
    except FileNotFoundError:  # the server's model is missing: no request of the client's can help
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, NO_MODEL) from None
    return queue.status(job_id)


@router.post(
    "/generate", status_code=status.HTTP_202_ACCEPTED, response_model=JobPublic, dependencies=[WriteAccess],
    responses=errors(400, 401, 429),
)  # fmt: skip
async def generate(request: Request, body: GenerateRequest, queue: QueueDep) -> JobPublic:
    """Queue a track; answers at once with the job (follow it at /jobs/{id} or /ws/jobs/{id})."""
    limiter = request.app.state.limiter
    await run_in_threadpool(limiter.hit, request)  # 429 with Retry-After past the limit
    return job_public(await run_in_threadpool(submit, queue, body, request.app.state.settings))


def submit_vary(queue: JobQueue, track_id: str, body: VaryBody, settings: Settings) -> JobRecord:
    """A variation of the library's track ``track_id`` queued; 404 without the track, 422 when the track has
    no such section or part, 503 when the server has no model."""
    from lofi.catalog.queries import get_track
    from lofi.compose import ComposeRequest
    from lofi.compose.request import VaryRequest
    from lofi.instruments import part_name
    from lofi.jobs.options import track_options

    with queue.catalog.session() as session:
        track = get_track(session, track_id)
        metadata = dict(track.meta) if track is not None else None
    if metadata is None or not metadata.get("form"):
        raise HTTPException(404, f"no track {track_id!r}")
    sections = sorted({s["section"] for s in metadata["form"]})
    if body.section is not None and body.section not in sections:
        raise HTTPException(422, f"the track has no section {body.section!r}: it has {', '.join(sections)}")
    if body.part not in {part_name(p) for p in metadata.get("programs") or []}:
        raise HTTPException(422, f"the track has no {body.part} part to write again")
    asked = {**metadata["request"], "continue_from": None}  # the source's request, as its record
    try:
        vary = VaryRequest(part=body.part, section=body.section, seed=body.seed)
        options = track_options(
            settings, audio=bool(body.formats), formats=body.formats, preset=body.preset, video=body.video
        )
        request = ComposeRequest(**asked)
    except (ValueError, TypeError) as error:  # TypeError: a record older than its request's fields
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None
    except FileNotFoundError as error:  # the server lacks a tool (SoundFont, ffmpeg): not the client's doing
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"the server cannot make it: {error}") from None
    try:
        job_id = queue.submit_vary(track_id, request, vary, options)
    except FileNotFoundError:  # the server's model is missing
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, NO_MODEL) from None
    return queue.status(job_id)


@router.post(
    "/tracks/{track_id}/vary", status_code=status.HTTP_202_ACCEPTED, response_model=JobPublic,
    dependencies=[WriteAccess], responses=errors(400, 401, 404, 429),
)  # fmt: skip
async def vary(request: Request, track_id: str, body: VaryBody, queue: QueueDep) -> JobPublic:
    """Queue a new track made from ``track_id`` with one part (drums, bass, keys, lead) written again and every
    other part kept note for note; answers at once with the job."""
    limiter = request.app.state.limiter
    await run_in_threadpool(limiter.hit, request)
    return job_public(await run_in_threadpool(submit_vary, queue, track_id, body, request.app.state.settings))


@router.get("/jobs", response_model=JobsPublic)
def list_jobs(
    queue: QueueDep,
    state: Annotated[str | None, Query(pattern="^(" + "|".join(STATES) + ")$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> JobsPublic:
    page = queue.list(state=state, limit=limit)
    return JobsPublic(items=[job_public(j) for j in page.items], total=page.total)


def job_or_404(queue, job_id: str) -> JobRecord:
    try:
        return queue.status(job_id)
    except LookupError:
        raise HTTPException(404, f"no job {job_id!r}") from None


@router.get("/jobs/{job_id}", response_model=JobPublic, responses=errors(404))
def get_job(job_id: str, queue: QueueDep) -> JobPublic:
    return job_public(job_or_404(queue, job_id))


@router.delete(
    "/jobs/{job_id}", response_model=JobPublic, dependencies=[WriteAccess], responses=errors(401, 404, 409, 429)
)
def cancel_job(job_id: str, queue: QueueDep) -> JobPublic:
    """Cancel a queued or running job. The job is kept, not deleted: from this answer on it reads as
    cancelled (with its finish time) and nothing of it moves again; a job that already ended answers 409."""
    record = job_or_404(queue, job_id)
    if str(record.state) in ("done", "failed", "cancelled"):
        raise HTTPException(409, f"job {job_id} already ended ({record.state})")
    return job_public(queue.cancel(job_id))
