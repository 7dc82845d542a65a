"""Floor 2, masks: where a defect goes and what a generated one changed.

Foreground estimation, mask geometry, the real-mask bank and procedural shapes, the mask sampler of
the inpainting path, copy-paste primitives, the changed-region definition, mask statistics and the
quality filter. Imports from `augment.data` and floor 0 only.
"""
