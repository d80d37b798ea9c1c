"""Configuration: precedence file < environment < flags, and errors that name the key."""

import re
import subprocess
import sys

import pytest

from modeltrace_collector.config import ConfigError, load


def test_defaults():
    config = load(None, environ={})
    assert config["storage"]["dsn"] == "chdb://"
    assert config["receivers"]["grpc"] == "127.0.0.1:4317"
    assert config.spool_dir.endswith("modeltrace-data/spool")


def test_file_then_environment_then_flags(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text(
        'data_dir = "/srv/mt"\n[storage]\ndsn = "http://ch:8123"\nttl_days = 30\n[api]\nlisten = "0.0.0.0:9000"\n'
    )
    config = load(
        str(toml),
        environ={"MODELTRACE_STORAGE_TTL_DAYS": "7", "MODELTRACE_API_LISTEN": "0.0.0.0:9100"},
        overrides={"api.listen": "127.0.0.1:9200"},
    )
    assert config["storage"]["dsn"] == "http://ch:8123"  # file
    assert config["storage"]["ttl_days"] == 7.0  # environment beats file
    assert config["api"]["listen"] == "127.0.0.1:9200"  # flags beat both
    assert config.spool_dir == "/srv/mt/spool"


def test_yaml_is_accepted(tmp_path):
    yaml_file = tmp_path / "c.yaml"
    yaml_file.write_text("spool:\n  fsync: always\n  max_bytes: 1000000\n")
    config = load(str(yaml_file), environ={})
    assert config["spool"]["fsync"] == "always" and config["spool"]["max_bytes"] == 1000000


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[storage]\ndns = 'x'\n", "unknown setting 'storage.dns'"),
        ("[spool]\nfsync = 'sometimes'\n", "spool.fsync: must be one of always, batch, never"),
        ("[receivers]\ngrpc = 'localhost'\n", "receivers.grpc: expected host:port"),
        ("[spool]\nmax_bytes = -5\n", "spool.max_bytes: must be > 0"),
        ("[storage]\ndatabase = 'x; DROP'\n", "storage.database: must be a plain identifier"),
        ("storage = 3\n", "[storage] must be a section"),
        ("[storage\n", "is not valid TOML"),
    ],
)
def test_bad_config_names_the_key(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load(str(path), environ={})


def test_bad_environment_variable_is_named():
    with pytest.raises(ConfigError, match=re.escape("environment: unknown setting 'storage.flavour'")):
        load(None, environ={"MODELTRACE_STORAGE_FLAVOUR": "x"})


def test_check_config_command(tmp_path):
    good = tmp_path / "good.toml"
    good.write_text("[writer]\nbatch_spans = 5000\n")
    bad = tmp_path / "bad.toml"
    bad.write_text("[writer]\nbatch_size = 5000\n")
    cmd = [sys.executable, "-m", "modeltrace_collector", "collector", "check-config", "--config"]
    ok = subprocess.run([*cmd, str(good)], capture_output=True, text=True)
    assert ok.returncode == 0 and "writer.batch_spans = 5000" in ok.stdout
    failed = subprocess.run([*cmd, str(bad)], capture_output=True, text=True)
    assert failed.returncode == 2
    assert "unknown setting 'writer.batch_size'" in failed.stderr


def test_the_example_config_holds_every_setting_at_its_default():
    import os

    from modeltrace_collector.config import SCHEMA

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    example = load(os.path.join(root, "examples", "collector.toml"), environ={})
    defaults = load(None, environ={})
    assert example.values == defaults.values
    with open(os.path.join(root, "examples", "collector.toml"), encoding="utf-8") as f:
        text = f.read()
    for section, keys in SCHEMA.items():
        for key in keys:
            assert f"\n{key} = " in text, f"{section}.{key} is missing from the example"
