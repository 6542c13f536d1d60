package io.metricpipe.connect;

import java.net.http.HttpResponse;
import java.util.List;
import java.util.Map;
import org.apache.kafka.connect.errors.ConnectException;
import org.apache.kafka.connect.errors.DataException;
import org.apache.kafka.connect.sink.SinkRecord;

/**
 * Writes records to daily indices with the _bulk API, each with an explicit _id
 * from the record key, so a replay overwrites the same document. The same API is
 * served by OpenSearch 2.x and Elasticsearch 8/9.
 */
public class OpenSearchSinkTask extends StoreSinkTask {
    @Override
    protected Prepared prepare(SinkRecord record) {
        Map<String, Object> value = Records.asObject(record.value());
        String id = Records.documentId(record.key(), value);
        String index = Records.indexName(
                settings.getString(SinkSettings.INDEX_PREFIX), Records.requireMillis(value, "window_start"));
        return new Prepared(record, id, Json.write(Records.document(value)), index);
    }

    @Override
    protected void write(List<Prepared> batch) {
        HttpResponse<String> response =
                post(settings.url() + "/_bulk", "application/x-ndjson", Bulk.body(batch));
        int status = response.statusCode();
        if (isTransient(status)) {
            throw retriable("_bulk answered " + status + ": " + Bulk.shorten(response.body()), null);
        }
        if (status != 200) {
            throw new ConnectException("_bulk answered " + status + ": " + Bulk.shorten(response.body()));
        }

        List<Bulk.Item> items = Bulk.parse(response.body(), batch.size());
        boolean retry = false;
        for (int i = 0; i < batch.size(); i++) {
            Bulk.Item item = items.get(i);
            if (item.status() >= 200 && item.status() < 300) {
                continue;
            }
            if (isTransient(item.status())) {
                retry = true;
            } else {
                reject(batch.get(i).record(), new DataException(
                        "OpenSearch rejected document " + batch.get(i).id() + " in "
                                + batch.get(i).target() + " (" + item.status() + "): " + item.error()));
            }
        }
        if (retry) {
            // Re-sending the whole batch is safe: every document has its own _id.
            throw retriable("some documents were refused for now (429/5xx)", null);
        }
    }
}
