# The one-machine YARN + HDFS cluster for integration tests (docs/minicluster.md).
# `make minicluster-up` prints HADOOP_CONF_DIR=<dir> as its last line.
.PHONY: minicluster-up minicluster-down minicluster-status minicluster-smoke

minicluster-up:
	@scripts/minicluster up

minicluster-down:
	@scripts/minicluster down

minicluster-status:
	@scripts/minicluster status

minicluster-smoke:
	@scripts/minicluster smoke
