"""Run loggers: the CSV file is on disk while training runs, not only at its end."""

from omegaconf import OmegaConf

from liir.loggers import build_loggers


def test_csv_metrics_are_on_disk_after_each_log(tmp_path) -> None:
    cfg = OmegaConf.create({"logger": {}, "env": {"name": "pursuit1d"}, "algo": {"name": "iac"}, "seed": 1})
    (csv,) = build_loggers(cfg, tmp_path, overrides=[], run_id="r", tags=[])
    csv.log_metrics({"return_mean": 0.5, "env_steps": 10000.0}, step=10000)
    lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert lines[0].split(",") == ["env_steps", "return_mean", "step"] and lines[1] == "10000.0,0.5,10000"
