"""cluster.yaml passes Ray's own checks (what `ray up` runs: prepare_config, then validate_config against
Ray's schema), asks for a Python vidsr accepts, installs Ray through the extra, and turns token auth on."""

from __future__ import annotations

import copy

import pytest
import yaml
from conftest import REPO

util = pytest.importorskip("ray.autoscaler._private.util")


def _config() -> dict:
    return yaml.safe_load((REPO / "cluster.yaml").read_text())


def test_cluster_yaml_passes_rays_validation() -> None:
    util.validate_config(util.prepare_config(_config()))


def test_the_check_catches_a_typo() -> None:
    """The same check refuses a misspelt key, so the test above means something."""
    bad = copy.deepcopy(_config())
    bad["available_node_types"]["head"]["node_confg"] = bad["available_node_types"]["head"].pop("node_config")
    with pytest.raises(Exception, match="node_confg|node_config"):
        util.validate_config(util.prepare_config(bad))


def test_setup_needs_python_311_installs_vidsr_ray_and_uses_token_auth() -> None:
    config = _config()
    setup = "\n".join(config["setup_commands"])
    assert "sys.version_info < (3, 11)" in setup
    assert "vidsr[ray]" in setup
    assert "grep -qxF" in setup  # .bashrc gets its line once, however often `ray up` runs
    starts = config["head_start_ray_commands"] + config["worker_start_ray_commands"]
    assert sum("RAY_AUTH_MODE=token" in c for c in starts) == 2
    assert "~/.ray/auth_token" in config["file_mounts"].values()
