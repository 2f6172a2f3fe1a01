"""The commands that need no model run: help, devices, config check, inspect, demo, and
the errors every command shares (one `error:` line, no traceback, a non-zero status)."""

from __future__ import annotations

import pytest

from tests.cli.conftest import ROOT

COMMANDS = [["run"], ["compile"], ["inspect"], ["devices"], ["config"], ["config", "check"],
            ["demo"], ["cluster"], ["cluster", "status"], ["submit"], ["jobs"],
            ["jobs", "list"], ["jobs", "logs"]]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help_with_examples(main, command):
    with pytest.raises(SystemExit) as exit_info:
        main(*command, "--help")
    assert exit_info.value.code == 0


def test_top_level_help_lists_the_commands(main, capsys):
    with pytest.raises(SystemExit):
        main("--help")
    out = capsys.readouterr().out
    for name in ("run", "compile", "inspect", "devices", "config", "demo", "cluster",
                 "submit", "jobs"):
        assert f"\n    {name}" in out
    assert "examples:" in out


def test_help_of_commands_shows_examples(main, capsys):
    for command in (["run"], ["submit"], ["jobs"], ["compile"], ["inspect"], ["cluster"]):
        with pytest.raises(SystemExit):
            main(*command, "--help")
        assert "examples:\n  tfrt-ray " in capsys.readouterr().out


def test_no_command_prints_help_and_exits_2(main):
    status, out, _ = main()
    assert status == 2 and "usage: tfrt-ray" in out


def test_a_group_without_subcommand_prints_its_help(main):
    status, out, _ = main("jobs")
    assert status == 2 and "list" in out and "logs" in out


def test_usage_mistakes_exit_2(main, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main("run", "m.onnx", "--strategy", "sideways")
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_devices_lists_cpu_with_its_cores(main):
    status, out, _ = main("devices")
    assert status == 0
    line = next(line for line in out.splitlines() if line.strip().startswith("cpu"))
    assert "core" in line


def test_config_check_ok_and_error(main, tmp_path):
    status, out, _ = main("config", "check", ROOT / "cluster_configs" / "laptop.yaml")
    assert status == 0 and out.startswith("OK ")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nnodes:\n  - name: a\n    devices: [{type: cpu, cuont: 2}]\n")
    status, _, err = main("config", "check", bad)
    assert status == 1
    assert err.startswith("error: ") and "bad.yaml:4" in err and "count" in err
    status, _, err = main("config", "check", tmp_path / "missing.yaml")
    assert status == 1 and err.startswith("error: ")


def test_inspect_onnx_summarises_the_import(main, models):
    status, out, _ = main("inspect", models["dynamic"])
    assert status == 0
    assert "x: float[N, 4]" in out and "s: float[N]" in out
    assert "MatMul x1" in out  # the ONNX op counts
    assert "imported graph" in out and "matmul x1" in out  # and the tfrt-ray ones
    status, out, _ = main("inspect", models["dynamic"], "--ir")
    assert status == 0 and '"tr.matmul"' in out


def test_inspect_lists_unsupported_ops_and_fails(main, models):
    status, out, err = main("inspect", models["unsupported"])
    assert status == 1
    assert "unsupported ops (1):" in out and "example.custom::FancyNewOp" in out
    assert err.startswith("error: ") and "FancyNewOp" in err


def test_inspect_errors(main, tmp_path):
    status, _, err = main("inspect", tmp_path / "nope.onnx")
    assert status == 1 and "does not exist" in err
    (tmp_path / "notes.txt").write_text("hi")
    status, _, err = main("inspect", tmp_path / "notes.txt")
    assert status == 1 and ".onnx" in err and ".tfrt" in err
    (tmp_path / "junk.onnx").write_bytes(b"\x00\x01garbage" * 10)
    status, _, err = main("inspect", tmp_path / "junk.onnx")
    assert status == 1 and err.startswith("error: ") and "Traceback" not in err


def test_debug_shows_the_traceback(main, tmp_path):
    from tfrt_ray.errors import ModelLoadError

    with pytest.raises(ModelLoadError):
        main("--debug", "inspect", tmp_path / "nope.onnx")
    with pytest.raises(ModelLoadError):
        main("inspect", tmp_path / "nope.onnx", "--debug")


def test_subprocess_error_exit_code_and_no_traceback(cli, tmp_path):
    r = cli("run", tmp_path / "missing.onnx", "--inputs", "in.npz")
    assert r.returncode == 1
    assert r.stderr.startswith("error: model file") and "Traceback" not in r.stderr


def test_submit_needs_a_command(main):
    status, _, err = main("submit", "--address", "http://127.0.0.1:9")
    assert status == 1 and "no command" in err


def test_demo_in_process_only(cli):
    r = cli("demo", "--devices", "0", timeout=300)
    assert r.returncode == 0, r.stderr
    assert "1. Eager ops" in r.stdout and "2. A traced function" in r.stdout


def test_cluster_status_without_a_cluster_is_a_clear_error(cli, tmp_path):
    r = cli("cluster", "status", "--address", "127.0.0.1:9", timeout=60)
    assert r.returncode == 1
    assert r.stderr.startswith("error: could not join the Ray cluster at '127.0.0.1:9'")
    assert "ray start --head" in r.stderr
