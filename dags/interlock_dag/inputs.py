"""DAG helpers: the run's conf (pinned object, checksums, model) checked, and training rows cleaned.

The conf comes from interlock's router (functions/interlock/core/route.py `render_conf`) but a run
may also be triggered by hand, so nothing in it is trusted: a bad conf raises `BadConf` with a
message that names the field.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

PINNED_URI = re.compile(
    r"gs://(?P<bucket>[a-z0-9][a-z0-9._\-]{1,220})/(?P<name>[^#]+)#(?P<gen>[0-9]{1,20})"
)
MODEL_NAME = re.compile(r"[a-z][a-z0-9-]{0,62}")
MIN_TRAINING_ROWS = 10


class BadConf(ValueError):
    """The DAG run's conf cannot be used; the message names the field."""


class BadInput(ValueError):
    """The pinned object is missing, differs from what the event announced, or is unusable."""


@dataclass(frozen=True)
class Pinned:
    uri: str
    bucket: str
    name: str
    generation: int
    md5: str | None  # base64 MD5, as GCS reports md5Hash
    size: int | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "uri": self.uri,
            "bucket": self.bucket,
            "name": self.name,
            "generation": self.generation,
            "md5": self.md5,
            "size": self.size,
        }


def parse_conf(conf: Mapping[str, Any] | None) -> tuple[str, Pinned]:
    """(model, pinned object) from a DAG run conf."""
    if not isinstance(conf, Mapping) or not conf:
        raise BadConf(
            "conf is empty: trigger with {'object': 'gs://BUCKET/NAME#GENERATION', 'model': ...}"
        )
    uri = conf.get("object")
    if not isinstance(uri, str):
        raise BadConf(f"conf.object must be 'gs://BUCKET/NAME#GENERATION', got {uri!r}")
    match = PINNED_URI.fullmatch(uri)
    if match is None:
        raise BadConf(f"conf.object {uri!r} is not a pinned object 'gs://BUCKET/NAME#GENERATION'")
    name = match["name"]
    if ".." in name.split("/") or name.startswith("/") or "\x00" in name:
        raise BadConf(f"conf.object name {name!r} must not contain '..' segments or start with '/'")
    declared = conf.get("input")
    if declared not in (None, "", uri):
        raise BadConf(f"conf.input {declared!r} differs from conf.object {uri!r}")
    model = conf.get("model")
    if not isinstance(model, str) or not MODEL_NAME.fullmatch(model):
        raise BadConf(f"conf.model must match {MODEL_NAME.pattern}, got {model!r}")
    md5 = conf.get("md5")
    if md5 not in (None, "") and not isinstance(md5, str):
        raise BadConf(f"conf.md5 must be GCS's base64 md5Hash string, got {md5!r}")
    return model, Pinned(
        uri=uri,
        bucket=match["bucket"],
        name=name,
        generation=int(match["gen"]),
        md5=md5 or None,
        size=_size(conf.get("size")),
    )


def _size(raw: Any) -> int | None:
    if raw in (None, ""):
        return None
    # GCS's JSON API reports sizes as strings; interlock's conf passes integers.
    if isinstance(raw, bool) or not isinstance(raw, int | str) or not str(raw).isdigit():
        raise BadConf(f"conf.size must be a non-negative integer, got {raw!r}")
    return int(raw)


_IMMUTABLE = "inputs must stay immutable once a run references them"
_CHANGED = f" (not the bytes that landed: {_IMMUTABLE})"


def md5_base64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


def check_content(pinned: Pinned, data: bytes, announced_by: str = "the event") -> Pinned:
    """The bytes read are the bytes the event announced (size, then MD5); `pinned` with the size
    and MD5 actually read, so what is recorded is what trained even when the conf named neither."""
    return check_found(pinned, len(data), md5_base64(data), announced_by)


def check_found(
    pinned: Pinned, size: int, md5: str | None, announced_by: str = "the event"
) -> Pinned:
    """As `check_content`, from the size and MD5 the store reports for the generation."""
    if pinned.size is not None and size != pinned.size:
        raise BadInput(
            f"{pinned.uri}: size is {size} bytes, {announced_by} said {pinned.size}{_CHANGED}"
        )
    if pinned.md5 is not None and md5 != pinned.md5:
        raise BadInput(f"{pinned.uri}: md5 is {md5}, {announced_by} said {pinned.md5}{_CHANGED}")
    return replace(pinned, size=size, md5=md5)


def gone(pinned: Pinned, live_generation: int | None) -> BadInput:
    """The pinned generation is not in the bucket: say why it is likely gone, and the rule."""
    if live_generation is not None and live_generation != pinned.generation:
        why = f"overwritten after it landed, the live generation is now {live_generation}"
    else:
        why = "deleted after it landed, or never existed"
    return BadInput(
        f"{pinned.uri}: generation {pinned.generation} no longer exists ({why}; without Object "
        f"Versioning GCS keeps only the live generation): {_IMMUTABLE}"
    )


def local_object_path(buckets_root: Path, pinned: Pinned) -> Path:
    """`{root}/.objects/{bucket}/{generation}/{name}`: where the local stack keeps each generation."""
    base = (buckets_root / ".objects" / pinned.bucket / str(pinned.generation)).resolve()
    path = (base / pinned.name).resolve()
    if not path.is_relative_to(base):
        raise BadConf(f"conf.object name {pinned.name!r} escapes its bucket")
    return path


def local_live_generation(buckets_root: Path, bucket: str, name: str) -> int | None:
    """The live generation of `name` in the local bucket (`{root}/.meta/{bucket}/{name}.json`)."""
    meta = buckets_root / ".meta" / bucket / f"{name}.json"
    try:
        return int(json.loads(meta.read_text())["generation"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def read_local(buckets_root: Path, pinned: Pinned) -> tuple[Path, bytes]:
    """The pinned generation's path and bytes in the local bucket; BadInput when it is gone."""
    path = local_object_path(buckets_root, pinned)
    try:
        return path, path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        raise gone(
            pinned, local_live_generation(buckets_root, pinned.bucket, pinned.name)
        ) from None


@dataclass(frozen=True)
class Cleaned:
    header: list[str]  # feature names in the dataset's order, then "target"
    rows: list[list[float]]
    dropped: int

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(self.header)
        writer.writerows([[repr(v) for v in row[:-1]] + [int(row[-1])] for row in self.rows])
        return out.getvalue()


def clean_rows(text: str, feature_names: Iterable[str], target: str = "target") -> Cleaned:
    """Training rows in the dataset's column order; rows with gaps or non-finite values dropped."""
    names = list(feature_names)
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        raise BadInput("the landed file is empty")
    header = [h.strip() for h in header]
    missing = [n for n in [*names, target] if n not in header]
    if missing:
        shown = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
        raise BadInput(f"the landed file lacks {len(missing)} column(s): {shown}")
    index = [header.index(n) for n in [*names, target]]
    rows, dropped = [], 0
    for raw in reader:
        try:
            values = [float(raw[i]) for i in index]
        except (IndexError, ValueError):
            dropped += 1
            continue
        if not all(math.isfinite(v) for v in values) or values[-1] not in (0.0, 1.0):
            dropped += 1
            continue
        rows.append(values)
    if len(rows) < MIN_TRAINING_ROWS:
        raise BadInput(
            f"only {len(rows)} usable rows ({dropped} dropped); need {MIN_TRAINING_ROWS}"
        )
    if len({r[-1] for r in rows}) < 2:
        raise BadInput("every usable row has the same target: a classifier needs both classes")
    return Cleaned(header=[*names, target], rows=rows, dropped=dropped)
