"""nbcell: port standard-cell libraries to a new process."""

__version__ = "0.1.0"
