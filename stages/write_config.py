"""Stage: record the run's effective config (its files plus the schema's defaults) beside its results."""

from wsss.config import validate_config, write_config
from wsss.stage import run_stage


def write_run_config(config: dict, output: str) -> None:
    """Validate ``config`` again (it must be complete and valid on its own) and write it to ``output``."""
    write_config(output, validate_config(config, "effective run config"))


if __name__ == "__main__":
    run_stage(write_run_config, globals().get("snakemake"))
