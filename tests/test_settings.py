"""Typed settings: the README's table is the generated one, every source is typed and checked, a misspelt
``HER2CDS_*`` variable or file key stops start-up naming it, and ``her2-cds check-config`` validates a file
and its clients' keys without starting the service."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from service.cli import main
from service.config import ConfigError, Settings, load_settings
from service.settings_reference import END, START, settings_table, with_table
from tests.conftest import ROOT
from tests.stub_server import stub_server
from tests.tokens import ISSUER, jwks, signing_key


@pytest.fixture(autouse=True)
def no_her2cds_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in [name for name in os.environ if name.startswith("HER2CDS_")]:
        monkeypatch.delenv(name)


def test_the_readme_table_is_the_generated_one() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert START in readme and END in readme
    assert with_table(readme) == readme, "README settings table is stale: run `python -m service.settings_reference README.md`"


def test_the_table_lists_every_setting_with_its_variable_and_meaning() -> None:
    table = settings_table()
    for name, field in Settings.model_fields.items():
        assert f"| `{name}` | `HER2CDS_{name.upper()}` |" in table
        assert field.description, f"setting {name} has no help text"


def test_environment_values_are_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HER2CDS_TIME_BUDGET_SECONDS", "1.5")
    monkeypatch.setenv("HER2CDS_SANDBOX", "off")
    monkeypatch.setenv("HER2CDS_CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("HER2CDS_LOG_LEVEL", "debug")
    monkeypatch.setenv("HER2CDS_DISCOVERY_IDS", "per-hook")
    settings = load_settings()
    assert settings.time_budget_seconds == 1.5 and settings.sandbox is False
    assert settings.cors_origins == ("https://a.example", "https://b.example")
    assert settings.log_level == "DEBUG" and settings.discovery_ids == "per-hook"


def test_precedence_is_file_then_environment_then_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "her2cds.yaml"
    config.write_text("time_budget_seconds: 3\nmax_fhir_pages: 7\nlog_level: WARNING\n", encoding="utf-8")
    monkeypatch.setenv("HER2CDS_CONFIG", str(config))
    monkeypatch.setenv("HER2CDS_TIME_BUDGET_SECONDS", "2.5")
    monkeypatch.setenv("HER2CDS_MAX_FHIR_PAGES", "9")
    settings = load_settings({"max_fhir_pages": 11})
    assert (settings.time_budget_seconds, settings.max_fhir_pages, settings.log_level) == (2.5, 11, "WARNING")


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("HER2CDS_TIME_BUDGET", "3", "HER2CDS_TIME_BUDGET"),  # misspelt: used to be ignored silently
        ("HER2CDS_PUBLIC_BASE_URI", "https://cds.example.org", "HER2CDS_PUBLIC_BASE_URI"),
        ("HER2CDS_TIME_BUDGET_SECONDS", "soon", "time_budget_seconds"),
        ("HER2CDS_TIME_BUDGET_SECONDS", "0", "time_budget_seconds"),
        ("HER2CDS_SANDBOX", "perhaps", "sandbox"),
        ("HER2CDS_DISCOVERY_IDS", "by-hook", "discovery_ids"),
        ("HER2CDS_PUBLIC_BASE_URL", "cds.example.org", "public_base_url"),
        ("HER2CDS_CLIENTS", "[{", "clients"),
    ],
)
def test_a_bad_or_unknown_variable_stops_start_up_naming_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, value: str, named: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=named):
        load_settings({"database_url": f"sqlite:///{tmp_path}/f.sqlite3"})


def test_the_tools_variables_are_not_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HER2CDS_CHROMIUM", "/usr/bin/chromium")
    monkeypatch.setenv("HER2CDS_HAPI_JDBC_URL", "jdbc:h2:mem:x")
    assert load_settings().development_mode


def test_an_unknown_key_in_the_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "her2cds.yaml"
    config.write_text("time_budget_secs: 3\n", encoding="utf-8")
    monkeypatch.setenv("HER2CDS_CONFIG", str(config))
    with pytest.raises(ConfigError, match="unknown setting.*time_budget_secs"):
        load_settings()


def test_a_missing_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HER2CDS_CONFIG", str(tmp_path / "absent.yaml"))
    with pytest.raises(ConfigError, match="absent.yaml: cannot be read"):
        load_settings()


def test_clients_from_the_environment_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HER2CDS_CLIENTS", '[{"issuer": "https://ehr.example.org", "jwks_url": "https://ehr.example.org/jwks"}]')
    monkeypatch.setenv("HER2CDS_PUBLIC_BASE_URL", "https://cds.example.org")
    settings = load_settings()
    assert not settings.development_mode and settings.clients[0].issuer == "https://ehr.example.org"


def write_config(path: Path, **document: object) -> Path:
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def test_check_config_accepts_the_example_configuration_offline(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(ROOT / "config.example.yaml"), "--offline"]) == 0
    report = capsys.readouterr().out
    assert "valid; production mode" in report
    assert "clients[1] https://ehr.internal.example: 1 key(s): EC ehr-internal-2026" in report
    assert "not fetched: --offline" in report


def test_check_config_fetches_each_jwks_url(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = signing_key("ES384", kid="fetched-key")
    with stub_server() as ehr:
        ehr.routes["/jwks.json"] = jwks(key)
        config = write_config(
            tmp_path / "c.yaml",
            public_base_url="https://cds.example.org",
            clients=[{"issuer": ISSUER, "jwks_url": f"{ehr.base}/jwks.json"}],
        )
        assert main(["check-config", str(config)]) == 0
        assert ehr.hits["/jwks.json"] == 1
    assert "EC fetched-key" in capsys.readouterr().out


def test_check_config_names_a_jwks_url_without_usable_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with stub_server() as ehr:
        ehr.routes["/jwks.json"] = {"keys": [{"kty": "nonsense"}]}
        config = write_config(
            tmp_path / "c.yaml",
            public_base_url="https://cds.example.org",
            clients=[{"issuer": ISSUER, "jwks_url": f"{ehr.base}/jwks.json"}],
        )
        assert main(["check-config", str(config)]) == 2
    assert "clients[0].jwks_url" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("document", "named"),
    [
        ({"clients": [{"issuer": ISSUER, "jwks_url": "https://x/jwks"}]}, "public_base_url"),
        ({"max_body_bytes": "lots"}, "max_body_bytes"),
        ({"colour": "blue"}, "colour"),
        ({"clients": [{"issuer": ISSUER, "jwks": {"keys": [{"kty": "?"}]}}], "public_base_url": "https://c"}, "clients[0].jwks"),
        ({"mappings_dir": "/nonexistent/knowledge"}, "sources.yaml"),
    ],
)
def test_check_config_refuses_a_bad_file_naming_the_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], document: dict[str, object], named: str
) -> None:
    config = write_config(tmp_path / "c.yaml", **document)
    assert main(["check-config", str(config), "--offline"]) == 2
    assert named in capsys.readouterr().err


def test_check_config_as_a_command_starts_no_server(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.yaml", time_budget_seconds=1.5)
    binary = Path(sys.executable).parent / "her2-cds"
    checked = subprocess.run([str(binary), "check-config", str(config)], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert "valid; development" in checked.stdout
    assert not (tmp_path / "var").exists()  # no feedback database was created: nothing started


def test_every_command_and_option_has_help_text() -> None:
    from service.cli import build_parser

    parser = build_parser()
    commands = next(action for action in parser._actions if action.dest == "command")
    assert all(choice.help for choice in commands._get_subactions()), "a command without help"
    for name, sub in commands.choices.items():  # type: ignore[union-attr]
        for action in sub._actions:
            if action.dest != "help":
                assert action.help, f"her2-cds {name} {action.option_strings or action.dest}: no help text"


def test_mappings_dir_points_the_service_at_another_knowledge_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The knowledge shipped in the package is the default; HER2CDS_MAPPINGS_DIR still replaces it."""
    import shutil

    from service import create_app

    local = tmp_path / "knowledge"
    shutil.copytree(ROOT / "mappings", local)
    services = local / "services.yaml"
    shipped_title = "HER2-positive metastatic breast cancer: next-line options and safety"
    assert shipped_title in services.read_text(encoding="utf-8")
    services.write_text(services.read_text(encoding="utf-8").replace(shipped_title, "Local HER2 guidance"), encoding="utf-8")
    monkeypatch.setenv("HER2CDS_MAPPINGS_DIR", str(local))
    app = create_app({"database_url": f"sqlite:///{tmp_path}/f.sqlite3"})
    titles = [service["title"] for service in app.test_client().get("/cds-services").json["services"]]
    assert titles[0] == "Local HER2 guidance"
    monkeypatch.delenv("HER2CDS_MAPPINGS_DIR")
    default = create_app({"database_url": f"sqlite:///{tmp_path}/g.sqlite3"})
    assert default.test_client().get("/cds-services").json["services"][0]["title"] == shipped_title
