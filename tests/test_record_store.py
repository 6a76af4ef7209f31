"""core.io.RecordStore: the one resumable per-item store of the batch commands."""

import json

import numpy as np

from trace_opt.core.io import RecordStore, settings_key


def test_record_is_reused_only_under_same_settings_and_item(tmp_path):
    store = RecordStore(tmp_path, {"solver": "greedy", "budget": 100})
    assert store.get("input_0000", "a") is None
    stored = store.put("input_0000", "a", {"value": 1.5, "order": np.arange(3)})
    assert stored["settings_key"] == store.settings_key and stored["item_key"] == "a"
    again = RecordStore(tmp_path, {"budget": 100, "solver": "greedy"})  # key order does not matter
    assert again.get("input_0000", "a")["value"] == 1.5
    assert again.get("input_0000", "a")["order"] == [0, 1, 2]
    assert again.get("input_0000", "b") is None  # another input under that name
    assert RecordStore(tmp_path, {"solver": "greedy", "budget": 200}).get("input_0000", "a") is None


def test_unreadable_or_foreign_files_are_misses(tmp_path):
    store = RecordStore(tmp_path, {"x": 1})
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "list.json").write_text(json.dumps([1, 2]))
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00")
    assert store.get("bad", "k") is None and store.get("list", "k") is None and store.get("binary", "k") is None


def test_store_without_folder_keeps_nothing():
    store = RecordStore(None, {"x": 1})
    assert store.put("a", "k", {"v": 1})["v"] == 1
    assert store.get("a", "k") is None and store.path("a") is None


def test_settings_key_changes_with_any_value():
    assert settings_key({"a": 1, "b": [1, 2]}) != settings_key({"a": 1, "b": [1, 3]})
    assert settings_key({"a": 1, "b": (1, 2)}) == settings_key({"b": [1, 2], "a": 1})
