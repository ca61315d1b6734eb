"""Publishing the results: the HEPData submission of ``na64 fit`` (:mod:`workflows.publish.hepdata`)."""

from workflows.publish.hepdata import check_directory, hepdata_for_results, validate_submission, write_submission

__all__ = ["check_directory", "hepdata_for_results", "validate_submission", "write_submission"]
