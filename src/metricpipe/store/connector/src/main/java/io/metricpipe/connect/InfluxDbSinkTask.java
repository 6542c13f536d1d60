package io.metricpipe.connect;

import java.net.URLEncoder;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.apache.kafka.connect.errors.ConnectException;
import org.apache.kafka.connect.errors.DataException;
import org.apache.kafka.connect.sink.SinkRecord;

/**
 * Writes points with InfluxDB 1.x's /write API at ms precision. A point with the
 * same measurement, tag set and timestamp overwrites the previous one, so a replay
 * stores nothing twice.
 */
public class InfluxDbSinkTask extends StoreSinkTask {
    private String writeUrl;

    @Override
    public void start(Map<String, String> props) {
        super.start(props);
        String rp = settings.getString(SinkSettings.RETENTION_POLICY);
        writeUrl = settings.url() + "/write?precision=ms&db="
                + URLEncoder.encode(settings.getString(SinkSettings.DATABASE), StandardCharsets.UTF_8)
                + (rp.isEmpty() ? "" : "&rp=" + URLEncoder.encode(rp, StandardCharsets.UTF_8));
    }

    @Override
    protected Prepared prepare(SinkRecord record) {
        Map<String, Object> value = Records.asObject(record.value());
        String id = Records.documentId(record.key(), value);
        String line = Records.linePoint(
                settings.kind(), settings.getString(SinkSettings.MEASUREMENT_PREFIX), value);
        return new Prepared(record, id, line, "");
    }

    @Override
    protected void write(List<Prepared> batch) {
        String body = batch.stream().map(Prepared::payload).collect(Collectors.joining("\n"));
        HttpResponse<String> response = send(body);
        if (response.statusCode() == 204) {
            return;
        }
        if (response.statusCode() != 400) {
            fail(response);
        }

        // InfluxDB names the bad line but not its position: write the points one
        // by one to find which to reject. Points written twice are overwritten.
        for (Prepared point : batch) {
            HttpResponse<String> single = send(point.payload());
            if (single.statusCode() == 204) {
                continue;
            }
            if (single.statusCode() != 400) {
                fail(single);
            }
            reject(point.record(), new DataException(
                    "InfluxDB rejected point " + point.id() + ": " + Bulk.shorten(single.body())));
        }
    }

    private HttpResponse<String> send(String body) {
        return post(writeUrl, "text/plain; charset=utf-8", body);
    }

    private void fail(HttpResponse<String> response) {
        int status = response.statusCode();
        // 404: the database does not exist yet (created once InfluxDB is ready).
        if (isTransient(status) || status == 404) {
            throw retriable("/write answered " + status + ": " + Bulk.shorten(response.body()), null);
        }
        throw new ConnectException("/write answered " + status + ": " + Bulk.shorten(response.body()));
    }
}
