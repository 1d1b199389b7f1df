"""Config and study files a user writes: aliases that multiply ("billion laughs") and
self-referencing aliases are refused before anything is built, duplicate keys are refused
with both lines named, and a study name cannot lead outside studies/."""
import resource
import subprocess
import sys
import time

import pytest
import yaml

from faultkit import assert_one_line_error, env, invoke

from gannorm import config
from gannorm.errors import GannormError
from gannorm.utils.safe_yaml import MAX_NODES, expanded_size, safe_load


def _laughs(levels=9, width=9):
    lines = ['a0: &a0 "lol"']
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def test_billion_laughs_is_refused_quickly_in_bounded_memory(tmp_path):
    """In a child limited to 1 GB of address space and 20 s; without the bound it grows past
    the limit (MemoryError) or the time."""
    f = tmp_path / "laughs.yaml"
    f.write_text(_laughs())
    code = f"from gannorm import config; config.load({str(f)!r})"
    limit = lambda: resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))  # noqa: E731
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=20, env=env(),
                       preexec_fn=limit)
    assert time.monotonic() - t0 < 20
    assert "GannormError" in p.stderr and "expands to more than" in p.stderr and str(f) in p.stderr, p.stderr[-500:]


def test_expanded_size_counts_every_alias_as_a_copy():
    """Reference: the size of the fully built object, counted by walking it (small cases)."""
    def walk(o):
        if isinstance(o, list):
            return 1 + sum(walk(x) for x in o)
        if isinstance(o, dict):
            return 1 + sum(walk(k) + walk(v) for k, v in o.items())
        return 1
    for levels, width in [(1, 1), (2, 3), (3, 4), (4, 5)]:
        text = _laughs(levels, width)
        assert expanded_size(yaml.compose(text)) == walk(yaml.safe_load(text))
    node = yaml.compose(_laughs(9, 9))
    assert expanded_size(node) == MAX_NODES + 1  # stops counting past the limit


def test_ordinary_anchors_and_merges_still_work():
    text = "d: &d {seed: 3, iterations: 5}\ntrain:\n  <<: *d\n  seed: 4\nlist: [*d, *d]\n"
    assert safe_load(text) == {"d": {"seed": 3, "iterations": 5}, "train": {"seed": 4, "iterations": 5},
                               "list": [{"seed": 3, "iterations": 5}] * 2}


@pytest.mark.parametrize("text,needle", [
    ("train:\n  seed: 1\n  seed: 2\n", "duplicate key 'seed' (line 2 and line 3)"),
    ("train: {seed: 1}\ntrain: {seed: 2}\n", "duplicate key 'train' (line 1 and line 2)"),
    ("a: &x [1, *x]\n", "refers to a node that contains it"),
])
def test_config_file_errors_are_one_line_naming_file_and_line(tmp_path, text, needle):
    f = tmp_path / "c.yaml"
    f.write_text(text)
    code, _, err = invoke("train", f, "train.iterations=1", "--run-dir", tmp_path / "run")
    assert_one_line_error(code, err, str(f), needle)
    assert not (tmp_path / "run").exists()


def test_duplicate_key_in_an_override_and_in_a_study_file(tmp_path):
    with pytest.raises(GannormError, match="duplicate key 'a'"):
        config.load(None, ["model.g_norm_args={a: 1, a: 2}"])
    sf = tmp_path / "s.yaml"
    sf.write_text("name: s\naxes: {train.seed: [0]}\naxes: {train.seed: [1]}\n")
    code, _, err = invoke("study", sf, "--dry-run")
    assert_one_line_error(code, err, str(sf), "duplicate key 'axes'")


@pytest.mark.parametrize("name", ["../../ESCAPED", "/tmp/ABSOLUTE", "..", "a/b", "a\\b", " padded"])
def test_a_study_name_is_a_name_not_a_path(tmp_path, monkeypatch, name):
    work = tmp_path / "w" / "x"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    sf = work / "s.yaml"
    sf.write_text(yaml.safe_dump({"name": name, "axes": {"train.seed": [0]},
                                  "base": {"train": {"iterations": 1}}}))
    code, _, err = invoke("study", sf)
    assert_one_line_error(code, err, "is not a plain name", "--out")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["s.yaml", "w", "x"]  # nothing written anywhere
