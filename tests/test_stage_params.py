"""The SR stage's numbers are range-checked where its typed params are built (issue 20 item 10): a negative
``tile`` or ``tile_overlap``, ``batch_frames: 0`` or ``max_tiles_per_call: 0`` in a pipeline YAML was accepted
and failed deep in a run (or never ended); now the YAML is refused as it loads, in one line, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from vidsr.errors import EXIT_USAGE, ConfigError
from vidsr.pipeline_files import load_pipeline


@pytest.mark.parametrize(("params", "words"), [
    ("{tile: -8}", "stages[0].params.tile: -8 is out of range (it must be at least 0)"),
    ("{tile_overlap: -1}", "params.tile_overlap: -1 is out of range"),
    ("{batch_frames: 0}", "params.batch_frames: 0 is out of range (it must be at least 1)"),
    ("{max_tiles_per_call: 0}", "params.max_tiles_per_call: 0 is out of range"),
    ("{batch_megapixels: .nan}", "params.batch_megapixels: nan is out of range"),
    ("{tile_above_megapixels: -1.0}", "params.tile_above_megapixels: -1.0 is out of range"),
    ("{scale: 0}", "params.scale: 0 is out of range (it must be 1 to 8)"),
])
def test_sr_numbers_out_of_range_are_refused_as_the_yaml_loads(tmp_path: Path, params: str, words: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(f"name: p\nstages: [{{name: sr, type: sr, params: {params}}}]\n")
    with pytest.raises(ConfigError) as err:
        load_pipeline(str(path))
    assert words in str(err.value) and err.value.exit_code == EXIT_USAGE


def test_in_range_values_and_the_shipped_pipelines_load(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("name: p\nstages: [{name: sr, type: sr, params: {tile: 0, tile_overlap: 0, batch_frames: 1, "
                    "tile_above_megapixels: 0.5}}]\n")
    load_pipeline(str(path))
    for name in ("default", "fast"):
        load_pipeline(name)


def test_the_command_line_says_it_in_one_line(cli, clip, tmp_path: Path) -> None:
    src = clip("in.mp4", frames=3)
    path = tmp_path / "p.yaml"
    path.write_text("name: p\nstages: [{name: sr, type: sr, params: {tile: -8}}]\n")
    res = cli("run", src, tmp_path / "o.mp4", "--pipeline", path)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.code == EXIT_USAGE and len(lines) == 1 and "tile: -8 is out of range" in lines[0], res.stderr
    assert not (tmp_path / "o.mp4").exists()
