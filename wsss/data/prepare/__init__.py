"""Turning the published datasets (VOC 2012 + SBD, COCO 2014) into the VOC layout the pipeline reads."""
