"""Datasets: TFRecord schema (:mod:`.records`), CSV/folder tables (:mod:`.table`) and the tf.data
input pipeline (:mod:`.pipeline`). Nothing here imports TensorFlow at import time."""

from caae_tf.data.pipeline import dataset_info, make_dataset
from caae_tf.data.records import parse_example, read_manifest, write_records
from caae_tf.data.table import load_table

__all__ = ["make_dataset", "dataset_info", "load_table", "write_records", "parse_example", "read_manifest"]
