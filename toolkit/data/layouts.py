"""Dataset layouts: which video files make a dataset, with labels and splits.

Three layouts turn a directory of videos into a :class:`DatasetIndex`:

- ``ucf101``: the official layout ``UCF-101/<Class>/<video>.avi`` with
  ``classInd.txt`` and ``trainlistNN.txt`` / ``testlistNN.txt`` (CRLF, 1-based labels).
- ``folders``: HMDB51-style class folders ``<class>/<video>``; splits from HMDB51's
  ``<class>_test_splitN.txt`` files (``name 1`` train, ``name 2`` test, ``0`` unused)
  when given, otherwise a deterministic share of each class goes to test.
- ``list``: generic ``relative/path label`` lists, one per split, and an optional
  class-name file.

Paths in list and split files must be relative to the dataset directory, without
``..``; a video may be listed once, in one split (the same video in train and test
would leak test data into training). Each is refused with one line naming the entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from toolkit.paths import PathError, relative_path

VIDEO_SUFFIXES = (".avi", ".mp4", ".mkv", ".webm", ".mov", ".mpg", ".mpeg")
SPLITS = ("train", "test")


class LayoutError(ValueError):
    """A dataset directory or annotation file does not match its layout."""


@dataclass(frozen=True)
class VideoEntry:
    source_path: Path        # the original file
    name: str                # output path without suffix, e.g. "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01"
    label: int               # 0-based
    split: str               # "train" | "test"


@dataclass
class DatasetIndex:
    classes: list[str]
    entries: list[VideoEntry] = field(default_factory=list)

    def split(self, name: str) -> list[VideoEntry]:
        return [e for e in self.entries if e.split == name]


def _numbered_lines(path: Path) -> list[tuple[int, str]]:
    """(1-based line number, stripped text) of the non-empty lines of an annotation file."""
    path = Path(path)
    if not path.is_file():
        raise LayoutError(f"{path}: annotation file not found")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LayoutError(f"{path}: not a UTF-8 text file ({exc.reason} at byte {exc.start})")
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def _read_lines(path: Path) -> list[str]:
    return [line for _, line in _numbered_lines(path)]


def _listed_path(rel: str, where: str) -> str:
    """A video path from an annotation line, refused unless relative and without ``..``."""
    try:
        return relative_path(rel, where).as_posix()
    except PathError as exc:
        raise LayoutError(str(exc)) from None


def _check_unique(entries: list[VideoEntry], origin: dict[int, str]) -> None:
    """Each output name once: not in both splits (leakage), not twice in one."""
    first: dict[str, int] = {}
    for i, entry in enumerate(entries):
        j = first.setdefault(entry.name, i)
        if j == i:
            continue
        other = entries[j]
        if other.split != entry.split:
            raise LayoutError(f"video {entry.name!r} is in both the {other.split} and the "
                              f"{entry.split} split ({origin[j]}; {origin[i]}); a test video "
                              f"must not be trained on: remove one of the lines")
        raise LayoutError(f"video {entry.name!r} is listed twice ({origin[j]}; {origin[i]}); "
                          f"remove one of the lines (or rename one file if they differ)")


def _require_dir(root: Path) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise LayoutError(f"{root}: dataset directory not found")
    return root


def ucf101_index(root, splits_dir, split: int = 1) -> DatasetIndex:
    """Index of UCF101 (``root`` holds the class folders) for official split 1, 2 or 3."""
    root, splits_dir = _require_dir(root), Path(splits_dir)
    if split not in (1, 2, 3):
        raise LayoutError(f"UCF101 split must be 1, 2 or 3, got {split}")
    classes = []
    for line in _read_lines(splits_dir / "classInd.txt"):
        number, name = line.split()
        if int(number) != len(classes) + 1:
            raise LayoutError(f"{splits_dir / 'classInd.txt'}: class numbers are not 1..N in order")
        classes.append(name)
    label_of = {name: i for i, name in enumerate(classes)}
    entries, origin = [], {}
    for split_name, prefix in (("train", "trainlist"), ("test", "testlist")):
        list_file = splits_dir / f"{prefix}{split:02d}.txt"
        for number, line in _numbered_lines(list_file):
            where = f"{list_file} line {number}"
            rel = _listed_path(line.split()[0], where)
            class_name = rel.split("/")[0]
            if class_name not in label_of or "/" not in rel:
                raise LayoutError(f"{where}: unknown class {class_name!r} in {rel!r} "
                                  f"(expected <Class>/<video> with a class of classInd.txt)")
            origin[len(entries)] = where
            entries.append(VideoEntry(root / rel, str(Path(rel).with_suffix("")),
                                      label_of[class_name], split_name))
    _check_unique(entries, origin)
    return DatasetIndex(classes, entries)


def _hmdb_split_file(splits_dir: Path, class_name: str, split: int) -> Path | None:
    path = splits_dir / f"{class_name}_test_split{split}.txt"
    return path if path.is_file() else None


def class_folder_index(root, splits_dir=None, split: int = 1, test_every: int = 4) -> DatasetIndex:
    """Index of ``<root>/<class>/<video>`` folders (HMDB51 style).

    With ``splits_dir``, HMDB51's split files decide; otherwise every ``test_every``-th
    video of a class (sorted by name, counting from the second) is a test video.
    """
    root = _require_dir(root)
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise LayoutError(f"{root}: no class folders found")
    entries, origin = [], {}
    for label, class_name in enumerate(classes):
        videos = sorted(p for p in (root / class_name).iterdir()
                        if p.suffix.lower() in VIDEO_SUFFIXES)
        assignment = None
        if splits_dir is not None:
            split_file = _hmdb_split_file(Path(splits_dir), class_name, split)
            if split_file is None:
                raise LayoutError(f"{splits_dir}: no split file {class_name}_test_split{split}.txt")
            assignment = {}
            for line in _read_lines(split_file):
                name, code = line.rsplit(maxsplit=1)
                assignment[name] = {"1": "train", "2": "test"}.get(code)
        for i, video in enumerate(videos):
            if assignment is not None:
                split_name = assignment.get(video.name)
                if split_name is None:
                    continue
            else:
                split_name = "test" if i % test_every == 1 else "train"
            origin[len(entries)] = str(video)
            entries.append(VideoEntry(video, f"{class_name}/{video.stem}", label, split_name))
    _check_unique(entries, origin)
    return DatasetIndex(classes, entries)


def list_index(root, train_list, test_list, classes_file=None) -> DatasetIndex:
    """Index from ``relative/path label`` lists (paths relative to ``root``)."""
    root = _require_dir(root)
    parsed = {}
    for split_name, list_file in (("train", train_list), ("test", test_list)):
        rows = []
        for number, line in _numbered_lines(Path(list_file)):
            where = f"{list_file} line {number}"
            parts = line.rsplit(maxsplit=1)
            if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
                raise LayoutError(f"{where}: expected 'relative/path label', got {line!r}")
            rows.append((_listed_path(parts[0], where), int(parts[1]), where))
        parsed[split_name] = rows
    labels = {label for rows in parsed.values() for _, label, _ in rows}
    if classes_file is not None:
        classes = _read_lines(Path(classes_file))
    else:
        classes = [str(i) for i in range(max(labels) + 1)] if labels else []
    bad = sorted(label for label in labels if not 0 <= label < len(classes))
    if bad:
        raise LayoutError(f"label {bad[0]} is outside the {len(classes)} classes")
    entries, origin = [], {}
    for split_name, rows in parsed.items():
        for rel, label, where in rows:
            origin[len(entries)] = where
            entries.append(VideoEntry(root / rel, str(Path(rel).with_suffix("")), label, split_name))
    _check_unique(entries, origin)
    return DatasetIndex(classes, entries)

