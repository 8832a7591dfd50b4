"""Storage of datasets, checkpoints and logs shared by the driver and Spark tasks.

Use :meth:`Store.create` to pick the implementation from a path or URI::

    store = Store.create("hdfs://namenode:8020/user/me/cerebro")
    store.write_json(store.metadata_key(), {"rows": 10})

``LocalStore`` and ``HDFSStore`` here are the classes of :mod:`cerebro.storage.compat`: the
filesystem stores taking upstream Cerebro 1.x's constructor arguments as well
(``docs/migrating.md``).
"""

from cerebro.storage.base import Store
from cerebro.storage.compat import HDFSStore, LocalStore
from cerebro.storage.filesystem import FilesystemStore, S3Store

__all__ = ["FilesystemStore", "HDFSStore", "LocalStore", "S3Store", "Store"]
