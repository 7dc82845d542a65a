"""``python -m augment.cli`` (and ``accelerate launch -m augment.cli``): the ``defect-synth`` command."""

import sys

from augment.cli import main

sys.exit(main())
