"""nbcell: port standard-cell libraries to a new process."""

__version__ = "0.2.0"
