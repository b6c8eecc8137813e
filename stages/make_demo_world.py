"""Stage: write the synthetic demo world (VOC layout)."""

import logging
import time

import yaml

from wsss.config import stage_settings
from wsss.demo.scenes import WorldSettings
from wsss.demo.writer import manifest_dict, write_demo_world
from wsss.io import atomic_directory, write_json, write_text
from wsss.stage import run_stage

log = logging.getLogger("make_demo_world")


def make_demo_world(
    root: str,
    world: dict,
    threads: int = 1,
    **demo_world: object,
) -> None:
    """Generate the demo dataset into ``root`` (replaced atomically).

    ``world`` holds the drawing settings (the demo_world config keys of :class:`WorldSettings`);
    ``demo_world``: the section's other keys (seed, split_sizes), defined (with their defaults) by
    the schema alone.
    """
    section = stage_settings("demo_world", demo_world)
    seed, split_sizes = section.seed, section.split_sizes
    settings = WorldSettings.from_config(world)
    start = time.perf_counter()
    with atomic_directory(root) as tmp_root:
        stats = write_demo_world(tmp_root, seed, split_sizes, settings, workers=threads)
        write_json(tmp_root / "world.json", stats)
        write_text(tmp_root / "manifest.yaml", yaml.safe_dump(manifest_dict(), sort_keys=False))
    seconds = time.perf_counter() - start
    total = sum(split_sizes.values())
    log.info("wrote %d images to %s in %.1f s (%.0f images/s)", total, root, seconds, total / seconds)


if __name__ == "__main__":
    run_stage(make_demo_world, globals().get("snakemake"))
