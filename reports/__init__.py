"""Reports: the metrics managers watch, and the named reports RQ workers produce as workbooks."""
