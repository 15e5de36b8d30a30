"""flink_job."""
