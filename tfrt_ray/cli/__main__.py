"""``python -m tfrt_ray.cli``: the same as the ``tfrt-ray`` command."""

from tfrt_ray.cli import main

raise SystemExit(main())
