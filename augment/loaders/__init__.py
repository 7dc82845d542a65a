"""Floor 5, loaders: synthetic defects delivered to training code.

One source layer (`sources.open_source`: a bank, a saved synthesizer or a dataset's shots to
copy-paste, `copy_paste` the one place pasted pairs are made), the seeds every loader draws from,
the albumentations transform, the torch datasets, offline export, sharded generation and the
copy-paste bank builder. Imports from floors 0 to 4.
"""
