"""``SparkBackend`` with upstream Cerebro 1.x's constructor and ``prepare_data`` arguments.

``cerebro.backend.SparkBackend`` is this class. Its positional arguments follow upstream's
order; the project's own settings (``model_cache_mb``, ``keras_backend``, ``warm_up``, ...)
are keywords. See ``docs/migrating.md`` for what each upstream argument means here.
"""

from __future__ import annotations

from typing import Optional, Sequence

from cerebro._checks import whole_number
from cerebro._logging import get_logger
from cerebro.backend import spark as _spark

log = get_logger("backend")

_POOL_TYPES = ("thread", "process")


def nic_address(nics: Sequence[str]) -> str:
    """The IPv4 address of the first of ``nics`` that has one.

    Raises:
        ValueError: ``nics`` is empty, names an interface this machine does not have, or
            none of them has an IPv4 address.
    """
    import socket

    import psutil

    if isinstance(nics, str) or not nics:
        raise ValueError(f"nics must be a non-empty list of interface names, got {nics!r}")
    addrs = psutil.net_if_addrs()
    unknown = [n for n in nics if n not in addrs]
    if unknown:
        raise ValueError(f"nics {unknown} are not interfaces of this machine; "
                         f"it has {sorted(addrs)}")
    for name in nics:
        for a in addrs[name]:
            if a.family == socket.AF_INET:
                return a.address
    raise ValueError(f"none of the interfaces {list(nics)} has an IPv4 address")


class SparkBackend(_spark.SparkBackend):
    """Runs model hopping on a Spark cluster; accepts upstream Cerebro's arguments.

    Args:
        spark_context: The ``SparkContext``; default: the active session's.
        num_workers: Workers (== data partitions); default: the free task slots.
        start_timeout: Seconds to wait for all workers to connect and load their shards.
        disk_cache_size_gb: Upstream's Petastorm disk cache; ignored (a line is logged):
            workers hold their shard in memory.
        data_readers_pool_type: Upstream's ``"thread"``/``"process"`` Petastorm readers;
            checked, then ignored (a line is logged).
        num_data_readers: Upstream's Petastorm reader count; checked, then ignored.
        nics: Network interfaces the driver's control server listens on (the workers
            connect to the first IPv4 address among them), as upstream's ``nics``.
        verbose: 0 is quiet, 1 logs progress.
        **kwargs: The project's settings: ``model_cache_mb``, ``keras_backend``,
            ``warm_up`` (see ``cerebro.backend.spark.SparkBackend``).
    """

    def __init__(self, spark_context=None, num_workers: Optional[int] = None,
                 start_timeout: float = 600, disk_cache_size_gb: Optional[float] = None,
                 data_readers_pool_type: Optional[str] = None,
                 num_data_readers: Optional[int] = None, nics: Optional[Sequence[str]] = None,
                 verbose: int = 1, **kwargs):
        if isinstance(num_workers, float) and num_workers.is_integer():
            num_workers = int(num_workers)  # 2.0 is 2; the base refuses everything else
        ignored = _check_upstream_readers(disk_cache_size_gb, data_readers_pool_type,
                                          num_data_readers)
        self._nic_host = nic_address(nics) if nics is not None else None
        super().__init__(spark_context, num_workers=num_workers, start_timeout=start_timeout,
                         verbose=verbose, **kwargs)
        if ignored:
            log.info("SparkBackend(%s) ignored: workers keep their data shard in memory, "
                     "there are no Petastorm readers or disk cache", ", ".join(ignored))
        if self._nic_host is not None:
            log.info("the driver listens on %s (nics=%s)", self._nic_host, list(nics or []))

    def _driver_host(self) -> str:
        return self._nic_host or super()._driver_host()

    def prepare_data(self, store, df, validation=0.25, num_partitions=None,
                     feature_columns: Sequence[str] | None = None,
                     label_columns: Sequence[str] | None = None, seed: int = 0, *,
                     parquet_row_group_size_mb: Optional[float] = None,
                     dataset_idx: Optional[int] = None):
        """Validates ``df`` and writes it into ``store`` as one train and val shard per worker.

        Args:
            store: A ``cerebro.storage.Store``.
            df: A Spark DataFrame.
            validation: Fraction in (0, 1), or a bool/int column name marking val rows.
            num_partitions: Must equal ``num_workers`` (the default): one shard per worker.
            feature_columns: Feature columns; default ``["features"]``.
            label_columns: Label columns; default ``["label"]``.
            seed: Seed of the random split.
            parquet_row_group_size_mb: Upstream's row-group size; ignored (a line is logged).
            dataset_idx: The fork's several datasets in one store; only ``None`` (one
                prepared dataset per store).

        Returns:
            The ``DatasetInfo`` (upstream returned a ``(train_rows, val_rows, metadata,
            avg_row_size)`` tuple; see ``docs/migrating.md``).
        """
        if dataset_idx is not None:
            raise ValueError(
                f"dataset_idx={dataset_idx!r} is not supported: a store holds one prepared "
                "dataset; give each dataset its own store (prefix_path)")
        if parquet_row_group_size_mb is not None:
            log.info("prepare_data(parquet_row_group_size_mb=%s) ignored: the row groups are "
                     "sized for the workers' batch reads", parquet_row_group_size_mb)
        if num_partitions is not None:
            num_partitions = whole_number(num_partitions, "num_partitions")
        if feature_columns is None and label_columns is None:
            missing = [c for c in ("features", "label") if c not in df.columns]
            if missing:
                raise ValueError(
                    f"prepare_data without feature_columns/label_columns prepares the columns "
                    f"'features' and 'label', but df has no {missing} (its columns: "
                    f"{df.columns}); upstream wrote every column, here name the ones the models "
                    "read: prepare_data(store, df, validation, feature_columns=[...], "
                    "label_columns=[...])")
        return super().prepare_data(store, df, validation=validation,
                                    num_partitions=num_partitions,
                                    feature_columns=feature_columns, label_columns=label_columns,
                                    seed=seed)


def _check_upstream_readers(disk_cache_size_gb, pool_type, num_readers) -> list[str]:
    """Checks upstream's data-reader settings; returns the ones given (all are ignored)."""
    given = []
    if disk_cache_size_gb is not None:
        if isinstance(disk_cache_size_gb, bool) or not isinstance(disk_cache_size_gb,
                                                                  (int, float)):
            raise TypeError(f"disk_cache_size_gb must be a number, got {disk_cache_size_gb!r}")
        given.append(f"disk_cache_size_gb={disk_cache_size_gb}")
    if pool_type is not None:
        if pool_type not in _POOL_TYPES:
            raise ValueError(f"data_readers_pool_type must be one of {_POOL_TYPES}, "
                             f"got {pool_type!r}")
        given.append(f"data_readers_pool_type={pool_type!r}")
    if num_readers is not None:
        given.append(f"num_data_readers={whole_number(num_readers, 'num_data_readers')}")
    return given


__all__ = ["SparkBackend", "nic_address"]
