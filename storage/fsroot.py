"""A folder on a local path or any fsspec URL, shared by the lake and the media byte store."""

from __future__ import annotations

import fsspec


class FsRoot:
    """A root folder: its filesystem, its path on that filesystem, and full URLs of paths under it."""

    def __init__(self, root: str) -> None:
        self.root = root.rstrip("/")
        self.fs, self._root_path = fsspec.core.url_to_fs(self.root)
        self.fs.makedirs(self._root_path, exist_ok=True)

    def _url(self, path: str) -> str:
        protocol = self.fs.protocol if isinstance(self.fs.protocol, str) else self.fs.protocol[0]
        return path if protocol in ("file", "local") else f"{protocol}://{path}"
