"""The site's enrolled faces as a gallery for 1:1 and 1:N decisions (lanes and phone selfies)."""
from __future__ import annotations

import threading

from biometrics.matching import Gallery, Thresholds
from biometrics.store import TemplateStore


class FaceService:
    """The enrolled templates as a gallery, rebuilt when the store changes."""

    def __init__(self, store: TemplateStore, thresholds: Thresholds = Thresholds()) -> None:
        self.store, self.thresholds = store, thresholds
        self._gallery: Gallery | None = None
        self._version: tuple | None = None
        self._lock = threading.Lock()

    def gallery(self) -> Gallery:
        with self._lock:
            version = self.store.version()
            if self._gallery is None or version != self._version:
                self._gallery, self._version = self.store.gallery(), version
            return self._gallery
