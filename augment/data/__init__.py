"""Floor 1, the data layer: reading images and masks, dataset indexes, few-shot splits, the pair
format and its banks, torch datasets over index rows, the demo dataset, resizing and contact sheets.

Imports only `augment.errors` and `augment.files` from the project.
"""
