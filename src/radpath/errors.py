"""Error hierarchy: one base class, one subclass per area.

A message says what was expected, what was found, and for which case or file, so that a user can
act on it without reading a traceback. The CLI prints these messages and exits with status 2.
"""

from __future__ import annotations


class RadpathError(Exception):
    """Base class of every error radpath raises on purpose."""


class ConfigError(RadpathError):
    """A manifest or parameters file that does not validate."""


class ManifestError(ConfigError):
    """A cohort manifest that does not validate or names sources that do not exist."""


class IngestError(RadpathError):
    """A source table that cannot be loaded (file, row and column are named)."""


class WarehouseError(RadpathError):
    """Problems opening, migrating or writing the DuckDB warehouse."""


class WarehouseLockedError(WarehouseError):
    """Another process holds the warehouse's write lock."""


class SchemaVersionError(WarehouseError):
    """The warehouse was written by a newer radpath than this one."""


class CaseError(RadpathError):
    """A failure of one case (patient, slide) in a per-case stage; the run records it and carries on."""

    def __init__(self, case_id: str, message: str, *, file: str | None = None, stage: str | None = None):
        self.case_id = case_id
        self.file = file
        self.stage = stage
        where = f"case {case_id}" + (f", file {file}" if file else "")
        super().__init__(f"{where}: {message}")


class MRIError(CaseError):
    """A DCE-MRI input or processing failure for one case."""


class PathologyError(CaseError):
    """A whole-slide image or patch-model failure for one slide."""


class ModelFileError(RadpathError):
    """A model or weights file that is of the wrong kind, task or format."""


class GenomicsError(RadpathError):
    """Expression or mutation input that cannot be used."""


class StatsError(RadpathError):
    """A statistical analysis that cannot be carried out on the data given."""


class ReportError(RadpathError):
    """Manuscript tables or figures that cannot be produced."""


class QueryError(RadpathError):
    """A query that is refused (it would write) or fails; the message names the statement."""


class PathError(RadpathError):
    """A path given on the command line that is not what the command expects (file, folder, writable place)."""


class UnknownCohortError(RadpathError):
    """A cohort name that the warehouse does not hold; the message lists the cohorts it does hold."""
