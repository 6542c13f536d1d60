package io.metricpipe.connect;

import org.apache.kafka.connect.connector.Task;

/** Sink of rollups or alerts into InfluxDB 1.x. */
public class InfluxDbSinkConnector extends StoreSinkConnector {
    @Override
    public Class<? extends Task> taskClass() {
        return InfluxDbSinkTask.class;
    }
}
