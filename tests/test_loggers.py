"""Run loggers: the CSV file is on disk while training runs, not only at its end; W&B groups aggregate seeds."""

from omegaconf import OmegaConf

from liir.loggers import build_loggers, wandb_group


def test_csv_metrics_are_on_disk_after_each_log(tmp_path) -> None:
    cfg = OmegaConf.create({"logger": {}, "env": {"name": "pursuit1d"}, "algo": {"name": "iac"}, "seed": 1})
    (csv,) = build_loggers(cfg, tmp_path, overrides=[], run_id="r", tags=[], resume_t_env=None)
    csv.log_metrics({"return_mean": 0.5, "env_steps": 10000.0}, step=10000)
    lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert lines[0].split(",") == ["env_steps", "return_mean", "step"] and lines[1] == "10000.0,0.5,10000"


def test_seeds_share_a_wandb_group_and_other_overrides_split_it() -> None:
    cfg = OmegaConf.create({"env": {"name": "pursuit1d"}, "algo": {"name": "iac"}, "seed": 2})
    plumbing = ["algo=iac", "seed=2", "ckpt_path=x", "logger=csv", "device=cpu", "hydra.run.dir=y", "t_max=9"]
    plumbing += ["callbacks.progress_bar=null", "torch_threads=2", "save_model=false", "env.env_args.sim.compile=false"]
    assert wandb_group(cfg, plumbing) == wandb_group(cfg, ["seed=1"]) == "pursuit1d-iac"
    measured = ["seed=1", "algo.lr=0.1", "env.env_args.reward_only_positive=false", "trainer.precision=bf16-mixed"]
    expected = "pursuit1d-iac-algo.lr=0.1-env.env_args.reward_only_positive=false-trainer.precision=bf16-mixed"
    assert wandb_group(cfg, measured) == expected
