package io.metricpipe.connect;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.connect.errors.ConnectException;

/** Building _bulk request bodies and reading their per-item results. */
public final class Bulk {
    public record Item(int status, String error) {}

    private Bulk() {}

    public static String body(List<StoreSinkTask.Prepared> batch) {
        StringBuilder body = new StringBuilder();
        for (StoreSinkTask.Prepared doc : batch) {
            Map<String, Object> meta = new LinkedHashMap<>();
            meta.put("_index", doc.target());
            meta.put("_id", doc.id());
            body.append(Json.write(Map.of("index", meta))).append('\n');
            body.append(doc.payload()).append('\n');
        }
        return body.toString();
    }

    public static List<Item> parse(String response, int expected) {
        JsonNode items = Json.read(response).path("items");
        if (!items.isArray() || items.size() != expected) {
            throw new ConnectException("_bulk answered " + items.size() + " items for "
                    + expected + " documents: " + shorten(response));
        }
        List<Item> result = new ArrayList<>(expected);
        for (JsonNode item : items) {
            JsonNode op = item.elements().next();
            JsonNode error = op.path("error");
            String text = error.isMissingNode() ? ""
                    : error.path("type").asText() + ": " + error.path("reason").asText()
                            + (error.has("caused_by") ? " (" + error.path("caused_by").path("reason").asText() + ")" : "");
            result.add(new Item(op.path("status").asInt(0), text));
        }
        return result;
    }

    static String shorten(String text) {
        return text.length() > 500 ? text.substring(0, 500) + "..." : text;
    }
}
