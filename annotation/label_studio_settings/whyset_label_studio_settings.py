"""Django settings for the Label Studio servers whyset starts: Label Studio's own, with files written
owner-only. Django chmods every stored file (uploads and Label Studio's exports) to FILE_UPLOAD_PERMISSIONS,
0644 by default, whatever the process umask; an annotator's server holds their work and tokens.

This file is not part of the whyset package: whyset puts its folder on the server's PYTHONPATH and names it in
DJANGO_SETTINGS_MODULE (Label Studio only sets a default for that variable). Label Studio's settings module
reads ``django.conf.settings`` while it is being imported, so it is run here, in this module's namespace,
rather than star-imported: a star import would leave this module empty at that moment.
"""

import importlib.util
from pathlib import Path

_ORIGIN = importlib.util.find_spec("label_studio.core.settings.label_studio").origin
exec(compile(Path(_ORIGIN).read_text(encoding="utf-8"), _ORIGIN, "exec"))  # noqa: S102

FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700
