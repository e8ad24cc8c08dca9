"""Datasets: the bundled shop (``world``), real Amazon loaders (``amazon``), one in-memory form."""
from digr_utils.data.dataset import Dataset, EmptyDatasetError, Split, from_sequences, k_core, leave_one_out

__all__ = ["Dataset", "EmptyDatasetError", "Split", "from_sequences", "k_core", "leave_one_out"]
