"""Floor 4, the synthesizer: `DefectSynthesizer` with its fit loop, generation loops and save/load.

Imports from `augment.models`, `augment.masks`, `augment.data` and floor 0; nothing here knows
the loaders, the evaluation, the benchmark or the command line.
"""
