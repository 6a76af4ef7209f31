"""Benchmark instances: the complete table of D(S) for one explanation problem, with its exact optima.

An *instance* freezes one explanation problem (model, input, target, features, reference, output)
into the ``2^t`` values ``D(S)``, indexed by bitmask (bit i set = feature i deleted, so
``values[S] = D(S)`` and ``values[2^t - 1 - S] = D(all \\ S)``). With the table, solvers run at
memory speed without torch (``TableOracle``) and the optimality gap of any run is known exactly.

File format (version 2): two files with the same stem.

``<stem>.npz`` (numpy ``savez_compressed``)
    ``values``  float64 ``(2^t,)``, little-endian, D(S) by bitmask.
    ``x``       float32, the explained input (optional; absent for tables from black boxes).
    ``feature_ids`` int64, the feature map (optional).
``<stem>.json`` (UTF-8 sidecar)
    ``format`` = ``"trace-instance"``, ``format_version`` = 2, ``name``, ``t``, ``npz`` (a plain file
    name in the sidecar's directory),
    ``sha256``: hex digest over the npz arrays (for each array in name order: name, dtype, shape,
    raw bytes), so a corrupt, truncated or mismatched npz is detected;
    ``objectives_sha256``: hex digest of the ``objectives`` object as canonical JSON (sorted keys, no
    spaces), so an edited or corrupt optimum is refused on load (version 1 had no such field: a
    version-1 sidecar still loads, but its optima are then always recomputed by DP and compared);
    ``metadata``: model, input, target, features, reference, output (free-form JSON values);
    ``objectives``: for each of ``le``, ``mo``, ``le-mo``: ``optimum`` (the maximised chain sum,
    DP over the subset lattice), ``trajectory`` (an optimal sigma, least important first),
    ``value`` (the optimum in the paper's sign), ``random_mean`` (exact expected score of a uniformly
    random trajectory), ``bound`` (per-level bound ``sum_k max_{|S|=k} c(S)``), ``cs_le``, ``cs_mo``,
    ``avg_iou``.
    Instances built by this module also record ``metadata["table"]``: ``distinct_values`` (distinct
    D values among the 2^t), ``effective_t`` (features whose deletion changes D for some set) and
    ``inert_features`` (the others: deleting them never matters, e.g. an all-zero patch under a
    zeros reference, which makes an instance easier than its t suggests), and
    ``metadata["difficulty"]``: the difficulty measures of ``trace_opt.benchmarks.difficulty`` (additivity,
    greedy's normalised gap, the number of optimal trajectories, the per-level bound's gap, ...;
    computed on the fly for instances built before they existed: ``instances stats``).

The normalised gap of a trajectory with score s is ``(optimum - s) / (optimum - random_mean)``:
0 = optimal, 1 = no better than a random order on average (as ``solvers.complete.gap_report``).

A *library* is a directory of instances (every ``*.json`` sidecar in it), loaded sorted by name.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from solvers import get_solver
from solvers.complete import complete_table, is_optimal, normalised_gap, table_scores
from trace_opt.benchmarks.difficulty import difficulty, objective_summary
from trace_opt.benchmarks.model_sources import FEATURE_KINDS, MODELS, model_source
from trace_opt.core.features import as_features
from trace_opt.core.fingerprint import arrays_digest
from trace_opt.core.io import (
    RecordStore,
    atomic_savefig,
    atomic_write_bytes,
    atomic_write_json,
    check_output_dir,
    json_values,
    stop_on_interrupt,
)
from trace_opt.core.objective import OBJECTIVES
from trace_opt.core.paired import standard_error
from trace_opt.core.problem import TraceProblem

# TableOracle, MAX_T, check_table_size and table_stats live in the core (trace_opt.core.table); re-exported here
from trace_opt.core.table import MAX_T, TableOracle, check_table_size, table_stats  # noqa: F401
from trace_opt.core.table import check_table as _check_values
from trace_opt.core.validation import check_choice, check_positive_int
from trace_opt.explanation.settings import ExplainSettings
from trace_opt.models.oracles import as_device, make_oracle

FORMAT = "trace-instance"
FORMAT_VERSION = 2
#: older versions this module still reads (version 1: no ``objectives_sha256``; optima verified by DP on load)
READ_VERSIONS = (1, 2)


# ------------------------------------------------------------------------------------ instance
@dataclass
class Instance:
    """One benchmark instance: the D table, its metadata and exact optima per objective."""

    name: str
    values: np.ndarray
    metadata: dict = field(default_factory=dict)
    objectives: dict = field(default_factory=dict)
    arrays: dict = field(default_factory=dict)  # optional extra arrays stored in the npz (x, feature_ids)
    path: Path | None = None

    @property
    def t(self) -> int:
        return int(self.values.shape[0]).bit_length() - 1

    def oracle(self, cache: bool = True) -> TableOracle:
        """A fresh table oracle (empty cache, zero counters)."""
        return TableOracle(self.values, cache=cache, output=self.metadata.get("output", "logit"), max_t=self.t)

    def problem(self, objective: str = "le-mo") -> TraceProblem:
        """A fresh ``TraceProblem`` over a table oracle."""
        return TraceProblem(self.oracle(), objective)

    def optimum(self, objective: str = "le-mo") -> float:
        return float(self._obj(objective)["optimum"])

    def _obj(self, objective: str) -> dict:
        check_choice("objective", objective, OBJECTIVES)
        return self.objectives[objective]

    def score(self, trajectory, objective: str = "le-mo") -> float:
        """Exact chain score of a trajectory, from the table (no counters)."""
        return float(table_scores(self.values, objective, trajectory))

    def normalised_gap(self, score: float, objective: str = "le-mo") -> float:
        """``(optimum - score) / (optimum - random_mean)``: 0 = optimal, 1 = a random order's mean."""
        o = self._obj(objective)
        return normalised_gap(o["optimum"], score, o["random_mean"])

    def verify(self) -> None:
        """Recompute optima and bounds by DP from the table; ValueError if the stored ones differ."""
        fresh = objective_summary(self.values)
        for objective, want in fresh.items():
            have = self.objectives.get(objective)
            if have is None:
                raise ValueError(f"instance {self._where()}: objective {objective!r} is missing")
            for key in ("optimum", "random_mean", "bound", "cs_le", "cs_mo"):
                if not math.isclose(have[key], want[key], rel_tol=1e-12, abs_tol=1e-12):
                    raise ValueError(
                        f"instance {self._where()}: stored {objective} {key}={have[key]!r} differs "
                        f"from the recomputed {want[key]!r}"
                    )
            if not math.isclose(
                self.score(have["trajectory"], objective), want["optimum"], rel_tol=1e-12, abs_tol=1e-12
            ):
                raise ValueError(f"instance {self._where()}: stored {objective} trajectory does not reach the optimum")

    def _where(self) -> str:
        return str(self.path) if self.path is not None else repr(self.name)

    def save(self, path) -> Path:
        return save_instance(self, path)


def instance_from_table(
    values, name: str, metadata: dict | None = None, arrays: dict | None = None, max_t: int = MAX_T
) -> Instance:
    """An instance from a D table (length 2^t, by bitmask); optima and bounds computed exactly."""
    v, t = _check_values(values)
    check_table_size(t, max_t)
    if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
        raise ValueError(f"name={name!r} is not valid; expected a non-empty file stem without '/'")
    meta = dict(metadata or {})
    meta.setdefault("table", table_stats(v))
    objectives = objective_summary(v)
    if "difficulty" not in meta:  # difficulty measures (trace_opt.benchmarks.difficulty), stored with the instance
        meta["difficulty"] = difficulty(v, objectives, str(meta.get("output") or "logit"))
    return Instance(
        name=name,
        values=v,
        metadata=meta,
        objectives=objectives,
        arrays={k: np.asarray(a) for k, a in (arrays or {}).items()},
    )


def build_instance(
    model,
    x,
    target: int,
    features=4,
    reference="zeros",
    output: str = "logit",
    *,
    name: str,
    metadata: dict | None = None,
    max_t: int = MAX_T,
    batch_size: int = 4096,
    progress: bool = False,
    **reference_options,
) -> Instance:
    """Evaluate all 2^t sets of a live torch model problem (``ModelOracle``) into an instance.

    The keyword form of ``instance_from_model``: ``features``, ``reference`` (and its options), ``output``
    and ``batch_size`` are those of ``ExplainSettings``. ``metadata`` is merged over what is recorded
    automatically (target, features, reference, output). Cost: 2^t forward passes in batches of
    ``batch_size``. t above ``max_t`` is refused first.
    """
    settings = ExplainSettings.from_keywords(
        features=features, reference=reference, output=output, batch_size=batch_size, **reference_options
    )
    return instance_from_model(model, x, target, settings, name=name, metadata=metadata, max_t=max_t, progress=progress)


def instance_from_model(
    model,
    x,
    target: int,
    settings: ExplainSettings,
    *,
    name: str,
    metadata: dict | None = None,
    max_t: int = MAX_T,
    progress: bool = False,
) -> Instance:
    """The table of D(S) over all 2^t sets of a model problem, into an instance.

    What applies of ``settings``: ``features``, ``reference`` and ``reference_options``, ``output``,
    ``batch_size``, ``device`` and ``precision`` (the oracle's; ``seed`` does not enter: a noise reference is
    drawn with the oracle's own default seed, as tables always were). The search settings (solver, budget,
    objective) do not apply: every set is evaluated. The table is built with the ``le`` objective's problem
    (``complete_table``); the optima of every objective come from it.
    """
    feats = as_features(settings.features, tuple(np.shape(x)))
    check_table_size(feats.t, max_t)
    oracle = make_oracle(model, x, target, features=feats, cache=False, **settings.oracle_options())
    values = complete_table(TraceProblem(oracle, "le"), progress=progress, max_t=max_t)
    meta = _model_table_metadata(target, feats, settings)
    meta.update(metadata or {})
    arrays = {"x": oracle.x.detach().cpu().numpy().astype(np.float32), "feature_ids": feats.ids.astype(np.int64)}
    return instance_from_table(values, name, meta, arrays, max_t=max_t)


def _model_table_metadata(target: int, feats, settings: ExplainSettings) -> dict:
    """What an instance built from a model records of its problem: target, output, reference (and its
    options when given), features; the precision when it is not fp32."""
    reference = settings.reference
    meta = {
        "target": int(target),
        "output": settings.output,
        "reference": reference if isinstance(reference, (str, int, float)) else "tensor",
        "features": {"kind": feats.kind, "t": feats.t, "grid": list(feats.grid) if feats.grid else None},
    }
    if settings.reference_options:
        meta["reference_options"] = dict(settings.reference_options)
    if settings.precision != "fp32":
        meta["precision"] = settings.precision
    return meta


# ----------------------------------------------------------------------------------------- files
def _objectives_digest(objectives) -> str:
    """sha256 of the objectives as canonical JSON (what the sidecar stores, so a JSON round trip keeps it)."""
    text = json.dumps(json.loads(json.dumps(objectives)), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _paths(path) -> tuple[Path, Path]:
    p = Path(path)
    stem = p.with_suffix("") if p.suffix in (".json", ".npz") else p
    return stem.with_name(stem.name + ".json"), stem.with_name(stem.name + ".npz")


def save_instance(instance: Instance, path) -> Path:
    """Write ``<stem>.npz`` then ``<stem>.json`` atomically; returns the sidecar's path.

    ``path`` is the stem or either file's name. The sidecar is written last, so an interrupted save
    leaves no sidecar that refers to a missing or partial npz.
    """
    json_path, npz_path = _paths(path)
    arrays = {"values": np.ascontiguousarray(instance.values, dtype="<f8")}
    arrays.update({k: np.ascontiguousarray(a) for k, a in instance.arrays.items()})
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(npz_path, buf.getvalue())
    side = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": instance.name,
        "t": instance.t,
        "npz": npz_path.name,
        "sha256": arrays_digest(arrays),
        "objectives_sha256": _objectives_digest(instance.objectives),
        "metadata": instance.metadata,
        "objectives": instance.objectives,
    }
    atomic_write_json(json_path, side)
    instance.path = json_path
    return json_path


#: the numbers stored per objective (besides the trajectory)
_OBJECTIVE_NUMBERS = ("optimum", "value", "random_mean", "bound", "cs_le", "cs_mo", "avg_iou")


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _check_objectives(objectives, t: int, json_path: Path) -> None:
    """Type-check the sidecar's objectives: every objective with finite numbers and a permutation."""
    if not isinstance(objectives, dict):
        raise ValueError(f"instance file {json_path}: 'objectives' must be an object with {list(OBJECTIVES)}")
    for objective in OBJECTIVES:
        o = objectives.get(objective)
        if not isinstance(o, dict) or not {"optimum", "trajectory", "random_mean"} <= set(o):
            raise ValueError(f"instance file {json_path} lacks the optimum of objective {objective!r}")
        missing = [k for k in _OBJECTIVE_NUMBERS if k not in o]
        if missing:
            raise ValueError(f"instance file {json_path}: objectives[{objective!r}] lacks {missing}")
        for key in _OBJECTIVE_NUMBERS:
            if not _is_number(o[key]):
                raise ValueError(
                    f"instance file {json_path}: objectives[{objective!r}][{key!r}]={o[key]!r} is not a finite number"
                )
        traj = o["trajectory"]
        if (
            not isinstance(traj, list)
            or not all(isinstance(i, int) and not isinstance(i, bool) for i in traj)
            or sorted(traj) != list(range(t))
        ):
            raise ValueError(
                f"instance file {json_path}: objectives[{objective!r}]['trajectory'] is not a permutation of 0..{t - 1}"
            )


def load_instance(path, verify: bool = False, max_t: int = MAX_T) -> Instance:
    """Load an instance from its sidecar (``.json``), its ``.npz`` or their common stem.

    Every error names the file and says what is wrong: a missing, corrupt or truncated file, another
    format version, a ``t`` above ``max_t``, an ``npz`` field that is not a plain file name in the
    sidecar's directory, an npz that does not match the sidecar's checksum, or optima that do not match
    theirs (``objectives_sha256``) or are not well-formed. ``verify=True`` also recomputes the optima by
    DP and compares them with the stored ones; a version-1 sidecar (no checksum of its optima) is
    always verified that way.
    """
    json_path, _ = _paths(path)
    side = _read_sidecar(json_path)
    version, t = _check_sidecar(side, json_path, max_t)
    npz_path = json_path.with_name(side["npz"])
    arrays = _read_npz(npz_path, json_path, side["sha256"])
    values = arrays.pop("values")
    if values.shape != (1 << t,):
        raise ValueError(f"instance file {npz_path} holds {values.shape} values; expected (2^{t},) for t={t}")
    values, _ = _check_values(values, where=f"instance file {npz_path}: values")
    inst = Instance(
        name=str(side["name"]),
        values=values,
        metadata=side["metadata"],
        objectives=side["objectives"],
        arrays=arrays,
        path=json_path,
    )
    if verify or version < 2:
        inst.verify()
    return inst


def _read_sidecar(json_path: Path) -> dict:
    """The sidecar's JSON object, or a ValueError naming the file (missing, unreadable, not JSON, another format)."""
    try:
        side = json.loads(json_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"instance file {json_path} does not exist") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"instance file {json_path} is corrupt or truncated (not valid JSON: {exc})") from None
    except OSError as exc:
        raise ValueError(f"instance file {json_path} cannot be read ({type(exc).__name__}: {exc})") from None
    if not isinstance(side, dict) or side.get("format") != FORMAT:
        raise ValueError(f"instance file {json_path} is not a {FORMAT!r} sidecar")
    return side


def _check_sidecar(side: dict, json_path: Path, max_t: int) -> tuple[int, int]:
    """Check a sidecar's fields (version, t, the npz's name, the optima and their checksum); returns
    ``(format_version, t)``."""
    version = side.get("format_version")
    if version not in READ_VERSIONS or isinstance(version, bool):
        raise ValueError(
            f"instance file {json_path} has format_version={version!r}; this version of "
            f"trace-trajectories reads format_version {' and '.join(map(str, READ_VERSIONS))} "
            f"(writes {FORMAT_VERSION})"
        )
    required = ("name", "t", "npz", "sha256", "metadata", "objectives") + (
        ("objectives_sha256",) if version >= 2 else ()
    )
    for key in required:
        if key not in side:
            raise ValueError(f"instance file {json_path} is missing the field {key!r}")
    t = side["t"]
    if not isinstance(t, int) or isinstance(t, bool) or t < 2:
        raise ValueError(f"instance file {json_path} has t={t!r}; expected an integer >= 2")
    try:
        check_table_size(t, max_t)
    except ValueError as exc:
        raise ValueError(f"instance file {json_path}: {exc}") from None
    npz_name = side["npz"]
    if (
        not isinstance(npz_name, str)
        or not npz_name
        or npz_name in (".", "..")
        or "/" in npz_name
        or "\\" in npz_name
        or "\0" in npz_name
        or Path(npz_name).name != npz_name
    ):
        raise ValueError(
            f"instance file {json_path}: npz={npz_name!r} is not valid; it must be a plain file name "
            "in the same directory as the sidecar (no directory part)"
        )
    _check_objectives(side["objectives"], t, json_path)
    if version >= 2 and _objectives_digest(side["objectives"]) != side["objectives_sha256"]:
        raise ValueError(
            f"instance file {json_path}: the stored optima do not match its objectives_sha256 "
            "(edited or corrupt); rebuild the instance or restore the file"
        )
    return version, t


def _read_npz(npz_path: Path, json_path: Path, sha256: str) -> dict:
    """The arrays of an instance's npz, checked against the sidecar's checksum (a ValueError naming the file)."""
    try:
        with open(npz_path, "rb") as fh:
            magic = fh.read(4)
    except FileNotFoundError:
        raise ValueError(f"instance file {npz_path} (named by {json_path}) does not exist") from None
    except OSError as exc:
        raise ValueError(f"instance file {npz_path} cannot be read ({type(exc).__name__}: {exc})") from None
    if magic != b"PK\x03\x04":  # numpy would try to unpickle it and talk about allow_pickle
        raise ValueError(
            f"instance file {npz_path} is not an .npz (zip) archive: corrupt, truncated or another kind of file"
        )
    try:
        with np.load(npz_path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as exc:
        raise ValueError(f"instance file {npz_path} is corrupt or truncated ({type(exc).__name__}: {exc})") from None
    if "values" not in arrays:
        raise ValueError(f"instance file {npz_path} has no 'values' array")
    if arrays_digest(arrays) != sha256:
        raise ValueError(f"instance file {npz_path} does not match the checksum in {json_path} (corrupt or replaced)")
    return arrays


def load_library(directory, verify: bool = False) -> list[Instance]:
    """All instances in a directory (every ``*.json`` sidecar), sorted by name."""
    d = Path(directory)
    if not d.is_dir():
        raise ValueError(f"library directory {d} does not exist")
    sidecars = sorted(p for p in d.glob("*.json") if p.name != "library.json")
    if not sidecars:
        raise ValueError(f"library directory {d} holds no instance (*.json sidecar)")
    return sorted((load_instance(p, verify=verify) for p in sidecars), key=lambda i: i.name)


def split_library(instances: list[Instance], holdout_every: int = 2) -> tuple[list, list]:
    """Deterministic split by position in name order: every ``holdout_every``-th instance is held out."""
    holdout_every = check_positive_int("holdout_every", holdout_every, minimum=2)
    train = [inst for i, inst in enumerate(instances) if i % holdout_every != holdout_every - 1]
    test = [inst for i, inst in enumerate(instances) if i % holdout_every == holdout_every - 1]
    return train, test


# -------------------------------------------------------------------------------------- library
#: the default library: 8 digits test inputs at a 4x4 grid (t=16) and 2 at a 4x5 grid (t=20)
DEFAULT_LIBRARY = {"size": 8, "grids": [[4, 4]] * 8 + [[4, 5]] * 2, "reference": "zeros", "output": "logit"}


@stop_on_interrupt()  # Ctrl-C stops the build; saved instances are kept and reused on a rerun
def keep_existing(json_path: Path, same, log=None, max_t: int = MAX_T) -> bool:
    """Whether a library build may keep the instance at ``json_path``: it loads (checksums verified) and
    ``same(metadata)`` says it was built from the same source. Says so through ``log``."""
    if not json_path.exists():
        return False
    try:
        old = load_instance(json_path, max_t=max_t)
    except ValueError:  # damaged or foreign: built again
        return False
    if not same(old.metadata):
        return False
    if log:
        log(f"kept {json_path}")
    return True


def build_library(
    out_dir,
    size: int = 8,
    grids=None,
    inputs=None,
    reference: str = "zeros",
    output: str = "logit",
    model_seed: int = 0,
    max_t: int = MAX_T,
    progress: bool = False,
    log=None,
    model: str | None = None,
    features: str = "grid",
    rule: str = "xor",
    regions: int = 3,
    *,
    data_seed: int = 0,
    settings: ExplainSettings | None = None,
) -> list[Path]:
    """Build a library from a model on its test inputs (default: the digits CNN, ``digits_cnn(size)``).

    ``grids[j]`` is the feature grid of the j-th instance (t = rows * cols), on test input
    ``inputs[j]`` (default: 0, 1, 2, ...); the target is the model's predicted class. ``model`` is one
    of ``trace_opt.benchmarks.model_sources.MODELS`` (default ``digits-cnn{size}``; ``logic-digits`` takes
    ``rule`` and ``regions``; ``breast-cancer-mlp`` takes grids ``1xT``: T contiguous column groups);
    ``features="superpixels"`` replaces each grid by a seeded irregular segmentation with as many cells
    (seed = the input index). ``model_seed`` picks the model's weights, ``data_seed`` the data split its
    test inputs come from (``model_source``); names end in ``_m<model_seed>`` / ``_d<data_seed>`` when not 0.
    Existing valid instances of the same source are kept (rerunning resumes). Returns the sidecar paths.

    ``settings``: the ``ExplainSettings`` of the tables (what applies: see ``instance_from_model``; the
    features come from ``grids``, so ``settings.features`` must be None); None: ``reference`` and
    ``output`` (shorthands, not to be given with ``settings``) with 4096 masked inputs per model call.
    """
    settings = _library_settings(settings, reference, output)
    model_name = f"digits-cnn{size}" if model is None else check_choice("model", model, MODELS)
    check_choice("features", features, FEATURE_KINDS)
    grids, inputs = _library_plan(grids, inputs, max_t)
    out = check_output_dir("out_dir", out_dir, create=True)
    device = as_device(settings.device)  # a device this machine lacks is refused here, before any work
    src = model_source(model_name, model_seed=model_seed, data_seed=data_seed, rule=rule, regions=regions)
    src.model = src.model.to(device)  # the oracle runs the model where settings.device says
    same = _same_source(src, settings)
    paths = []
    for idx, grid in zip(inputs, grids):
        if not 0 <= idx < len(src.X_test):
            raise ValueError(f"inputs: index {idx} is outside the test split 0..{len(src.X_test) - 1}")
        paths.append(_library_instance(src, idx, grid, features, settings, out, same, max_t, progress, log))
    return paths


def _library_settings(settings, reference, output) -> ExplainSettings:
    """The settings of a library's tables: ``settings`` as given, or built from the ``reference`` and ``output``
    shorthands (batch size 4096: a table evaluates every set, so large model calls pay)."""
    if settings is None:
        return ExplainSettings(reference=reference, output=output, batch_size=4096)
    if (reference, output) != ("zeros", "logit"):
        raise ValueError("reference and output are shorthands for settings; give them in settings instead")
    if settings.features is not None:
        raise ValueError(
            f"settings.features={settings.features!r} does not apply to a library: each instance's features "
            "come from grids"
        )
    return settings if settings.output is not None else settings.replace(output="logit")


def _library_plan(grids, inputs, max_t: int) -> tuple[list, list]:
    """One (rows, cols) grid per test input index, each table within ``max_t``."""
    grids = [tuple(g) if not isinstance(g, int) else (g, g) for g in (grids or DEFAULT_LIBRARY["grids"])]
    inputs = list(range(len(grids))) if inputs is None else [int(i) for i in inputs]
    if len(inputs) != len(grids):
        raise ValueError(f"inputs has {len(inputs)} entries but grids has {len(grids)}; give one grid per input")
    for g in grids:
        check_table_size(g[0] * g[1], max_t)
    return grids, inputs


def _same_source(src, settings: ExplainSettings):
    """Whether a stored instance's metadata says it was built from this source: the same weights
    (fingerprint), the same data split, the same reference options and precision (its name holds the
    rest: input, grid, output, reference)."""
    fingerprint = src.metadata["model_fingerprint"]
    data_seed = src.input_info["data_seed"]

    def same(meta) -> bool:
        split = (meta.get("input") or {}).get("data_seed", (meta.get("input") or {}).get("split_seed"))
        return (
            meta.get("model_fingerprint") == fingerprint
            and split == data_seed
            and (meta.get("reference_options") or {}) == dict(settings.reference_options)
            and meta.get("precision", "fp32") == settings.precision
        )

    return same


def _library_instance(src, idx: int, grid, kind: str, settings, out: Path, same, max_t, progress, log) -> Path:
    """The instance of test input ``idx`` at ``grid``: kept when a valid one of the same source is there,
    else built (the target: the model's predicted class) and saved; returns its sidecar."""
    rows, cols = grid
    suffix = "" if kind == "grid" else "_sp"
    seeds = "".join(f"_{k}{v}" for k, v in (("m", src.metadata["model_seed"]), ("d", src.input_info["data_seed"])) if v)
    name = f"{src.prefix}_test{idx:04d}_g{rows}x{cols}{suffix}_{settings.output}_{settings.reference}{seeds}"
    json_path, _ = _paths(out / name)
    if keep_existing(json_path, same, log, max_t):
        return json_path
    x = src.X_test[idx]
    with torch.inference_mode():
        target = int(src.model(x.unsqueeze(0).to(as_device(settings.device))).argmax(dim=1)[0])
    start = time.perf_counter()
    meta = dict(src.metadata)
    meta["input"] = {**src.input_info, "index": idx, "label": int(src.y_test[idx])}
    if src.extra_labels is not None:
        meta["input"]["region_digits"] = [int(d) for d in src.extra_labels[idx]]
    if kind != "grid":
        meta["segmentation"] = {
            "kind": "voronoi",
            "cells": rows * cols,
            "seed": idx,
            "function": "trace_opt.benchmarks.model_sources.voronoi_segments",
        }
    feats = src.features((rows, cols), kind, segment_seed=idx)
    inst = instance_from_model(
        src.model,
        x,
        target,
        settings.replace(features=feats),
        name=name,
        metadata=meta,
        max_t=max_t,
        progress=progress,
    )
    inst.metadata["build_seconds"] = round(time.perf_counter() - start, 3)
    save_instance(inst, json_path)
    if log:
        d = inst.metadata["difficulty"]
        log(
            f"built {json_path} (t={inst.t}, R2 {d['additivity_r2']:.3f}, greedy gap le-mo "
            f"{d['objectives']['le-mo']['greedy_normalised_gap']:.4f}, {inst.metadata['build_seconds']:.1f} s)"
        )
    return json_path


# ---------------------------------------------------------------------------------- leaderboard
#: the old solver-spec syntax's refusal says what to write instead
_OLD_SPEC_HINT = (
    "the 'name:key=value' form is gone: give the solver's name and its options as JSON, e.g. "
    '\'{"name": "sa", "params": {"eta": 0.995}}\' (or the name \'sa\' with '
    '--solver-options \'{"sa": {"eta": 0.995}}\')'
)


def solver_label(name: str, params: dict) -> str:
    """A solver spec's label when none is given: the name, then its options as compact JSON (sorted keys)."""
    return name if not params else f"{name} {json.dumps(json_values(params), sort_keys=True)}"


def parse_solver_spec(spec, options: dict | None = None) -> tuple[str, str, dict]:
    """A solver spec as ``(label, name, params)``: a registered name (``"sa"``), a JSON object or dict
    ``{"name": ..., "params": {...}, "label": ...}`` (params and label optional), or a ``(label, name, params)``
    tuple. ``options``: the solver options by solver name (``{"sa": {"K": 100}}``, the command line's
    ``--solver-options``), added to the spec's own params (which win). The old ``"name:key=value"`` strings
    are refused with what to write instead."""
    if isinstance(spec, str) and spec.lstrip().startswith("{"):
        try:
            spec = json.loads(spec)
        except json.JSONDecodeError as exc:
            raise ValueError(f"solver spec {spec!r} is not valid JSON ({exc})") from None
    if isinstance(spec, (tuple, list)) and len(spec) == 3:
        label, name, params = str(spec[0]), str(spec[1]), dict(spec[2])
    elif isinstance(spec, dict):
        unknown = sorted(set(spec) - {"name", "params", "label"})
        if "name" not in spec or unknown:
            raise ValueError(f"solver spec {spec!r} needs a 'name' and takes only 'name', 'params', 'label'")
        name, params, label = str(spec["name"]), dict(spec.get("params") or {}), spec.get("label")
    elif isinstance(spec, str) and spec and ":" not in spec and "=" not in spec:
        name, params, label = spec.strip(), {}, None
    elif isinstance(spec, str) and spec:
        raise ValueError(f"solver spec {spec!r}: {_OLD_SPEC_HINT}")
    else:
        raise ValueError(f"solver spec {spec!r} is not valid; expected a solver name or a JSON object")
    params = {**dict((options or {}).get(name) or {}), **params}
    return (str(label) if label else solver_label(name, params)), name, params


def check_options_by_solver(solver_options, names) -> None:
    """``solver_options`` of a board: ``{solver name: {option: value}}`` for solvers among ``names`` (a flat
    ``{option: value}``, one solver's form, is refused with what to write instead)."""
    if solver_options is None:
        return
    if not isinstance(solver_options, dict):
        raise ValueError(f"solver_options={solver_options!r} is not valid; expected {{solver name: {{option: value}}}}")
    for key, value in solver_options.items():
        if key not in names or not isinstance(value, dict):
            raise ValueError(
                f"solver options {json.dumps({key: value})} are not valid here: a board takes options by solver "
                f'name, e.g. {{"sa": {{"K": 100}}}}, for solvers among {sorted(set(names))}'
            )


def solve_settings(objective: str = "le-mo") -> ExplainSettings:
    """The base ``ExplainSettings`` of solves on stored tables; what applies: ``objective``, and per solve
    ``solver``, ``solver_options``, ``budget`` and ``seed`` (``settings.replace``). The rest (features,
    reference, output, batch size, device, precision) is fixed by the table and does not apply."""
    return ExplainSettings(objective=objective)


def run_on_instance(instance: Instance, settings: ExplainSettings) -> dict:
    """One solve on a fresh table oracle with ``settings`` (what applies: ``solve_settings``); returns the
    row of the leaderboard (exact gap)."""
    objective = settings.objective
    problem = instance.problem(objective)
    res = settings.solver_object().solve(problem, budget=settings.budget, seed=settings.seed, curves=False)
    score = instance.score(res.trajectory, objective)
    return {
        "instance": instance.name,
        "t": instance.t,
        "seed": settings.seed,
        "score": score,
        "optimum": instance.optimum(objective),
        "normalised_gap": instance.normalised_gap(score, objective),
        "optimal": is_optimal(score, instance.optimum(objective)),
        "forward_passes": res.forward_passes,
        "iterations": res.iterations,
        "stopped": res.stopped,
        "seconds": res.seconds,
    }


def leaderboard(
    instances: list[Instance],
    solvers,
    budgets,
    seeds=(0,),
    objective: str = "le-mo",
    progress=None,
    keep=None,
    solver_options: dict | None = None,
) -> dict:
    """Run every solver spec on every instance for each budget (forward passes) and seed.

    The study's grid (solvers, budgets, seeds) sits beside the settings: each solve runs with
    ``solve_settings(objective).replace(solver=..., solver_options=..., budget=..., seed=...)``. Solver specs
    as ``parse_solver_spec`` takes them; ``solver_options``: options by solver name, e.g. ``{"sa": {"K": 100}}``.
    Every instance is searched with each seed itself (the project's batch rule: a result depends only on
    the table and the settings).

    Returns ``{"runs": [...one row per run...], "summary": [...one row per (solver, budget)...]}``;
    a summary row has the mean and standard error of the normalised gap, the mean forward passes,
    the fraction of runs that reached the optimum, and the number of runs.

    ``keep``: a folder where each finished solve is kept as it finishes (a ``trace_opt.core.io.RecordStore``);
    a solve found there (same instance table, solver spec, budget, seed and objective) is not run again, so a
    board stopped by Ctrl-C resumes where it stopped (its rows are those of an uninterrupted board, run times
    aside).
    """
    check_choice("objective", objective, OBJECTIVES)
    if not instances:
        raise ValueError("instances is empty; give at least one instance")
    specs = [parse_solver_spec(s, solver_options) for s in solvers]
    if not specs:
        raise ValueError("solvers is empty; give at least one solver spec")
    check_options_by_solver(solver_options, [name for _, name, _ in specs])
    budgets = [check_positive_int("budgets", b) for b in budgets]
    seeds = [check_positive_int("seeds", s, minimum=0) for s in seeds]
    base = solve_settings(objective)
    grid = [(label, base.replace(solver=get_solver(name, **params))) for label, name, params in specs]  # checked
    runs, summary = [], []
    store = RecordStore(keep, {"kind": "leaderboard solve", "objective": objective})
    tables = {id(i): arrays_digest(np.asarray(i.values, dtype=np.float64)) if keep else "" for i in instances}
    with stop_on_interrupt():  # Ctrl-C stops the board: no cut-short run is averaged into it, finished ones are kept
        for (label, settings), spec in zip(grid, specs):
            for budget in budgets:
                rows = []
                for inst in instances:
                    for seed in seeds:
                        one = settings.replace(budget=budget, seed=seed)
                        rows.append(_board_solve(store, inst, tables[id(inst)], one, spec))
                        if progress:
                            progress(rows[-1])
                summary.append(_summary_row(label, budget, rows))
                runs.extend(rows)
    return {
        "objective": objective,
        "instances": [i.name for i in instances],
        "budgets": budgets,
        "seeds": seeds,
        "solvers": [{"label": label, "name": name, "params": params} for label, name, params in specs],
        "library_info": library_info(instances),
        "runs": runs,
        "summary": summary,
    }


def leaderboard_size(instances, solvers, budgets, seeds) -> int:
    """The number of solves ``leaderboard`` runs (for a progress bar)."""
    return len(instances) * len(solvers) * len(budgets) * len(seeds)


def _board_solve(store: RecordStore, inst: Instance, table: str, settings: ExplainSettings, spec: tuple) -> dict:
    """One solve of a board, from ``store`` when it holds it (same table, whose digest is ``table``, spec,
    budget, seed), else run and stored there."""
    label, name, params = spec
    key = json.dumps(
        [inst.name, label, name, json_values(params), settings.budget, settings.seed, settings.objective],
        sort_keys=True,
    )
    record_name = f"{inst.name}.{hashlib.sha256(key.encode()).hexdigest()[:16]}"
    item_key = f"{table}:{key}"
    kept = store.get(record_name, item_key)
    if kept is not None:
        return kept["row"]
    row = run_on_instance(inst, settings)
    row.update(solver=label, budget=settings.budget)
    store.put(record_name, item_key, {"row": row})
    return row


def _summary_row(label: str, budget: int, rows: list) -> dict:
    """A board's row for one (solver, budget): the mean and standard error of the normalised gap, the mean
    forward passes, the share of runs that reached the optimum, the number of runs."""
    gaps = np.array([r["normalised_gap"] for r in rows])
    return {
        "solver": label,
        "budget": budget,
        "mean_gap": float(gaps.mean()),
        "sem_gap": standard_error(gaps, single=0.0),
        "mean_forward_passes": float(np.mean([r["forward_passes"] for r in rows])),
        "optimal_fraction": float(np.mean([r["optimal"] for r in rows])),
        "runs": len(rows),
    }


def library_info(instances: list[Instance]) -> dict:
    """What a leaderboard ran on: sizes, models (with fingerprints), references, outputs, table statistics."""
    from collections import Counter

    def distinct(values):
        return sorted({json.dumps(v, sort_keys=True) for v in values})

    metas = [i.metadata for i in instances]
    models = [{"model": m.get("model"), "fingerprint": m.get("model_fingerprint")} for m in metas]
    tables = [m.get("table") or table_stats(i.values) for m, i in zip(metas, instances)]
    return {
        "n_instances": len(instances),
        "t": {str(k): v for k, v in sorted(Counter(i.t for i in instances).items())},
        "models": [json.loads(s) for s in distinct(models)],
        "references": [json.loads(s) for s in distinct(m.get("reference") for m in metas)],
        "outputs": [json.loads(s) for s in distinct(m.get("output") for m in metas)],
        "distinct_values": [int(tb["distinct_values"]) for tb in tables],
        "effective_t": [int(tb["effective_t"]) for tb in tables],
    }


def leaderboard_header(board: dict) -> str:
    """Markdown lines naming what produced a leaderboard: command, library, models, objective, budgets, seeds."""
    title = board.get("library") or f"{len(board['instances'])} instances"
    lines = [f"# Leaderboard: {title}", ""]
    if board.get("command"):
        lines.append(f"- command: `{board['command']}`")
    info = board.get("library_info") or {}
    if board.get("library"):
        lines.append(f"- library: `{board['library']}`")
    if info:
        sizes = ", ".join(f"t={t} x{n}" for t, n in info["t"].items())
        lines.append(
            f"- instances: {info['n_instances']} ({sizes}); reference: "
            f"{', '.join(map(str, info['references']))}; output: {', '.join(map(str, info['outputs']))}"
        )
        for m in info["models"]:
            lines.append(f"- model: {m['model'] or 'unknown'}, fingerprint {m['fingerprint'] or 'unknown'}")
        dv, et = info["distinct_values"], info["effective_t"]
        lines.append(
            f"- distinct table values per instance: {min(dv):,} to {max(dv):,}; effective t (features "
            f"whose deletion matters): {min(et)} to {max(et)}"
        )
    lines.append(
        f"- objective: {board['objective']}; budgets (forward passes): "
        f"{', '.join(map(str, board['budgets']))}; seeds: {', '.join(map(str, board['seeds']))}"
    )
    if board.get("solvers"):
        lines.append(
            "- solvers (name, then options as JSON): " + ", ".join(f"`{s['label']}`" for s in board["solvers"])
        )
    lines.append(
        "- metric: normalised gap (optimum - score) / (optimum - random mean), exact from the table: "
        "0 = optimal, 1 = a random order's mean; 'optimal' = share of runs that reached the optimum"
    )
    return "\n".join(lines) + "\n"


def leaderboard_table(board: dict) -> str:
    """The summary as Markdown: a header (``leaderboard_header``) then one table row per (solver, budget)."""
    lines = [
        leaderboard_header(board),
        "| solver | budget | mean normalised gap | s.e. | mean forward passes | optimal | runs |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in board["summary"]:
        lines.append(
            f"| {r['solver']} | {r['budget']} | {r['mean_gap']:.4f} | {r['sem_gap']:.4f} | "
            f"{r['mean_forward_passes']:.0f} | {100 * r['optimal_fraction']:.0f}% | {r['runs']} |"
        )
    return "\n".join(lines) + "\n"


def plot_leaderboard(board: dict, path) -> Path:
    """Mean normalised gap vs budget (log x), one line per solver, error bars = standard error."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for label in dict.fromkeys(r["solver"] for r in board["summary"]):
        rows = [r for r in board["summary"] if r["solver"] == label]
        ax.errorbar(
            [r["budget"] for r in rows],
            [r["mean_gap"] for r in rows],
            yerr=[r["sem_gap"] for r in rows],
            marker="o",
            capsize=3,
            label=label,
        )
    ax.set_xscale("log")
    ax.set_xlabel("budget (forward passes)")
    ax.set_ylabel("mean normalised gap (0 = optimal, 1 = random)")
    ax.set_title(f"{len(board['instances'])} instances, objective {board['objective']}, seeds {board['seeds']}")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    out = atomic_savefig(fig, path, dpi=120)
    plt.close(fig)
    return out


def check_stem(stem, name: str = "stem") -> str:
    """A file name stem: a plain name (letters, digits, '.', '_', '-'), so outputs stay in their folder."""
    if not isinstance(stem, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", stem) or ".." in stem:
        raise ValueError(
            f"{name} {stem!r} is not valid; expected a plain file name stem (letters, digits, '.', "
            "'_', '-'; no folders), e.g. 'leaderboard'"
        )
    return stem


def write_leaderboard(board: dict, out_dir, stem: str = "leaderboard") -> dict:
    """Write ``<stem>.json`` (all runs), ``<stem>.md`` (summary table) and ``<stem>.png`` (gap vs budget)."""
    check_stem(stem)
    out = Path(out_dir)
    paths = {
        "json": atomic_write_json(out / f"{stem}.json", board),
        "md": atomic_write_bytes(out / f"{stem}.md", leaderboard_table(board).encode()),
        "png": plot_leaderboard(board, out / f"{stem}.png"),
    }
    return paths
