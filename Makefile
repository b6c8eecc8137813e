# Two commands a user needs: `make demo` (the whole pipeline on the demo world) and `make test`.
# Both first create or update the virtual environment (.venv); it is reused while
# requirements.txt, pyproject.toml and tools/setup_env.sh are unchanged.

VENV ?= .venv
CORES ?= all
STAMP := $(VENV)/.setup-complete
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: setup demo demo-folder test lint dry-run rehearse clean-results

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml tools/setup_env.sh
	tools/setup_env.sh $(VENV)
	touch $@

demo: $(STAMP)
	snakemake --cores $(CORES)

# Folder mode on the demo's training photos (configs/demo_folder.yaml), scored against the masks it never
# read beside the annotated demo run: the price of having no annotation (docs/results.md).
DEMO_PHOTOS := data/demo_photos
demo-folder: demo
	if [ ! -d $(DEMO_PHOTOS) ]; then rm -rf $(DEMO_PHOTOS).tmp && mkdir -p $(DEMO_PHOTOS).tmp && \
	  while read -r id; do ln data/demo_world/JPEGImages/$$id.jpg $(DEMO_PHOTOS).tmp/ || exit 1; done \
	    < data/demo_world/ImageSets/Segmentation/train.txt && mv $(DEMO_PHOTOS).tmp $(DEMO_PHOTOS); fi
	snakemake --cores $(CORES) --configfile configs/demo.yaml configs/demo_folder.yaml
	python tools/score_against_truth.py --truth data/demo_world --manifest data_manifest/demo.yaml \
	  --split train --eval-split val results/demo_folder results/demo \
	  --html results/demo_folder/report/against_truth.html

dry-run: $(STAMP)
	snakemake -n

test: $(STAMP)
	python -m pytest

# The real VOC, COCO and folder-mode configs end to end at real image and model sizes, on a few generated
# images and random-init weights in the real formats (configs/rehearse_*.yaml, docs/rehearsal.md).
REHEARSAL_WEIGHTS := weights/rehearsal
rehearse: $(STAMP)
	python tools/make_rehearsal.py --data data/rehearsal --weights $(REHEARSAL_WEIGHTS)
	for depth in resnet50 resnet101; do \
	  python tools/convert_imagenet_weights.py $(REHEARSAL_WEIGHTS)/torchvision/$$depth.pth \
	    $(REHEARSAL_WEIGHTS)/$$depth-imagenet.pth --depth $$depth; done
	snakemake --cores $(CORES) --configfile configs/voc12.yaml configs/rehearse_voc12.yaml
	snakemake --cores $(CORES) --configfile configs/coco14.yaml configs/rehearse_coco14.yaml
	for run in voc12 coco14; do \
	  snakemake --cores $(CORES) --configfile configs/$$run.yaml configs/$${run}_clip_es.yaml \
	    configs/rehearse_$$run.yaml --config run_name=rehearse_$${run}_clip_es || exit 1; done
	snakemake --cores $(CORES) --configfile configs/folder.yaml configs/rehearse_folder.yaml
	python tools/rehearsal_table.py results/rehearse_voc12 results/rehearse_coco14 \
	  results/rehearse_voc12_clip_es results/rehearse_coco14_clip_es

# Style and workflow checks: ruff (lint + import order), snakefmt, Snakemake's own linter.
lint: $(STAMP)
	ruff check .
	ruff format --check .
	snakefmt --check Snakefile rules/
	snakemake --lint --cores 1 -n

clean-results:
	rm -rf results/demo results/demo_folder data/demo_world data/demo_photos
