"""Configuration: precedence file < environment < flags, and errors that name the key."""

import dataclasses
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


def test_each_default_is_declared_once_in_the_config():
    import inspect

    from modeltrace_collector.analysis.drift import DriftSettings
    from modeltrace_collector.analysis.latency import LatencySettings
    from modeltrace_collector.analysis.rca import RcaSettings
    from modeltrace_collector.config import AnomalyConfig, DriftConfig, ForwardSettings, SpoolSettings, WriterSettings
    from modeltrace_collector.pipeline.forward import Forwarder
    from modeltrace_collector.pipeline.spool import Spool
    from modeltrace_collector.pipeline.writer import Writer

    # the analyses' settings, built from the config's defaults, are their own defaults
    assert DriftSettings.of(DriftConfig()) == DriftSettings()
    assert LatencySettings.of(AnomalyConfig()) == LatencySettings()
    assert RcaSettings().baseline_seconds == AnomalyConfig().rca_baseline_seconds

    def defaults(function):
        return {k: p.default for k, p in inspect.signature(function).parameters.items()}

    writer, spool, forward = defaults(Writer), defaults(Spool), defaults(Forwarder)
    assert (writer["batch_spans"], writer["max_delay"]) == (
        WriterSettings().batch_spans, WriterSettings().max_delay_seconds,
    )  # fmt: skip
    assert (spool["max_bytes"], spool["segment_bytes"], spool["fsync"]) == (
        SpoolSettings().max_bytes, SpoolSettings().segment_bytes, SpoolSettings().fsync,
    )  # fmt: skip
    assert (forward["max_queue_bytes"], forward["timeout"]) == (
        ForwardSettings().max_queue_bytes, ForwardSettings().timeout_seconds,
    )  # fmt: skip


def test_sections_are_typed_and_hold_the_loaded_values():
    config = load(None, environ={"MODELTRACE_WRITER_BATCH_SPANS": "123"}, overrides={"api.listen": "127.0.0.1:9999"})
    assert config.writer.batch_spans == 123 and isinstance(config.writer.batch_spans, int)
    assert config.api.listen == "127.0.0.1:9999"
    assert config.drift.thresholds == {} and config.general.log_level == "info"
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.writer.batch_spans = 1  # type: ignore[misc]
    # the mapping view stays, for code that walks the settings (check-config)
    assert config["writer"]["batch_spans"] == 123


def test_the_cli_and_sdk_variables_are_not_settings():
    """A shell that exports MODELTRACE_TOKEN or MODELTRACE_API_URL for the CLI still starts a
    collector: those are the clients' variables, not misspelt settings."""
    from modeltrace_collector.config import CLIENT_VARIABLES, load

    environ = dict.fromkeys(CLIENT_VARIABLES, "x")
    assert load(None, environ=environ).values == load(None, environ={}).values
    with pytest.raises(ConfigError, match="unknown setting 'tokn'"):
        load(None, environ={"MODELTRACE_TOKN": "x"})
