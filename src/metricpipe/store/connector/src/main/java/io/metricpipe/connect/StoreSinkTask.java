package io.metricpipe.connect;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.connect.errors.ConnectException;
import org.apache.kafka.connect.errors.DataException;
import org.apache.kafka.connect.errors.RetriableException;
import org.apache.kafka.connect.sink.ErrantRecordReporter;
import org.apache.kafka.connect.sink.SinkRecord;
import org.apache.kafka.connect.sink.SinkTask;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What both sinks share: a record the store rejects goes to the dead letter queue
 * through Connect's ErrantRecordReporter and the batch goes on; a store that is
 * down or overloaded makes put() throw RetriableException, so Connect redelivers
 * the whole batch after a backoff and commits no offset for it. Writes are
 * synchronous: when put() returns, every record is stored or reported.
 */
public abstract class StoreSinkTask extends SinkTask {
    private static final Logger log = LoggerFactory.getLogger(StoreSinkTask.class);

    /** A record converted for the store, with its identity. */
    public record Prepared(SinkRecord record, String id, String payload, String target) {}

    protected SinkSettings settings;
    protected HttpClient http;
    // Basic auth sent with every request (store.username), or null.
    private String authorization;
    private ErrantRecordReporter reporter;
    // Records already sent to the DLQ while their batch is being redelivered:
    // a retry must not report them twice.
    private final Set<String> reported = new HashSet<>();
    private long rejected;

    @Override
    public String version() {
        return Version.VERSION;
    }

    @Override
    public void start(Map<String, String> props) {
        settings = new SinkSettings(props);
        authorization = settings.authorization();
        http = HttpClient.newBuilder()
                .connectTimeout(Duration.ofMillis(settings.getInt(SinkSettings.TIMEOUT_MS)))
                .version(HttpClient.Version.HTTP_1_1)
                .build();
        reporter = context.errantRecordReporter();
        if (reporter == null) {
            log.warn("No dead letter queue configured: a rejected record will fail the task");
        }
    }

    @Override
    public void put(Collection<SinkRecord> records) {
        if (records.isEmpty()) {
            return;
        }

        List<Prepared> prepared = new ArrayList<>(records.size());
        for (SinkRecord record : records) {
            try {
                prepared.add(prepare(record));
            } catch (DataException e) {
                reject(record, e);
            }
        }

        if (!prepared.isEmpty()) {
            write(prepared);
        }
        reported.clear();
    }

    /** Convert one record; DataException if it can never be stored. */
    protected abstract Prepared prepare(SinkRecord record);

    /** Store the batch: reject() what the store refuses, retriable() if it is away. */
    protected abstract void write(List<Prepared> batch);

    protected void reject(SinkRecord record, Exception error) {
        String coordinates = record.topic() + "/" + record.kafkaPartition() + "/" + record.kafkaOffset();
        if (!reported.add(coordinates)) {
            return;
        }
        if (reporter == null) {
            throw new ConnectException("record " + coordinates + " was rejected and there is no DLQ", error);
        }
        rejected++;
        log.warn("Record {} (key {}) rejected, sent to the DLQ ({} so far): {}",
                coordinates, record.key(), rejected, error.getMessage());
        reporter.report(record, error);
    }

    protected RetriableException retriable(String why, Throwable cause) {
        long backoff = settings.getLong(SinkSettings.BACKOFF_MS);
        log.warn("Store not available, batch redelivered in {} ms: {}", backoff, why);
        context.timeout(backoff);
        return new RetriableException(why, cause);
    }

    /** POST a body; IOExceptions (store down, timeout) become retriable. */
    protected HttpResponse<String> post(String url, String contentType, String body) {
        HttpRequest.Builder builder = HttpRequest.newBuilder(URI.create(url))
                .timeout(Duration.ofMillis(settings.getInt(SinkSettings.TIMEOUT_MS)))
                .header("Content-Type", contentType)
                .POST(HttpRequest.BodyPublishers.ofString(body));
        // Sent up front, not after a 401 challenge: InfluxDB and OpenSearch
        // answer a missing header with an error, not with a challenge to retry.
        if (authorization != null) {
            builder.header("Authorization", authorization);
        }
        HttpRequest request = builder.build();
        try {
            return http.send(request, HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw retriable("cannot reach " + url + ": " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw retriable("interrupted while writing to " + url, e);
        }
    }

    protected static boolean isTransient(int status) {
        return status == 408 || status == 429 || status >= 500;
    }

    public long rejectedCount() {
        return rejected;
    }

    @Override
    public void stop() {
        // HttpClient has no close() before Java 21; its threads end with the task.
    }
}
