"""Where the tests find `../shared` (real corpora miniatures, fixtures, reference values).

`AVSS_SHARED` overrides the location. A missing `../shared` stops the whole run in
`conftest.py`: tests that need it fail, never skip.
"""

from __future__ import annotations

import os
from pathlib import Path

SHARED = Path(os.environ.get("AVSS_SHARED", Path(__file__).resolve().parents[2] / "shared"))
SHARED_DATA = SHARED / "data"
#: the real talking-head and split-screen videos (separate, tracking, the page tests)
VIDEOS = SHARED_DATA / "videos"
#: MediaPipe's FaceLandmarker bundle (face detection and landmarks)
LANDMARKER = SHARED_DATA / "models" / "face_landmarker.task"
