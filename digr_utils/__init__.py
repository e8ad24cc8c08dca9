"""digr_utils: the helper package of the DeepInterestGR course.

Folders mirror the stages a reader meets in the notebooks: ``data`` (the bundled shop and real
Amazon loaders), ``embed`` (text encoders), ``metrics`` (one evaluator for every model),
``baselines`` (popularity, an ID sequence model).
"""
__version__ = "0.1.0"
