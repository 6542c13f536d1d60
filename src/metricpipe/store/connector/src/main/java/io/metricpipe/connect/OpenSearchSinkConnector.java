package io.metricpipe.connect;

import org.apache.kafka.connect.connector.Task;

/** Sink of rollups or alerts into OpenSearch 2.x or Elasticsearch 8/9. */
public class OpenSearchSinkConnector extends StoreSinkConnector {
    @Override
    public Class<? extends Task> taskClass() {
        return OpenSearchSinkTask.class;
    }
}
