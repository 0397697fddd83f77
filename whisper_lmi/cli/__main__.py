"""``python -m whisper_lmi.cli``: the same as the ``whisper-lmi`` command."""

import sys

from whisper_lmi.cli.main import main

sys.exit(main())
