"""Data preparation (Spark -> Parquet shards) and shard loading on workers."""

from cerebro.data.metadata import ColumnInfo, DatasetInfo, SplitInfo
from cerebro.data.prepare import load_dataset_info, prepare_data

__all__ = ["ColumnInfo", "DatasetInfo", "SplitInfo", "prepare_data", "load_dataset_info"]
