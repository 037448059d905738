"""Procedural art for a track: a night sky, a city, hills or a rainy window, in one of ten palettes.

Everything follows from the track's seed (and its mood, which narrows the palettes), so the same seed
draws the same picture, byte for byte. ``scene`` paints the picture without words; ``cover`` (square,
3000 px) and ``thumbnail`` (1280x720) add the title; the video uses ``scene`` as its still background.

Shapes are drawn with Pillow at no more than 1920 px on the long side and scaled up once; gradients,
glow, vignette and grain are numpy arrays, so a 3000 px cover takes about a second.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from lofi.files import atomic_write
from lofi.publish.fonts import font

RGB = tuple[int, int, int]
WORK_LONG_SIDE = 1920  # shapes are drawn at most this big, then scaled up: they are soft-edged anyway
COVER_SIZE = 3000
THUMBNAIL_SIZE = (1280, 720)
PREVIEW_WIDTH = 480  # a card in the dashboard's library is about this wide


@dataclass(frozen=True)
class Palette:
    name: str
    sky: tuple[RGB, RGB, RGB]  # top of the sky, middle, horizon
    glow: RGB  # the moon, its halo, stars, rain
    lights: RGB  # lit windows and the video's visualizer
    land: RGB  # the nearest silhouettes
    text: RGB


PALETTES: dict[str, Palette] = {
    p.name: p
    for p in (
        Palette("midnight", ((10, 14, 40), (28, 36, 88), (72, 70, 130)), (236, 232, 206), (255, 196, 92),
                (8, 10, 24), (246, 240, 226)),
        Palette("dusk", ((38, 22, 70), (128, 58, 112), (242, 136, 108)), (255, 222, 180), (255, 170, 90),
                (30, 16, 40), (255, 244, 232)),
        Palette("sepia", ((44, 30, 24), (112, 78, 54), (196, 150, 102)), (250, 226, 180), (255, 204, 120),
                (34, 22, 16), (252, 240, 220)),
        Palette("forest", ((8, 26, 28), (22, 66, 62), (92, 138, 112)), (226, 240, 204), (250, 216, 120),
                (6, 20, 18), (236, 246, 230)),
        Palette("lavender", ((48, 36, 92), (120, 98, 170), (226, 170, 206)), (255, 238, 250), (255, 200, 226),
                (40, 28, 66), (255, 248, 255)),
        Palette("ocean", ((4, 22, 44), (14, 70, 110), (64, 148, 168)), (214, 240, 248), (130, 228, 236),
                (2, 16, 30), (232, 248, 252)),
        Palette("ember", ((32, 8, 14), (110, 28, 30), (236, 112, 52)), (255, 214, 150), (255, 150, 60),
                (26, 6, 10), (255, 238, 220)),
        Palette("mint", ((22, 56, 64), (70, 142, 138), (196, 226, 196)), (250, 252, 230), (255, 230, 160),
                (16, 42, 46), (250, 255, 246)),
        Palette("rose", ((50, 20, 42), (150, 76, 100), (238, 176, 160)), (255, 232, 222), (255, 196, 170),
                (40, 14, 30), (255, 246, 242)),
        Palette("storm", ((24, 30, 40), (62, 74, 92), (132, 146, 160)), (220, 228, 236), (244, 210, 140),
                (16, 20, 28), (240, 244, 248)),
    )
}  # fmt: skip

# each mood draws from the palettes that suit it; an unknown mood draws from all of them
MOOD_PALETTES: dict[str, tuple[str, ...]] = {
    "chill": ("midnight", "ocean", "mint", "lavender"),
    "jazzy": ("ember", "sepia", "dusk", "midnight"),
    "sad": ("storm", "ocean", "midnight"),
    "dreamy": ("lavender", "rose", "dusk", "mint"),
    "upbeat": ("dusk", "ember", "mint", "rose"),
    "rainy": ("storm", "ocean", "forest", "midnight"),
    "sleepy": ("midnight", "lavender", "forest"),
    "nostalgic": ("sepia", "rose", "dusk", "ember"),
}
MOTIFS = ("window", "skyline", "hills")
WINDOW_OPENING = (0.14, 0.08, 0.86, 0.72)  # the "window" motif's glass: left, top, right, bottom (fractions)
RAIN_MOODS = {"rainy", "sad"}


@dataclass(frozen=True)
class ArtPlan:
    """What to draw; the same plan draws the same picture at any size (shapes are placed in fractions)."""

    seed: int
    palette: Palette
    motif: str
    rain: bool
    moon: tuple[float, float, float]  # centre x (fraction of width), y (of height), radius (of height)
    crescent: bool


def _rng(seed: int, salt: int) -> np.random.Generator:
    return np.random.default_rng([seed % 2**63, salt])


def plan_art(
    seed: int,
    mood: str | None = None,
    palette: str | None = None,
    motif: str | None = None,
    rain: bool | None = None,
) -> ArtPlan:
    """Choose palette, motif, rain and moon from the seed; any of the first three can be forced."""
    rng = _rng(seed, 1)
    names = MOOD_PALETTES.get((mood or "").lower(), tuple(PALETTES))
    chosen = names[int(rng.integers(len(names)))]
    if palette is not None:
        if palette not in PALETTES:
            raise ValueError(f"unknown palette {palette!r}: choose one of {', '.join(PALETTES)}")
        chosen = palette
    picked_motif = MOTIFS[int(rng.integers(len(MOTIFS)))]
    if motif is not None:
        if motif not in MOTIFS:
            raise ValueError(f"unknown motif {motif!r}: choose one of {', '.join(MOTIFS)}")
        picked_motif = motif
    rainy = bool(rng.random() < (0.85 if (mood or "").lower() in RAIN_MOODS else 0.25))
    moon = (float(rng.uniform(0.2, 0.8)), float(rng.uniform(0.16, 0.3)), float(rng.uniform(0.05, 0.08)))
    crescent = bool(rng.random() < 0.5)
    return ArtPlan(seed, PALETTES[chosen], picked_motif, rainy if rain is None else rain, moon, crescent)


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b, strict=True))  # type: ignore[return-value]


def _sky(palette: Palette, width: int, height: int) -> np.ndarray:
    """Vertical three-stop gradient, float32 (H, W, 3)."""
    t = np.arange(height, dtype=np.float32) / max(height - 1, 1)
    stops = np.array(palette.sky, np.float32)
    column = np.stack([np.interp(t, (0.0, 0.5, 0.8, 1.0), (*stops[:, c], stops[2, c])) for c in range(3)], axis=1)
    return np.broadcast_to(column[:, None, :], (height, width, 3)).astype(np.float32)


def _halo(img: np.ndarray, cx: float, cy: float, radius: float, colour: RGB, strength: float) -> None:
    """Blend a soft round glow into ``img`` in place, only inside the glow's bounding box."""
    height, width = img.shape[:2]
    reach = radius * 3.0
    x0, x1 = max(0, int(cx - reach)), min(width, int(cx + reach) + 1)
    y0, y1 = max(0, int(cy - reach)), min(height, int(cy + reach) + 1)
    if x0 >= x1 or y0 >= y1:
        return
    dy = (np.arange(y0, y1, dtype=np.float32) - cy)[:, None]
    dx = (np.arange(x0, x1, dtype=np.float32) - cx)[None, :]
    # exp(-(dx² + dy²)) is exp(-dx²) * exp(-dy²): two short vectors instead of a full grid of exps
    weight = (strength * np.exp(-dy * dy / (radius * radius)) * np.exp(-dx * dx / (radius * radius)))[..., None]
    box = img[y0:y1, x0:x1]
    box += (np.array(colour, np.float32) - box) * weight


def _skyline(
    draw: ImageDraw.ImageDraw,
    rng: np.random.Generator,
    size: tuple[int, int],
    base_y: float,
    colour: RGB,
    heights: tuple[float, float],
    lights: RGB | None,
    lit: float,
) -> None:
    width, height = size
    u = height / 1000
    x = -float(rng.uniform(0, 60)) * u
    while x < width:
        bw = float(rng.uniform(50, 150)) * u
        top = base_y - float(rng.uniform(*heights)) * u
        draw.rectangle((x, top, x + bw, height), fill=colour)
        if rng.random() < 0.3:  # a stepped roof or a water tank
            inset = bw * float(rng.uniform(0.2, 0.35))
            draw.rectangle((x + inset, top - 18 * u, x + bw - inset, top), fill=colour)
        if lights is not None:
            ww, wh, gx, gy = 7 * u, 10 * u, 8 * u, 10 * u
            cols = max(0, int((bw - gx) // (ww + gx)))
            rows = max(0, int((height - top - 2 * gy) // (wh + gy)))
            on = rng.random((rows, cols)) < lit
            dim = rng.uniform(0.55, 1.0, (rows, cols))
            for r, c in zip(*np.nonzero(on), strict=True):
                wx, wy = x + gx + c * (ww + gx), top + gy + r * (wh + gy)
                draw.rectangle((wx, wy, wx + ww, wy + wh), fill=_mix(colour, lights, float(dim[r, c])))
        x += bw + float(rng.uniform(-12, 14)) * u


def _hill(
    draw: ImageDraw.ImageDraw, rng: np.random.Generator, size: tuple[int, int], base_y: float, amp: float, colour: RGB
) -> np.ndarray:
    """A rolling silhouette; returns its top edge (y for each of 256 x positions)."""
    width, height = size
    xs = np.linspace(-2, width + 2, 256)
    ys = np.full_like(xs, base_y)
    for k in range(3):
        freq = float(rng.uniform(0.6, 1.6)) * (k + 1)
        ys += amp / (k + 1) * np.sin(2 * math.pi * freq * xs / width + float(rng.uniform(0, 2 * math.pi)))
    points = [(-2.0, float(height)), *zip(xs.tolist(), ys.tolist(), strict=True), (width + 2.0, float(height))]
    draw.polygon(points, fill=colour)
    return ys


def _leaf(cx: float, cy: float, length: float, width: float, angle: float) -> list[tuple[float, float]]:
    t = np.linspace(0, math.pi, 10)
    along = np.concatenate([t, t[::-1]]) / math.pi * length
    across = np.concatenate([np.sin(t), -np.sin(t[::-1])]) * width / 2
    ca, sa = math.cos(angle), math.sin(angle)
    return [(cx + a * ca - b * sa, cy + a * sa + b * ca) for a, b in zip(along, across, strict=True)]


def _room(draw: ImageDraw.ImageDraw, rng: np.random.Generator, size: tuple[int, int], palette: Palette) -> None:
    """The wall, window frame and sill seen from inside, with a plant and a mug on the sill."""
    width, height = size
    u = height / 1000
    wall = _mix(palette.land, (0, 0, 0), 0.35)
    frame = _mix(palette.land, palette.glow, 0.12)
    left, top, right, bottom = (f * side for f, side in zip(WINDOW_OPENING, (width, height) * 2, strict=True))
    draw.rectangle((0, 0, width, top), fill=wall)
    draw.rectangle((0, bottom, width, height), fill=wall)
    draw.rectangle((0, 0, left, height), fill=wall)
    draw.rectangle((right, 0, width, height), fill=wall)
    t = 16 * u
    draw.rectangle((left - t, top - t, right + t, top + t), fill=frame)
    draw.rectangle((left - t, bottom - t, right + t, bottom + t), fill=frame)
    draw.rectangle((left - t, top - t, left + t, bottom + t), fill=frame)
    draw.rectangle((right - t, top - t, right + t, bottom + t), fill=frame)
    mid_x, bar_y = (left + right) / 2, top + (bottom - top) * 0.42
    draw.rectangle((mid_x - t * 0.6, top, mid_x + t * 0.6, bottom), fill=frame)
    draw.rectangle((left, bar_y - t * 0.6, right, bar_y + t * 0.6), fill=frame)
    sill_top = bottom + t
    draw.rectangle((left - 50 * u, sill_top, right + 50 * u, sill_top + 26 * u), fill=_mix(frame, palette.glow, 0.08))
    # a potted plant on one side of the sill, a mug on the other
    flip = rng.random() < 0.5
    px = left + (right - left) * (0.8 if flip else 0.2)
    mx = left + (right - left) * (0.22 if flip else 0.78)
    pot_w, pot_h = 90 * u, 80 * u
    leaves = _mix(_mix(palette.land, (70, 120, 80), 0.35), palette.lights, 0.1)
    for _ in range(int(rng.integers(6, 10))):
        angle = float(rng.uniform(-math.pi * 0.92, -math.pi * 0.08))
        draw.polygon(
            _leaf(px, sill_top - pot_h, float(rng.uniform(110, 190)) * u, float(rng.uniform(34, 52)) * u, angle),
            fill=leaves,
        )
    draw.polygon(
        [(px - pot_w / 2, sill_top - pot_h), (px + pot_w / 2, sill_top - pot_h),
         (px + pot_w * 0.38, sill_top), (px - pot_w * 0.38, sill_top)],
        fill=_mix(frame, palette.lights, 0.12),
    )  # fmt: skip
    mug_w, mug_h = 70 * u, 80 * u
    mug = _mix(frame, palette.lights, 0.22)  # lit by the lamp, so it stands out against the dark city
    draw.rectangle((mx - mug_w / 2, sill_top - mug_h, mx + mug_w / 2, sill_top), fill=mug)
    draw.ellipse(
        (mx + mug_w / 2 - 14 * u, sill_top - mug_h * 0.8, mx + mug_w / 2 + 26 * u, sill_top - mug_h * 0.25),
        outline=mug, width=max(1, round(11 * u)),
    )  # fmt: skip


def _rain(image: Image.Image, rng: np.random.Generator, colour: RGB, density: float) -> Image.Image:
    width, height = image.size
    u = height / 1000
    layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    slant = float(rng.uniform(-0.18, 0.05))
    for _ in range(int(density * 260 * width / height)):
        x, y = float(rng.uniform(-0.1, 1.05)) * width, float(rng.uniform(-0.05, 1.0)) * height
        length = float(rng.uniform(18, 60)) * u
        alpha = int(rng.integers(30, 90))
        draw.line((x, y, x + slant * length, y + length), fill=(*colour, alpha), width=max(1, round(u * 1.6)))
    return Image.alpha_composite(image.convert("RGBA"), layer).convert("RGB")


def scene(
    plan: ArtPlan,
    width: int,
    height: int,
    scrim: tuple[float, float, float] | None = None,
    grain: float = 5.0,
) -> np.ndarray:
    """The picture without words, (height, width, 3) uint8.

    ``scrim`` = (from, to, strength): darken rows from the fraction ``from`` of the height (untouched) to
    ``to`` (darkened by ``strength``), so a title set there stays readable. ``grain`` is the film grain's
    standard deviation in 8-bit levels.
    """
    factor = math.ceil(max(width, height) / WORK_LONG_SIDE)
    w, h = max(2, round(width / factor)), max(2, round(height / factor))
    u = h / 1000
    p = plan.palette
    rng = _rng(plan.seed, 2)

    sky = _sky(p, w, h)
    mx, my, mr = plan.moon[0] * w, plan.moon[1] * h, plan.moon[2] * h
    _halo(sky, mx, my, mr * 3.2, p.glow, 0.35)
    image = Image.fromarray(np.clip(sky, 0, 255).astype(np.uint8))

    # stars, fainter towards the horizon
    stars = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(stars)
    count = int(140 * w / h)
    xs, ys = rng.uniform(0, w, count), rng.beta(1.0, 2.2, count) * 0.7 * h
    radii, alphas = rng.uniform(0.6, 2.0, count) * u, rng.uniform(60, 230, count)
    for x, y, r, a in zip(xs, ys, radii, alphas, strict=True):
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(*p.glow, int(a * (1 - y / h))))
    image = Image.alpha_composite(image.convert("RGBA"), stars).convert("RGB")

    # the moon: a disc, or a crescent cut by a second disc
    mask = Image.new("L", (w, h), 0)
    mdraw = ImageDraw.Draw(mask)
    mdraw.ellipse((mx - mr, my - mr, mx + mr, my + mr), fill=255)
    if plan.crescent:
        off = mr * 0.55
        mdraw.ellipse((mx - mr + off, my - mr - off * 0.4, mx + mr + off, my + mr - off * 0.4), fill=0)
    image.paste(_mix(p.glow, (255, 255, 255), 0.35), (0, 0, w, h), mask)

    draw = ImageDraw.Draw(image)
    horizon = 0.8 * h if plan.motif != "window" else 0.66 * h
    far, mid = _mix(p.sky[2], p.land, 0.45), _mix(p.sky[2], p.land, 0.72)
    if plan.motif == "hills":
        _hill(draw, rng, (w, h), horizon - 120 * u, 40 * u, far)
        edge = _hill(draw, rng, (w, h), horizon - 40 * u, 30 * u, mid)
        for x in rng.uniform(0, w, int(rng.integers(4, 10))):  # a few far-off houses with a light on
            y = float(np.interp(x, np.linspace(-2, w + 2, 256), edge)) + 14 * u
            draw.rectangle((x, y, x + 6 * u, y + 5 * u), fill=p.lights)
        _hill(draw, rng, (w, h), horizon + 50 * u, 25 * u, p.land)
    else:
        _skyline(draw, rng, (w, h), horizon - 20 * u, far, (60, 260), None, 0.0)
        _skyline(draw, rng, (w, h), horizon + 20 * u, p.land, (40, 200), p.lights, 0.28)
    if plan.rain:
        image = _rain(image, rng, p.glow, 1.0 if plan.motif == "window" else 0.7)
    if plan.motif == "window":
        _room(ImageDraw.Draw(image), rng, (w, h), p)

    arr = np.asarray(image, dtype=np.float32).copy()
    if plan.motif == "window":  # a lamp somewhere low in the room warms the wall
        _halo(arr, (0.04 if rng.random() < 0.5 else 0.96) * w, 0.9 * h, 0.45 * h, p.lights, 0.22)
    # vignette: the corners fall off to 70 %
    yy = (np.arange(h, dtype=np.float32) / h - 0.5)[:, None]
    xx = (np.arange(w, dtype=np.float32) / w - 0.5)[None, :]
    shade = 1.0 - 0.6 * (xx * xx + yy * yy)
    if scrim is not None:
        start, end, strength = scrim
        t = (np.arange(h, dtype=np.float32) / h - start) / (end - start)
        shade = shade * (1.0 - strength * np.clip(t, 0, 1) ** 1.5)[:, None]
    arr *= shade[..., None]
    out = np.clip(arr, 0, 255).astype(np.uint8)
    if factor > 1:
        out = np.asarray(Image.fromarray(out).resize((width, height), Image.BICUBIC))
    if grain > 0:
        out = _add_grain(out, _rng(plan.seed, 3), grain, factor)
    return out


def _add_grain(img: np.ndarray, rng: np.random.Generator, sigma: float, cell: int) -> np.ndarray:
    """Monochrome film grain in ``cell``-pixel squares, in even steps of two levels.

    Grain is what makes a PNG big: squares of 2 px and even steps keep a 3000 px cover near 3 MB (per-pixel
    grain: 12 MB) and a thumbnail well under YouTube's 2 MB, with no visible difference at viewing size.
    """
    height, width = img.shape[:2]
    rows, cols = -(-height // cell), -(-width // cell)
    noise = (np.rint(rng.standard_normal((rows, cols), dtype=np.float32) * (sigma / 2)) * 2).astype(np.int16)
    if cell > 1:
        noise = np.repeat(np.repeat(noise, cell, axis=0), cell, axis=1)[:height, :width]
    out = img.astype(np.int16)
    out += noise[..., None]
    return np.clip(out, 0, 255, out=out).astype(np.uint8)


def _fit(text: str, max_width: float, size: int, min_size: int, bold: bool) -> tuple[str, int]:
    """The largest size up to ``size`` at which ``text`` fits ``max_width``; shortened with … at ``min_size``."""
    while size > min_size and font(size, bold).getlength(text) > max_width:
        size = max(min_size, int(size * max_width / font(size, bold).getlength(text)))
    while len(text) > 1 and font(size, bold).getlength(text) > max_width:
        text = text[:-2].rstrip() + "…"
    return text, size


def draw_title(
    image: Image.Image,
    title: str,
    subtitle: str,
    box: tuple[float, float, float, float],
    palette: Palette,
    align: str = "center",
) -> Image.Image:
    """Set ``title`` (bold) and ``subtitle`` under it inside ``box`` (x0, y0, x1, y1), with a soft shadow."""
    if not title and not subtitle:
        return image
    x0, y0, x1, y1 = box
    box_w, box_h = x1 - x0, y1 - y0
    title, t_size = _fit(title, box_w, int(box_h * 0.6), max(8, int(box_h * 0.2)), True)
    subtitle, s_size = _fit(subtitle, box_w, max(8, int(t_size * 0.42)), 8, False)
    lines = [(text, font(size, bold), size) for text, size, bold in ((title, t_size, True), (subtitle, s_size, False))]
    lines = [line for line in lines if line[0]]
    gap = t_size * 0.18
    block_h = sum(size for _, _, size in lines) * 1.1 + gap * (len(lines) - 1)
    y = y0 + (box_h - block_h) / 2
    placed = []
    for text, face, size in lines:
        width = face.getlength(text)
        x = x0 if align == "left" else x0 + (box_w - width) / 2
        placed.append((x, y, text, face))
        y += size * 1.1 + gap

    # the shadow: the same words blurred, dark, a little down and right
    shadow = Image.new("L", image.size, 0)
    sdraw = ImageDraw.Draw(shadow)
    off = max(1, round(t_size * 0.04))
    for x, yy, text, face in placed:
        sdraw.text((x + off, yy + off), text, font=face, fill=200)
    pad = int(t_size * 0.3)
    crop = (max(0, int(x0) - pad), max(0, int(y0) - pad))
    crop += (min(image.width, int(x1) + pad), min(image.height, int(y1) + pad))
    blurred = shadow.crop(crop).filter(ImageFilter.GaussianBlur(max(1, t_size * 0.05)))
    shadow = Image.new("L", image.size, 0)
    shadow.paste(blurred, crop[:2])
    out = image.copy()
    out.paste(_mix(palette.land, (0, 0, 0), 0.5), (0, 0, *image.size), shadow)
    draw = ImageDraw.Draw(out)
    for i, (x, yy, text, face) in enumerate(placed):
        colour = palette.text if i == 0 else _mix(palette.text, palette.lights, 0.35)
        draw.text((x, yy), text, font=face, fill=colour)
    return out


def cover(plan: ArtPlan, title: str, subtitle: str = "", size: int = COVER_SIZE) -> Image.Image:
    """The square cover: the scene, the title set near the bottom."""
    art = Image.fromarray(scene(plan, size, size, scrim=(0.62, 1.0, 0.55)))
    return draw_title(art, title, subtitle, (0.07 * size, 0.8 * size, 0.93 * size, 0.95 * size), plan.palette)


def thumbnail(plan: ArtPlan, title: str, subtitle: str = "", size: tuple[int, int] = THUMBNAIL_SIZE) -> Image.Image:
    """The 16:9 thumbnail: the scene, the title large across the lower third."""
    width, height = size
    art = Image.fromarray(scene(plan, width, height, scrim=(0.5, 1.0, 0.6)))
    box = (0.06 * width, 0.68 * height, 0.94 * width, 0.95 * height)
    return draw_title(art, title, subtitle, box, plan.palette)


def write_png(image: Image.Image, path: Path, compress_level: int = 6) -> None:
    """Write ``image`` as PNG atomically (no timestamps: the same image gives the same bytes)."""
    atomic_write(Path(path), lambda tmp: image.save(tmp, format="PNG", compress_level=compress_level))


def write_cover(path: Path, plan: ArtPlan, title: str, subtitle: str = "", size: int = COVER_SIZE) -> None:
    # level 3: a 3000 px PNG with grain takes twice as long at level 6 for 10 % less size
    write_png(cover(plan, title, subtitle, size), path, compress_level=3)


def write_thumbnail(path: Path, plan: ArtPlan, title: str, subtitle: str = "") -> None:
    # about 1 MB with grain, half YouTube's 2 MB thumbnail limit (level 9: 10 % smaller, twice as slow)
    write_png(thumbnail(plan, title, subtitle), path, compress_level=6)


def preview(source: Path, width: int = PREVIEW_WIDTH) -> bytes:
    """The picture ``source`` as a small JPEG (``width`` px wide at most, the same shape) for lists of
    tracks: tens of KB where the thumbnail is about a MB."""
    with Image.open(source) as picture:
        small = picture.convert("RGB")
    if small.width > width:
        small = small.resize((width, max(1, round(small.height * width / small.width))), Image.LANCZOS)
    out = io.BytesIO()
    small.save(out, format="JPEG", quality=80, optimize=True)
    return out.getvalue()
