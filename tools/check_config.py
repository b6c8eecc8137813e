"""Check run config files as the workflow reads them, naming the file at fault for any problem.

Snakemake reads ``--configfile`` files itself, before the workflow starts: for a file that is not
YAML it does not say which one, and a binary file ends in a bare UnicodeDecodeError. This reads
the same files the same way (later ones override earlier ones, then the schema's defaults) and
prints the effective config, or the file and what is wrong with it:

    python tools/check_config.py configs/voc12.yaml configs/voc12_strong.yaml
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import yaml

from wsss.config import effective_config
from wsss.errors import ConfigError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("configs", nargs="+", help="config files, in --configfile order")
    args = parser.parse_args(argv)
    try:
        config = effective_config(args.configs)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(yaml.safe_dump(config, sort_keys=True, default_flow_style=False), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
